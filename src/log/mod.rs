//! The partition log and everything that works on its batches: offset assignment and reads
//! ([`partition`]), batch headers ([`batch`]), the records inside a batch ([`records`]), idempotent producer state ([`producer_state`]),
//! compaction ([`compaction`]) and the background pass that applies retention and compaction
//! ([`cleaner`]). Below it is only the store.

pub mod batch;
pub mod cleaner;
pub mod compaction;
pub mod partition;
pub mod producer_state;
pub mod records;

pub use partition::*;
