//! `orchestrator` command-line entry point.

fn main() {
    eprintln!("orchestrator: not implemented yet");
    std::process::exit(2);
}
