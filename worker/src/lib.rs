//! The `worker` library: factorization algorithms, the shell filters and the frame server.
//!
//! * [`factor`]: the factorization engine (pure, no I/O).
//! * [`filter`]: `worker factor` / `worker divisors`, numbers in, coreutils-style lines out,
//!   built on [`tokens`] (streaming stdin), [`parse`] (what is a number), [`format`]
//!   (decimal digits) and [`output`] (one large output buffer).
//! * [`serve`]: `worker serve`, the frame server of the [`shared`] protocol (text requests
//!   are answered by the `text` module, progress reports timed by the `clock` module).
#![forbid(unsafe_code)]

mod clock;
pub mod factor;
pub mod filter;
pub mod format;
pub mod output;
pub mod parse;
pub mod serve;
mod text;
pub mod tokens;
