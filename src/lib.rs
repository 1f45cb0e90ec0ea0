//! Sluice: a single-binary broker that speaks the Apache Kafka wire protocol on a sled-backed log.
//!
//! # Layout
//! Data flows one way, down and back: net → protocol → api → coordinator and log → store. Nothing
//! below `api` knows sockets or wire error codes; nothing above `store` knows sled.
//! - `main.rs`: command line, logging, configuration, start-up.
//! - [`net`]: the accept loop with its connection caps and graceful shutdown ([`net::server`]); framing
//!   over a socket, pipelining, responses in request order, idle close ([`net::connection`]); the
//!   byte budgets all connections share ([`net::limits`]); TLS listeners' rustls setup, handshake
//!   and certificate reload ([`net::tls`]).
//! - [`protocol`]: request parsing against a version table, response encoding, the zero-copy Fetch
//!   splice. Knows the wire, not the handlers.
//! - [`api`]: one module per Kafka API, named after it (`api::join_group`, `api::offset_fetch`, ...),
//!   each a plain `handle(&Ctx, request)`; the list in `api/mod.rs` that generates both the dispatcher
//!   and the version table ApiVersions advertises; [`api::error`], the one mapping from typed errors
//!   to Kafka error codes.
//! - [`broker`]: shared state: node identity, the topic registry, client quotas, durability and
//!   backpressure as handlers see them.
//! - [`coordinator`]: coordinators of multi-request protocols: [`coordinator::group`], the classic
//!   group protocol, KIP-848 consumer groups and committed offsets (transactional ones too);
//!   [`coordinator::txn`], the transaction coordinator; [`coordinator::fetch_session`], fetch
//!   sessions; [`coordinator::share_group`], share-group membership and assignment (KIP-932);
//!   [`coordinator::share`], share groups' partition state and share sessions.
//! - [`log`]: a partition's log (offsets, high watermark, last stable offset, reads, long-poll
//!   wake-ups, transaction markers and the aborted index), record batch headers, idempotent and
//!   transactional producer state, compaction and the background cleaner.
//! - [`store`]: the only module that knows sled: topic and group metadata, partition batches behind
//!   the [`store::PartitionStorage`] interface (with an in-memory, fault-injecting twin for tests),
//!   group commit and write backpressure.
//! - [`quota`]: client quotas enforced: per user and client id rates of produced and fetched
//!   bytes and of handling time, and the throttle times they call for.
//! - [`security`]: the principal a connection authenticated as and the session handlers see it in.
//!   A client certificate's principal: its subject DN as Java writes it, mapped by Kafka's rules
//!   ([`security::ssl`]).
//! - [`config`]: the broker's YAML configuration (named listeners in [`config::listeners`]), the topic config table (parsing, effective
//!   values, describe rows) and groups' dynamic configs ([`config::group`]).

pub mod api;
pub mod broker;
pub mod config;
pub mod coordinator;
pub mod log;
pub mod net;
pub mod protocol;
pub mod quota;
pub mod security;
pub mod store;

/// Wall-clock milliseconds since the Unix epoch: Kafka's timestamps.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
