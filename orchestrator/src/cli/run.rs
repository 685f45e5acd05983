//! `orchestrator run`.

/// Options of `orchestrator run`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `orchestrator run` and returns the exit code.
pub fn execute(_args: Args) -> i32 {
    eprintln!("orchestrator run: not implemented yet");
    super::exit::INTERNAL
}
