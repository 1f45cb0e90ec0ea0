//! The only module that knows sled: durable topic metadata, one tree per partition, and group commit.
//!
//! # Layout of this folder
//! - `mod.rs`: [`Store`] (open, close, the start-up snapshot) and [`StoreError`].
//! - `flush.rs`: group commit ([`Store::sync`]) and write backpressure ([`Store::admit`]).
//! - `partition.rs`: [`PartitionStore`], one partition's batches (stored in chunks) and its
//!   producer states, truncation and compaction.
//! - `metadata.rs`: topics, committed offsets, group protocol types and membership records,
//!   producer ids, the cluster id and metadata directory id, client quotas, and the purge of
//!   deleted topics' partitions.
//! - `transactions.rs`: the transaction coordinator's records and pending transactional offsets.
//! - `acls.rs`: the ACL bindings CreateAcls and DeleteAcls change.
//! - `scram.rs`: SCRAM credentials (salt, stored key, server key, iterations; never passwords).
//! - `share_groups.rs`: share groups' membership and assignment, and every group's dynamic configs.
//! - `keys.rs`: how keys and tree names are encoded.
//! - `storage.rs`: [`PartitionStorage`], what a partition log needs from storage, which
//!   [`PartitionStore`] implements; `memory.rs`: [`MemoryPartition`], an in-memory implementation
//!   that injects [`Faults`], for tests.
//!
//! # Layout of the sled database under `data_dir`
//! - tree `meta`: broker-wide facts (`cluster_id`, `metadata_directory_id`: 16 bytes).
//! - tree `client_quotas`: JSON [`QuotaEntity`] -> JSON map of quota key -> value (the f64's bits
//!   as u64).
//! - tree `acls`: JSON [`AclRecord`] (one ACL binding, the wire's codes) -> empty.
//! - tree `scram_credentials`: mechanism name, NUL, user name -> JSON [`ScramCredential`].
//! - tree `topics`: topic name -> JSON [`TopicRecord`] (id, partition count, configs). Written only
//!   once every partition it names has its tree: the commit point of a creation or growth (see
//!   [`crate::broker`]); trees no record names are purged at start-up (`main.rs`).
//! - tree `log_start`: `<topic id>/<partition>` -> log start offset (u64 BE), only once it moved past 0.
//! - tree `producers`: `<topic id>/<partition>/` + producer id (i64 BE) -> JSON
//!   [`crate::log::producer_state::ProducerEntry`], written right after the batch it describes.
//! - tree `txn_partitions`: `<topic id>/<partition>` -> empty, once the partition has seen a
//!   transactional batch (its producers' states are then loaded when it opens).
//! - tree `aborted_txns`: `<topic id>/<partition>/` + the abort marker's offset (u64 BE) -> producer
//!   id (i64 BE), first offset, last stable offset (u64 BE each): the partition's aborted-
//!   transaction index (Kafka's `.txnindex`), written before the producer state that the marker
//!   updates; entries whose marker is below the log start are removed with the batches.
//! - tree `groups`: consumer group id -> its protocol type (\"consumer\", ...).
//! - tree `group_metadata`: group id -> JSON [`GroupRecord`], a classic group's generation,
//!   protocol, leader and members with their subscriptions and assignments (Kafka's
//!   GroupMetadataValue; byte fields as JSON arrays of numbers). Rewritten whole when a rebalance
//!   completes, the group empties or a static member is replaced; removed with the group.
//! - tree `offsets`: committed consumer group offsets, keyed group / topic / partition (see
//!   `keys::offset_key`: each string after its u16 BE length, so at most 65,535 bytes, refused
//!   beyond) so one group's offsets are a prefix range; values are JSON [`CommittedOffset`].
//!
//! - tree `transactions`: transactional id -> JSON [`TxnRecord`] (Kafka's `__transaction_state`).
//! - tree `txn_offsets`: group (u16 BE length, bytes) + producer id (i64 BE) -> JSON list of
//!   (topic, partition, [`CommittedOffset`]): offsets an open transaction committed, applied to
//!   `offsets` when it commits and dropped when it aborts.
//!
//! - tree `share_state`: group (u16 BE length, bytes) + topic id (16 bytes) + partition (i32 BE) ->
//!   JSON [`ShareStateRecord`]: a share group's partition state (KIP-932's SPSO and in-flight
//!   records), rewritten whole on change and removed with the group.
//! - tree `share_groups`: share group id -> JSON [`ShareGroupRecord`] (epochs, the subscribed topics'
//!   metadata, members with subscriptions and assignments), rewritten whole on each change.
//! - tree `group_configs`: group id -> JSON map of config name -> value (GROUP config resources).
//!
//! Start-up skips, and logs, a topic record, committed offset, group record or producer state
//! that does not decode, rather than refusing to start.
//! - tree `p/<topic id>/<partition>`: base offset (u64 BE, so range scans run in offset order) -> the
//!   record batch bytes as the producer sent them, base offset assigned.
//!
//! Partition trees are named by topic id, not name, so a deleted and recreated topic starts empty.
//!
//! Durability: sled writes land in its in-memory log buffers and reach disk at the next flush, which
//! sled runs every `flush_interval_ms` on its own (produce waits for one before its records are
//! visible: `log::partition`). [`Store::sync`] makes everything written so far
//! durable, sharing one flush between all callers waiting at that moment (group commit): a dedicated
//! thread runs flush after flush while there are waiters.
//!
//! The produce path writes with plain inserts, never `apply_batch` or a transaction: sled 0.34 makes
//! those atomic by sealing and writing out its log buffer twice per call (`PageCache::pin_log`),
//! which turned every appended batch into two small synced disk writes (about 45,000 a second at
//! 100k records/s, and most of the broker's CPU). sled recovers a prefix of its log after a crash,
//! so with one writer per partition only the partition's last batch can be torn, or lack the
//! producer state written right after it; [`crate::log::PartitionLog::open`] repairs both.

mod acls;
mod flush;
mod keys;
mod memory;
mod metadata;
mod partition;
mod scram;
mod share;
mod share_groups;
mod space;
mod storage;
mod transactions;

pub use acls::AclRecord;
pub use flush::DEFAULT_MAX_UNFLUSHED_BYTES;
pub use memory::{Faults, MemoryPartition};
pub use metadata::{
    CommittedOffset, GroupMemberRecord, GroupRecord, QuotaEntity, QuotaValues, TopicRecord,
};
pub use partition::PartitionStore;
pub use scram::ScramCredential;
pub use share::ShareStateRecord;
pub use share_groups::{ShareGroupRecord, ShareMemberRecord};
pub use space::DEFAULT_MIN_FREE_BYTES;
pub use storage::{AbortedIter, BatchIter, HeaderIter, PartitionStorage};
pub use transactions::{PendingOffsets, TxnRecord, TxnState};

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use flush::Flusher;
use space::SpaceGuard;

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db: sled::Db,
    topics: sled::Tree,
    log_start: sled::Tree,
    offsets: sled::Tree,
    producers: sled::Tree,
    txn_partitions: sled::Tree,
    aborted_txns: sled::Tree,
    flusher: Arc<Flusher>,
    flush_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Bytes written that no completed flush is known to cover yet (see [`Store::admit`]).
    unflushed: Arc<AtomicU64>,
    /// [`Store::admit`] holds writers back while `unflushed` is above this.
    max_unflushed: AtomicU64,
    /// Refuses new data while the disk is nearly full (see `space.rs`).
    space: Arc<SpaceGuard>,
    /// Held while partition trees of deleted topics are purged; set `closing` to stop a purge.
    purging: Mutex<()>,
    closing: std::sync::atomic::AtomicBool,
}

/// Why a store operation failed, for callers to match on. The store does not choose Kafka error
/// codes: the API layer maps these (today every one of them to KAFKA_STORAGE_ERROR).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The storage engine could not read or write: the disk, or the engine's own log, failed.
    #[error("storage error: {0}")]
    Io(#[from] IoError),
    /// A stored value or key does not decode: written by a broken or different version, or damaged.
    #[error("storage error: {what} does not decode: {detail}")]
    Corrupt { what: String, detail: String },
    /// A value could not be encoded for storage (nothing was written).
    #[error("storage error: encoding {what}: {detail}")]
    Encode { what: &'static str, detail: String },
    /// A group-commit flush failed: what was written before the sync may not be durable.
    #[error("storage error: flushing the log to disk failed")]
    FlushFailed,
    /// The data dir's filesystem has less than `min_free_bytes` free: nothing was written.
    #[error("storage error: the disk is full ({free} bytes free, {min_free} kept free)")]
    DiskFull { free: u64, min_free: u64 },
    /// The store is closed: its flush thread has stopped.
    #[error("storage error: the flush thread stopped")]
    Closed,
}

impl StoreError {
    fn corrupt(what: impl Into<String>, detail: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt {
            what: what.into(),
            detail: detail.to_string(),
        }
    }

    fn encode(what: &'static str, detail: impl std::fmt::Display) -> StoreError {
        StoreError::Encode {
            what,
            detail: detail.to_string(),
        }
    }
}

/// An error of the storage engine underneath, opaque so that nothing above the store depends on
/// which engine that is. Its text is the engine's own.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct IoError(sled::Error);

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Io(IoError(e))
    }
}

impl Store {
    /// Opens (or creates) the database. Opening does not scan partition data: each partition's end
    /// is read from its last key when the partition is first opened.
    pub fn open(dir: &Path, cache_capacity: u64, flush_interval_ms: u64) -> Result<Store> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating data dir {}", dir.display()))?;
        let db = open_db(dir, cache_capacity, flush_interval_ms)?;
        let topics = db.open_tree("topics")?;
        let log_start = db.open_tree("log_start")?;
        let offsets = db.open_tree("offsets")?;
        let producers = db.open_tree("producers")?;
        let txn_partitions = db.open_tree("txn_partitions")?;
        let aborted_txns = db.open_tree("aborted_txns")?;
        let unflushed = Arc::new(AtomicU64::new(0));
        let flusher = Arc::new(Flusher::new(unflushed.clone()));
        let flush_thread = {
            let flusher = flusher.clone();
            let db = db.clone();
            std::thread::Builder::new()
                .name("sluice-flush".into())
                .spawn(move || flusher.run(db))
                .context("starting the flush thread")?
        };
        Ok(Store {
            inner: Arc::new(Inner {
                db,
                topics,
                log_start,
                offsets,
                producers,
                txn_partitions,
                aborted_txns,
                flusher,
                flush_thread: Mutex::new(Some(flush_thread)),
                unflushed,
                max_unflushed: AtomicU64::new(DEFAULT_MAX_UNFLUSHED_BYTES),
                space: Arc::new(SpaceGuard::new(dir.to_path_buf())),
                purging: Mutex::new(()),
                closing: Default::default(),
            }),
        })
    }

    /// Sets how many bytes of the data dir's filesystem appends keep free (the config's
    /// `min_free_bytes`; 0: no reserve).
    pub fn set_min_free_bytes(&self, bytes: u64) {
        self.inner.space.set_min_free(bytes);
    }

    /// Flushes synchronously and stops the flush thread (which holds a database handle, so the
    /// data dir is unlocked once every other handle is dropped too); used at shutdown.
    pub fn close(&self) -> Result<()> {
        self.inner.closing.store(true, Ordering::Relaxed);
        // A purge stops at its next batch; wait for it so its database handle is gone too.
        drop(self.inner.purging.lock().expect("purge lock poisoned"));
        self.inner.db.flush().context("final flush")?;
        self.inner.flusher.stop();
        if let Some(t) = self
            .inner
            .flush_thread
            .lock()
            .expect("flush thread poisoned")
            .take()
        {
            let _ = t.join();
        }
        Ok(())
    }
}

/// sled 0.34 writes its page-table snapshot only while opening a database, after replaying its
/// log from the previous snapshot; it never snapshots while running. So the first start after a
/// run that wrote N GB replays N GB (2.9 s after 3 GB here). Opening and closing the database once
/// more after a clean stop does that replay at shutdown instead, and the next start reads a fresh
/// snapshot. Every handle on the store must be gone (the broker's runtime dropped) before this.
pub fn write_snapshot(dir: &Path, cache_capacity: u64, flush_interval_ms: u64) -> Result<()> {
    drop(open_db(dir, cache_capacity, flush_interval_ms)?);
    Ok(())
}

fn open_db(dir: &Path, cache_capacity: u64, flush_interval_ms: u64) -> Result<sled::Db> {
    let config = sled::Config::new()
        .path(dir.join("sled"))
        .cache_capacity(cache_capacity)
        // sled writes a node larger than a quarter segment to a separate blob file; a leaf of
        // 16 KiB chunks stays under 512 KiB, so 2 MiB segments keep every leaf inline. sled
        // keeps one segment-sized buffer per log write in flight, so larger segments cost
        // memory under write load (8 MiB segments: ~430 MiB of buffers at peak, 2 MiB: ~230).
        // Fixed at creation: a data dir made with another size keeps it.
        .segment_size(persisted_segment_size(&dir.join("sled")).unwrap_or(SEGMENT_SIZE))
        .mode(sled::Mode::HighThroughput)
        .flush_every_ms(Some(flush_interval_ms));
    // sled's background threads hold the database (and its file lock) for a moment after the
    // last handle is dropped, so a reopen in the same process may briefly find it locked.
    // Another process holding it stays locked, and that is reported after three seconds.
    let mut attempts = 0;
    loop {
        match config.open() {
            Ok(db) => return Ok(db),
            // sled wraps the flock failure in an io::Error of its own; its text is all there is.
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock") && attempts < 150 =>
            {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("opening sled database in {}", dir.display()))
            }
        }
    }
}

/// sled's log segment size for new data dirs (see [`Store::open`]).
const SEGMENT_SIZE: usize = 2 * 1024 * 1024;

/// The segment size an existing sled database was created with: sled refuses to open it with any
/// other, and releases before this one used 8 MiB.
fn persisted_segment_size(sled_dir: &Path) -> Option<usize> {
    let conf = std::fs::read(sled_dir.join("conf")).ok()?;
    String::from_utf8_lossy(&conf)
        .lines()
        .find_map(|l| l.strip_prefix("segment_size: "))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_a_data_dir_made_with_another_segment_size() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::Config::new()
                .path(dir.path().join("sled"))
                .segment_size(8 * 1024 * 1024)
                .open()
                .unwrap();
            db.insert("k", "v").unwrap();
            db.flush().unwrap();
        }
        assert_eq!(
            persisted_segment_size(&dir.path().join("sled")),
            Some(8 * 1024 * 1024)
        );
        let store = Store::open(dir.path(), 1 << 20, 1000).unwrap();
        assert_eq!(store.inner.db.get("k").unwrap().as_deref(), Some(&b"v"[..]));
        assert_eq!(persisted_segment_size(&dir.path().join("none")), None);
    }
}
