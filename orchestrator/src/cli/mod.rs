//! The command line: a thin shell over the library. Each subcommand has its own file with
//! its clap `Args` struct and an `execute` function returning the process exit code.

use std::time::Duration;

use clap::{Parser, Subcommand};

pub mod demo;
pub mod factor;
pub mod hosts;
pub mod pipeline;
pub mod remote;
pub mod run;

/// Exit codes shared by every subcommand (documented in README.md).
pub mod exit {
    /// Everything succeeded.
    pub const OK: i32 = 0;
    /// At least one job, chain or number failed (and none timed out).
    pub const FAILED: i32 = 1;
    /// Bad command line (clap's own code for usage errors).
    pub const USAGE: i32 = 2;
    /// At least one job, chain or number timed out (as coreutils `timeout`).
    pub const TIMED_OUT: i32 = 124;
    /// The orchestrator itself failed (I/O error, could not start its workers...).
    pub const INTERNAL: i32 = 125;
    /// A job's or stage's program exists but could not be executed (as shells say it).
    pub const NOT_EXECUTABLE: i32 = 126;
    /// A job's or stage's program was not found (as shells say it).
    pub const NOT_FOUND: i32 = 127;
    /// Interrupted by SIGINT (128 + 2).
    pub const INTERRUPTED_INT: i32 = 130;
    /// Interrupted by SIGTERM (128 + 15).
    pub const INTERRUPTED_TERM: i32 = 143;
    /// Standard output was closed by its reader (`... | head -1`): what a shell shows for
    /// a filter killed by SIGPIPE (128 + 13). Nothing is printed.
    pub const BROKEN_PIPE: i32 = 141;
}

/// Run many child processes well.
#[derive(Debug, Parser)]
#[command(name = "orchestrator", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a command many times in parallel (like xargs -P / GNU parallel).
    Run(run::Args),
    /// Run a chain of commands connected by kernel pipes, once per input.
    Pipeline(pipeline::Args),
    /// Factor numbers with a pool of persistent `worker` processes.
    Factor(factor::Args),
    /// Show the project's lessons, run for real, with measured numbers.
    Demo(demo::Args),
    /// Check ssh hosts (or the Slurm launcher): reachable, cores, tools, worker version.
    Hosts(hosts::Args),
}

/// Parses a duration: `500ms`, `2s`, `1m`, `1h30m`, or a plain number of seconds (`2`, `0.5`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("empty duration (examples: 500ms, 2s, 1m)".into());
    }
    if let Ok(secs) = t.parse::<f64>() {
        return Duration::try_from_secs_f64(secs)
            .map_err(|_| format!("`{s}` is not a valid duration (examples: 500ms, 2s, 1m)"));
    }
    humantime::parse_duration(t)
        .map_err(|e| format!("`{s}` is not a valid duration ({e}; examples: 500ms, 2s, 1m)"))
}

/// An I/O error as people read it: `No such file or directory`, without `(os error 2)`.
pub fn io_msg(e: &std::io::Error) -> String {
    crate::error::io_reason(e)
}

/// Number of CPUs, the default concurrency.
pub fn cpu_count() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Waits, on its own thread, for shutdown signals until `done` reaches end of file (the run is
/// over: its write end was dropped). Calls `on_signal(sig, first)` for each signal, `first`
/// telling the first one (stop gracefully) from the later ones (stop at once). Returns the
/// first signal, or None when the run ended by itself.
pub(crate) fn watch_signals(
    signals: &crate::signal::ShutdownSignals,
    done: &crate::pipes::PipeReader,
    mut on_signal: impl FnMut(crate::Signal, bool),
) -> Option<crate::Signal> {
    use crate::sys;
    use std::os::fd::AsFd;
    let mut first = None;
    loop {
        let mut fds: Vec<sys::PollFd<'_>> = signals.fds().map(sys::PollFd::readable).collect();
        fds.push(sys::PollFd::readable(done.as_fd()));
        if sys::poll(&mut fds, None).is_err() {
            return first;
        }
        let run_over = fds.last().is_some_and(|f| f.is_ready());
        for sig in signals.take() {
            on_signal(sig, first.is_none());
            first.get_or_insert(sig);
        }
        if run_over {
            return first;
        }
    }
}

/// Runs the parsed command line and returns the exit code.
pub fn execute(cli: Cli) -> i32 {
    match cli.command {
        Command::Run(a) => run::execute(a),
        Command::Pipeline(a) => pipeline::execute(a),
        Command::Factor(a) => factor::execute(a),
        Command::Demo(a) => demo::execute(a),
        Command::Hosts(a) => hosts::execute(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("0.25"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("abc").unwrap_err().contains("`abc`"));
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("").is_err());
    }
}
