//! `orchestrator`: run many child processes well.
//!
//! Layers, bottom up: [`sys`] (the only unsafe code) -> process -> pipeline -> supervisor
//! -> run / pool -> report -> cli.

#[cfg(not(unix))]
compile_error!("orchestrator supports Unix (Linux is the target) only");

pub mod cli;
pub mod launch;
pub mod sys;
