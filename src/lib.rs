//! Sluice: a single-binary broker that speaks the Apache Kafka wire protocol on a sled-backed log.
//!
//! # Layout
//! Data flows one way, down and back: net → protocol → api → coordinators and log → store.
//! - `main.rs`: command line, logging, configuration, start-up.
//! - [`net`]: the accept loop with its connection cap and graceful shutdown ([`net::server`]); framing
//!   over a socket, pipelining, responses in request order ([`net::connection`]).
//! - [`protocol`]: the supported-version table, request parsing, response encoding, the fetch splice.
//! - [`api`]: one handler module per API or small family; plain functions from request to response.
//! - [`broker`]: shared state: node identity, the topic registry.
//! - [`coordinator`]: the group coordinator (classic protocol) and committed offsets.
//! - [`log`]: a partition's log (offsets, high watermark, reads, long-poll wake-ups), record batch
//!   headers, idempotent producer state, compaction and the background cleaner.
//! - [`store`]: the only module that knows sled; durability and group commit.
//! - [`config`]: the broker's YAML configuration and the topic config table.

pub mod api;
pub mod broker;
pub mod config;
pub mod coordinator;
pub mod log;
pub mod net;
pub mod protocol;
pub mod store;

/// Wall-clock milliseconds since the Unix epoch: Kafka's timestamps.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
