//! Platform layer: the only module that calls libc. Everything above it is safe Rust.
//!
//! Linux is the target; the code is Unix-only (process groups, signals, `poll`), and a few
//! calls (`pidfd_open`, `PR_SET_PDEATHSIG`) are Linux-only and say so.

#[cfg(unix)]
#[path = "unix.rs"]
mod imp;

pub use imp::*;

// `pidfd_open`, `close_range` and `PR_SET_PDEATHSIG` are Linux calls used unconditionally:
// say so at build time rather than fail with unresolved symbols.
#[cfg(not(target_os = "linux"))]
compile_error!("orchestrator targets Linux (it uses pidfd_open, close_range, PR_SET_PDEATHSIG)");
