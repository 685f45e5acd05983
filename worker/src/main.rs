//! `worker`: factorization from a shell (`worker factor N...`) or as a frame server (`worker serve`).

mod cli;

use std::fs::File;
use std::io::{self, BufWriter};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;

use clap::Parser as _;
use shared::Mode;
use worker::filter::{Filter, FilterError};
use worker::serve::{ServeError, error_chain, serve};

use cli::{Cli, Command, exit};

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are "errors" that print to stdout and succeed.
            let _ = e.print();
            std::process::exit(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    let code = match cli.command {
        Command::Factor(args) => numbers(Mode::Primes, &args.numbers),
        Command::Divisors(args) => numbers(Mode::Divisors, &args.numbers),
        Command::Serve => serve_stdio(),
    };
    std::process::exit(code);
}

/// Standard output as a plain `File` (a duplicate of fd 1), bypassing `std`'s line buffer:
/// the callers do their own large-block buffering.
fn stdout_file() -> io::Result<File> {
    Ok(File::from(io::stdout().as_fd().try_clone_to_owned()?))
}

/// `worker factor` / `worker divisors`.
fn numbers(mode: Mode, args: &[std::ffi::OsString]) -> i32 {
    let out = match stdout_file() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("worker: cannot use standard output: {e}");
            return exit::FAILED;
        }
    };
    let mut filter = Filter::new(mode, out, io::stderr(), worker::factor::factor_into)
        .on_write_error(|e| std::process::exit(write_failed(e)));
    let ran = if args.is_empty() {
        filter.run_stream(io::stdin().lock())
    } else {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        filter.run_args(&args)
    };
    match ran.and_then(|()| filter.finish()) {
        Ok(summary) if summary.bad == 0 => exit::OK,
        Ok(_) => exit::FAILED,
        Err(FilterError::Write(e)) => write_failed(&e),
        Err(e) => {
            eprintln!("worker: {}", error_chain(&e));
            exit::FAILED
        }
    }
}

/// Reports a failed write to standard output and returns the exit code: silence and
/// [`exit::BROKEN_PIPE`] when the reader went away (as `factor | head` ends for coreutils),
/// a message and [`exit::FAILED`] otherwise (e.g. a full disk).
fn write_failed(e: &io::Error) -> i32 {
    if e.kind() == io::ErrorKind::BrokenPipe {
        exit::BROKEN_PIPE
    } else {
        eprintln!("worker: cannot write to standard output: {e}");
        exit::FAILED
    }
}

/// `worker serve` on stdin/stdout.
fn serve_stdio() -> i32 {
    let out = match stdout_file() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("worker serve: cannot use standard output: {e}");
            return exit::FAILED;
        }
    };
    match serve(io::stdin().lock(), BufWriter::with_capacity(1 << 16, out)) {
        Ok(()) => exit::OK,
        Err(e) => {
            let hint = match &e {
                ServeError::Malformed(_) | ServeError::Unexpected(_) => {
                    " (an error frame was sent; the stream is out of sync, so the worker stops)"
                }
                _ => "",
            };
            eprintln!("worker serve: {}{hint}", error_chain(&e));
            exit::FAILED
        }
    }
}
