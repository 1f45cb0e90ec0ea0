//! Configuration: the broker's YAML file ([`broker`]) and the per-topic config table with its
//! parsing, effective values and describe rows ([`topic`]).

pub mod broker;
pub mod topic;

pub use broker::*;
