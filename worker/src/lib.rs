//! The `worker` library: factorization algorithms, the shell filters and the frame server.
//!
//! * [`factor`]: the factorization engine (pure, no I/O).
//! * [`filter`]: `worker factor` / `worker divisors`, numbers in, coreutils-style lines out,
//!   built on [`tokens`] (streaming stdin), [`parse`] (what is a number), [`format`]
//!   (decimal digits) and [`output`] (one large output buffer).
//! * [`serve`]: `worker serve`, the frame server of the [`shared`] protocol.
#![forbid(unsafe_code)]

pub mod factor;
pub mod filter;
pub mod format;
pub mod output;
pub mod parse;
pub mod serve;
pub mod tokens;
