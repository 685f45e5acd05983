//! `worker`: factorization from a shell (`worker factor N...`) or as a frame server (`worker serve`).

fn main() {
    eprintln!("worker: not implemented yet");
    std::process::exit(2);
}
