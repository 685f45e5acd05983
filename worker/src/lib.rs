//! The `worker` library: factorization algorithms and the frame server.
#![forbid(unsafe_code)]

pub mod factor;
