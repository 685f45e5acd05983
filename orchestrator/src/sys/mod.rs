//! Platform layer: the only module that calls libc. Everything above it is safe Rust.
//!
//! Linux is the target; the code is Unix-only (process groups, signals, `poll`), and a few
//! calls (`pidfd_open`, `PR_SET_PDEATHSIG`) are Linux-only and say so.

#[cfg(unix)]
#[path = "unix.rs"]
mod imp;

pub use imp::*;
