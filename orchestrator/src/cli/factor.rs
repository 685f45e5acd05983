//! `orchestrator factor`.

/// Options of `orchestrator factor`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `orchestrator factor` and returns the exit code.
pub fn execute(_args: Args) -> i32 {
    eprintln!("orchestrator factor: not implemented yet");
    super::exit::INTERNAL
}
