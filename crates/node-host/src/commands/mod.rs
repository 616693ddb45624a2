//! One module per node command.

pub mod approvals;
pub mod run;
pub mod which;
