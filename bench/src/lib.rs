//! Shared pieces of the benchmark programs (`openclaw-bench`, `openclaw-gateway-load`).

pub mod ops;
pub mod peers;
pub mod procfs;
