//! The command line (clap derive). Parsed once in `main`; no global state.

use std::ffi::OsString;

use clap::{Args, Parser, Subcommand};

/// Exit codes of the `worker` binary.
pub mod exit {
    /// Everything succeeded (for `serve`: the input ended cleanly).
    pub const OK: i32 = 0;
    /// Some input was not a number, output could not be written, or (`serve`) the
    /// conversation broke: malformed frame, refused handshake, I/O error.
    pub const FAILED: i32 = 1;
    /// Bad command line (clap's own code).
    pub const USAGE: i32 = 2;
    /// The reader of standard output went away (`worker factor < big | head -1`): the status
    /// a shell shows for coreutils `factor` killed by SIGPIPE (128 + 13). Nothing is printed.
    pub const BROKEN_PIPE: i32 = 141;
}

const ABOUT: &str =
    "Integer factorization, from a shell or as a frame server for the orchestrator.";

const LONG_ABOUT: &str = "\
Integer factorization, from a shell or as a frame server for the orchestrator.

Numbers are decimal, 0 to 2^128 - 1 (340282366920938463463374607431768211455), with an
optional leading '+' and any number of leading zeros, as GNU coreutils `factor` accepts them.";

const AFTER_HELP: &str = "\
Examples:
  $ worker factor 12 2139079
  12: 2 2 3
  2139079: 101 21179
  $ seq 2 4 | worker divisors
  2: 1 2
  3: 1 3
  4: 1 2 4
  $ worker serve        (protocol frames on stdin/stdout: started by the orchestrator)

Exit status: 0 ok, 1 bad input or failure, 2 bad command line,
141 standard output closed early (as `factor` killed by SIGPIPE).";

/// Parsed command line.
#[derive(Debug, Parser)]
#[command(name = "worker", version, about = ABOUT, long_about = LONG_ABOUT, after_help = AFTER_HELP)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the prime factors of each number, exactly as GNU coreutils `factor` does.
    #[command(
        long_about = "\
Print the prime factors of each NUMBER, ascending, with multiplicity, in the format of
GNU coreutils `factor` (byte for byte): `N: p1 p2 ...`. 0 and 1 have no prime factors
(`0:`, `1:`). Without NUMBER arguments, numbers are read from standard input, separated by
spaces, tabs or newlines; each answer is written before the worker waits for more input.

Input that is not a number (`abc`, `-5`, `1.5`, an empty string, 2^128 or more) is named
in a message on standard error; the other numbers are still printed and the exit status
is 1.",
        after_help = "\
Examples:
  $ worker factor 12 +007 2139079
  12: 2 2 3
  7: 7
  2139079: 101 21179
  $ printf '1214759\\n340282366920938463463374607431768211455\\n' | worker factor
  1214759: 7 7 13 1907
  340282366920938463463374607431768211455: 3 5 17 257 641 65537 274177 6700417 67280421310721"
    )]
    Factor(Numbers),
    /// Print every divisor of each number, ascending.
    #[command(
        long_about = "\
Print every divisor of each NUMBER, ascending, in the same line format as `factor`:
`N: 1 d2 ... N`. They are computed from the prime factorization and streamed, so a
number with hundreds of millions of divisors needs no more memory than a small one.
Every integer divides 0, so `0:` lists none. Input is read and checked as for `factor`.",
        after_help = "\
Examples:
  $ worker divisors 12 1
  12: 1 2 3 4 6 12
  1: 1
  $ echo 1852285 | worker divisors
  1852285: 1 5 271 1355 1367 6835 370457 1852285"
    )]
    Divisors(Numbers),
    /// Serve factorization requests: protocol frames on stdin, responses on stdout.
    #[command(
        long_about = "\
Serve factorization requests from the orchestrator: length-prefixed protocol frames on
standard input, response frames on standard output (nothing else is ever written there),
log lines on standard error. The conversation starts with a hello in each direction.
Exits 0 when standard input ends between frames; exits 1 after a malformed frame (having
answered it with an error frame), a refused handshake (e.g. a protocol version mismatch,
named on standard error) or an I/O error.",
        after_help = "\
Example (the orchestrator starts workers like this itself):
  $ orchestrator factor --procs 2 2139079 1214759"
    )]
    Serve,
}

/// The numbers of `factor` and `divisors`.
#[derive(Debug, Args)]
pub struct Numbers {
    /// Decimal numbers, 0 to 2^128 - 1; read from standard input when none are given.
    // `allow_negative_numbers`: `-5` is input to reject with a message, not an unknown option.
    #[arg(value_name = "NUMBER", allow_negative_numbers = true)]
    pub numbers: Vec<OsString>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn negative_numbers_are_numbers() {
        let cli = Cli::try_parse_from(["worker", "factor", "12", "-5", "-1.5", ""])
            .expect("negative numbers parse as values");
        let Command::Factor(Numbers { numbers }) = cli.command else {
            panic!("factor expected");
        };
        assert_eq!(numbers, ["12", "-5", "-1.5", ""]);
    }
}
