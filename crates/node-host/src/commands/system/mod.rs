//! The `system` capability family: finding binaries ([`which`]), running commands under the
//! exec policy ([`run`]: `system.run` and `system.run.prepare`) and the node's exec approvals
//! document ([`approvals`]: `system.execApprovals.get` / `.set`).

pub mod approvals;
pub mod run;
pub mod which;
