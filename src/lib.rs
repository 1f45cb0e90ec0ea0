//! Sluice: a single-binary broker that speaks the Apache Kafka wire protocol on a sled-backed log.
//!
//! # Layout
//! Data flows one way down and back:
//! - `main.rs`: command line, logging, configuration, start-up.
//! - [`config`]: the configuration (YAML keys, defaults, validation).
//! - [`server`]: accept loop, connection cap, graceful shutdown.
//! - [`connection`]: framing over a socket, pipelining, responses in request order.
//! - [`protocol`]: the supported-version table, request parsing, response encoding.
//! - [`api`]: one handler module per API family; plain functions from request to response.
//! - [`broker`]: shared state: node identity, the topic registry.
//! - [`group`]: the group coordinator (classic protocol) and committed offsets.
//! - [`log`]: a partition's log: offsets, high watermark, reads, long-poll wake-ups.
//! - [`producer`]: idempotent producer sequence checks (duplicates, gaps, fenced epochs).
//! - [`batch`]: record batch validation and offset assignment, without decoding records.
//! - [`cleaner`]: the background pass for retention, compaction and producer-state expiry.
//! - [`compaction`]: which batches a compaction pass drops or rewrites (latest record per key).
//! - [`store`]: the only module that knows sled; durability and group commit.
//! - [`topic_config`]: the topic config table (names, defaults, validation, describe rows).

pub mod api;
pub mod batch;
pub mod broker;
pub mod cleaner;
pub mod compaction;
pub mod config;
pub mod connection;
pub mod group;
pub mod log;
pub mod producer;
pub mod protocol;
pub mod server;
pub mod store;
pub mod topic_config;

/// Wall-clock milliseconds since the Unix epoch: Kafka's timestamps.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
