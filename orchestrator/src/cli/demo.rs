//! `orchestrator demo`.

/// Options of `orchestrator demo`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `orchestrator demo` and returns the exit code.
pub fn execute(_args: Args) -> i32 {
    eprintln!("orchestrator demo: not implemented yet");
    super::exit::INTERNAL
}
