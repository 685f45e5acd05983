//! Integration tests of the process core: one binary, one module per topic.

mod helpers;

mod child;
mod communicate;
mod pipeline;
mod pool;
mod supervisor;
