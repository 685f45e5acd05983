//! `orchestrator` command-line entry point: parse once, run, exit with the documented code.

use clap::Parser;

fn main() {
    let cli = orchestrator::cli::Cli::parse();
    std::process::exit(orchestrator::cli::execute(cli));
}
