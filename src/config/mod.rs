//! Configuration: the broker's YAML file ([`broker`]) and the per-topic config table with its
//! parsing, effective values and describe rows ([`topic`]), and the dynamic configs of groups
//! ([`group`]).

pub mod broker;
pub mod group;
pub mod listeners;
pub mod topic;

pub use broker::*;
pub use listeners::{listener_specs, ListenerSpec, SecurityProtocol};
