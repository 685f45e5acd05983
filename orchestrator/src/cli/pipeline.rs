//! `orchestrator pipeline`.

/// Options of `orchestrator pipeline`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `orchestrator pipeline` and returns the exit code.
pub fn execute(_args: Args) -> i32 {
    eprintln!("orchestrator pipeline: not implemented yet");
    super::exit::INTERNAL
}
