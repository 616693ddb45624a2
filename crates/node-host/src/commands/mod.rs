//! One module per node command.

pub mod which;
