//! End-to-end tests of the built `worker` binary: one test binary, one module per subject.

mod cli;
mod coreutils;
mod serve;
mod util;
