//! The wire protocol between `orchestrator` and `worker`.
#![forbid(unsafe_code)]
