//! Anonymous pipes: the only file that names `os_pipe`.
//!
//! Every pipe is created with `O_CLOEXEC` set atomically (`pipe2`), so a child started by
//! another thread at the same moment never inherits a stray end — the classic cause of a
//! pipeline stage that never sees end-of-file. A child gets its ends through `dup2` onto
//! fds 0/1/2, which clears the flag for those fds only.
//!
//! # Two deadlocks to avoid (as os_pipe's documentation warns)
//! * A reader waits forever if any copy of the write end stays open — including the parent's
//!   own copy. [`Command::spawn`](crate::Command::spawn) takes the pipe ends given to the
//!   command and closes the parent's copies the moment the child is started.
//! * A writer blocks when the pipe is full and nobody reads. Never write a child's stdin to
//!   the end and only then read its stdout: use [`Child::communicate`](crate::Child::communicate),
//!   which does both at once.
//!
//! `std::io::pipe` (Rust 1.87) is equivalent; switching means editing this file only.

use std::io;
use std::os::fd::AsFd;

pub use os_pipe::{PipeReader, PipeWriter};

use crate::sys;

/// A new pipe, both ends close-on-exec.
///
/// # Errors
/// EMFILE/ENFILE when out of file descriptors.
pub fn pipe() -> io::Result<(PipeReader, PipeWriter)> {
    os_pipe::pipe()
}

/// Pipe buffer size used for bulk transfers (the kernel default is 64 KiB).
pub const BULK_PIPE_SIZE: usize = 1 << 20;

/// Best effort: enlarge a pipe so bulk data needs fewer wake-ups. Failure (e.g. over
/// `/proc/sys/fs/pipe-max-size` for an unprivileged user) is harmless and ignored.
pub fn enlarge<F: AsFd>(end: &F) {
    let _ = sys::set_pipe_size(end.as_fd(), BULK_PIPE_SIZE);
}
