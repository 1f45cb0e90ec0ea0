//! The only module that knows sled: durable topic metadata, one tree per partition, and group commit.
//!
//! Layout inside the one sled database under `data_dir`:
//! - tree `meta`: broker-wide facts (`cluster_id`).
//! - tree `topics`: topic name -> JSON [`TopicRecord`] (id, partition count, configs).
//! - tree `log_start`: `<topic id>/<partition>` -> log start offset (u64 BE), only once it moved past 0.
//! - tree `producers`: `<topic id>/<partition>/` + producer id (i64 BE) -> JSON
//!   [`crate::log::producer_state::ProducerEntry`], written right after the batch it describes.
//! - tree `groups`: consumer group id -> its protocol type (\"consumer\", ...).
//! - tree `offsets`: committed consumer group offsets, keyed group / topic / partition (see
//!   [`offset_key`]) so one group's offsets are a prefix range; values are JSON [`CommittedOffset`].
//! - tree `p/<topic id>/<partition>`: base offset (u64 BE, so range scans run in offset order) -> the
//!   record batch bytes as the producer sent them, base offset assigned.
//!
//! Partition trees are named by topic id, not name, so a deleted and recreated topic starts empty.
//!
//! Durability: sled writes land in its in-memory log buffers and reach disk at the next flush, which
//! sled runs every `flush_interval_ms` on its own. [`Store::sync`] makes everything written so far
//! durable, sharing one flush between all callers waiting at that moment (group commit): a dedicated
//! thread runs flush after flush while there are waiters.
//!
//! The produce path writes with plain inserts, never `apply_batch` or a transaction: sled 0.34 makes
//! those atomic by sealing and writing out its log buffer twice per call (`PageCache::pin_log`),
//! which turned every appended batch into two small synced disk writes (about 45,000 a second at
//! 100k records/s, and most of the broker's CPU). sled recovers a prefix of its log after a crash,
//! so with one writer per partition only the partition's last batch can be torn, or lack the
//! producer state written right after it; [`crate::log::PartitionLog::open`] repairs both.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use anyhow::{Context, Result};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use uuid::Uuid;

/// A topic as persisted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicRecord {
    pub name: String,
    pub id: Uuid,
    pub partitions: i32,
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
}

/// A committed consumer-group offset as persisted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
    pub commit_timestamp_ms: i64,
}

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
    flusher: Arc<Flusher>,
    flush_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Bytes written that no completed flush is known to cover yet (see [`Store::admit`]).
    unflushed: Arc<AtomicU64>,
    /// [`Store::admit`] holds writers back while `unflushed` is above this.
    max_unflushed: AtomicU64,
    /// Held while partition trees of deleted topics are purged; set `closing` to stop a purge.
    purging: Mutex<()>,
    closing: std::sync::atomic::AtomicBool,
}

/// Group-commit bookkeeping: `requested` counts sync calls, `done` publishes the highest request
/// number covered by a completed flush (and whether the last flush failed).
struct Flusher {
    state: Mutex<FlushState>,
    unflushed: Arc<AtomicU64>,
    wake: Condvar,
    done: watch::Sender<FlushDone>,
}

#[derive(Default)]
struct FlushState {
    requested: u64,
    shutdown: bool,
}

#[derive(Clone, Copy, Default)]
struct FlushDone {
    covered: u64,
    /// Request number of the most recent flush that failed; callers at or below it get an error.
    failed_upto: u64,
}

/// Storage failures, reported to clients as KAFKA_STORAGE_ERROR and logged with context.
#[derive(Debug, thiserror::Error)]
#[error("storage error: {0}")]
pub struct StoreError(pub String);

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError(e.to_string())
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
        let (done, _) = watch::channel(FlushDone::default());
        let unflushed = Arc::new(AtomicU64::new(0));
        let flusher = Arc::new(Flusher {
            state: Mutex::new(FlushState::default()),
            unflushed: unflushed.clone(),
            wake: Condvar::new(),
            done,
        });
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
                flusher,
                flush_thread: Mutex::new(Some(flush_thread)),
                unflushed,
                max_unflushed: AtomicU64::new(DEFAULT_MAX_UNFLUSHED_BYTES),
                purging: Mutex::new(()),
                closing: Default::default(),
            }),
        })
    }

    /// Topic ids that have partition trees but no topic record: deleted topics whose purge a stop
    /// interrupted. Only meaningful before anything can create topics (at start-up).
    pub fn orphaned_topic_ids(&self) -> Result<Vec<Uuid>, StoreError> {
        let live: std::collections::HashSet<Uuid> = self
            .load_topics()
            .map_err(|e| StoreError(e.to_string()))?
            .into_iter()
            .map(|t| t.id)
            .collect();
        let mut out: Vec<Uuid> = self
            .inner
            .db
            .tree_names()
            .iter()
            .filter_map(|name| tree_topic_id(name))
            .filter(|id| !live.contains(id))
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Empties and drops, on a background thread, the partition trees of these deleted topics.
    pub fn purge_in_background(&self, topic_ids: Vec<Uuid>) {
        if topic_ids.is_empty() {
            return;
        }
        let store = self.clone();
        let spawned = std::thread::Builder::new()
            .name("sluice-purge".into())
            .spawn(move || match store.purge(&topic_ids) {
                Ok(0) => {}
                Ok(n) => tracing::info!(trees = n, "purged the partitions of deleted topics"),
                Err(e) => tracing::error!(error = %e, "purging deleted topics failed"),
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "could not start the purge thread");
        }
    }

    /// Purges now what [`purge_in_background`](Self::purge_in_background) would; returns how
    /// many trees were dropped. Stops early, leaving the rest for the next start, when the store
    /// is closing.
    ///
    /// Why not just `drop_tree`: sled 0.34's `drop_tree` reads every page of the tree back into
    /// memory to free it and keeps what it read (heaptrack: ~800 MB held after deleting a few GB
    /// of topics). Removing the keys in small batches first goes through the ordinary, evicting
    /// page cache and leaves `drop_tree` an empty tree.
    pub fn purge(&self, topic_ids: &[Uuid]) -> Result<usize, StoreError> {
        let _one_at_a_time = self.inner.purging.lock().expect("purge lock poisoned");
        let mut dropped = 0;
        for name in self.inner.db.tree_names() {
            if !tree_topic_id(&name).is_some_and(|id| topic_ids.contains(&id)) {
                continue;
            }
            let tree = self.inner.db.open_tree(&name)?;
            loop {
                if self.inner.closing.load(Ordering::Relaxed) {
                    return Ok(dropped);
                }
                let mut batch = sled::Batch::default();
                let mut n = 0;
                for key in tree.iter().keys().take(256) {
                    batch.remove(key?);
                    n += 1;
                }
                if n == 0 {
                    break;
                }
                tree.apply_batch(batch)?;
            }
            drop(tree);
            self.inner.db.drop_tree(&name)?;
            dropped += 1;
        }
        Ok(dropped)
    }

    /// The cluster id, created on first start and stable afterwards.
    pub fn cluster_id(&self) -> Result<String> {
        let meta = self.inner.db.open_tree("meta")?;
        if let Some(v) = meta.get("cluster_id")? {
            return Ok(String::from_utf8_lossy(&v).into_owned());
        }
        // Kafka cluster ids are 22-character URL-safe base64 of a UUID; a hex id is just as
        // opaque to clients and needs no extra crate.
        let id = Uuid::new_v4().simple().to_string()[..22].to_string();
        meta.insert("cluster_id", id.as_bytes())?;
        Ok(id)
    }

    pub fn load_topics(&self) -> Result<Vec<TopicRecord>> {
        let mut out = Vec::new();
        for item in self.inner.topics.iter() {
            let (k, v) = item?;
            let rec: TopicRecord = serde_json::from_slice(&v).with_context(|| {
                format!("decoding topic record {:?}", String::from_utf8_lossy(&k))
            })?;
            out.push(rec);
        }
        Ok(out)
    }

    pub fn put_topic(&self, rec: &TopicRecord) -> Result<(), StoreError> {
        let v = serde_json::to_vec(rec).map_err(|e| StoreError(e.to_string()))?;
        self.inner.topics.insert(rec.name.as_bytes(), v)?;
        Ok(())
    }

    /// Removes a topic's record and its partitions' state; their batches are purged in the
    /// background (see [`purge`](Self::purge)), as Kafka deletes log files after answering.
    pub fn delete_topic(&self, rec: &TopicRecord) -> Result<(), StoreError> {
        self.inner.topics.remove(rec.name.as_bytes())?;
        self.purge_in_background(vec![rec.id]);
        for p in 0..rec.partitions {
            self.inner.log_start.remove(partition_key(rec.id, p))?;
            for item in self.inner.producers.scan_prefix(producer_prefix(rec.id, p)) {
                self.inner.producers.remove(item?.0)?;
            }
        }
        Ok(())
    }

    pub fn open_partition(
        &self,
        topic_id: Uuid,
        partition: i32,
    ) -> Result<PartitionStore, StoreError> {
        let tree = self
            .inner
            .db
            .open_tree(partition_tree_name(topic_id, partition))?;
        Ok(PartitionStore {
            tree,
            log_start: self.inner.log_start.clone(),
            producers: self.inner.producers.clone(),
            unflushed: self.inner.unflushed.clone(),
            producer_prefix: producer_prefix(topic_id, partition),
            key: partition_key(topic_id, partition),
        })
    }

    /// Writes (or with `None`, removes) committed offsets of one group. Key by key, not atomically
    /// (see the module doc): the commit is acknowledged only after a flush, so a crash midway leaves
    /// some partitions at offsets the client committed and the rest at their previous ones, and the
    /// client, never acknowledged, commits again.
    pub fn put_offsets(
        &self,
        group: &str,
        offsets: &[(String, i32, Option<CommittedOffset>)],
    ) -> Result<(), StoreError> {
        for (topic, partition, committed) in offsets {
            let key = offset_key(group, topic, *partition);
            match committed {
                Some(c) => {
                    let v = serde_json::to_vec(c).map_err(|e| StoreError(e.to_string()))?;
                    self.inner.offsets.insert(key, v)?;
                }
                None => {
                    self.inner.offsets.remove(key)?;
                }
            }
        }
        Ok(())
    }

    /// Removes every committed offset of a group, and what is known of the group itself.
    pub fn delete_group_offsets(&self, group: &str) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for item in self.inner.offsets.scan_prefix(group_prefix(group)) {
            batch.remove(item?.0);
        }
        self.inner.offsets.apply_batch(batch)?;
        self.groups_tree()?.remove(group.as_bytes())?;
        Ok(())
    }

    fn groups_tree(&self) -> Result<sled::Tree, StoreError> {
        Ok(self.inner.db.open_tree("groups")?)
    }

    /// Remembers a group's protocol type (e.g. "consumer"), so an emptied group is still reported
    /// as that kind of group after a restart, as Kafka does.
    pub fn put_group_protocol_type(
        &self,
        group: &str,
        protocol_type: &str,
    ) -> Result<(), StoreError> {
        self.groups_tree()?
            .insert(group.as_bytes(), protocol_type.as_bytes())?;
        Ok(())
    }

    /// Every remembered group with its protocol type.
    pub fn load_group_protocol_types(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut out = Vec::new();
        for item in self.groups_tree()?.iter() {
            let (k, v) = item?;
            out.push((
                String::from_utf8_lossy(&k).into_owned(),
                String::from_utf8_lossy(&v).into_owned(),
            ));
        }
        Ok(out)
    }

    /// Every committed offset: (group, topic, partition, offset).
    pub fn load_offsets(&self) -> Result<Vec<(String, String, i32, CommittedOffset)>> {
        let mut out = Vec::new();
        for item in self.inner.offsets.iter() {
            let (k, v) = item?;
            let (group, topic, partition) =
                parse_offset_key(&k).context("a committed-offset key is malformed")?;
            let c: CommittedOffset =
                serde_json::from_slice(&v).context("decoding a committed offset")?;
            out.push((group, topic, partition, c));
        }
        Ok(out)
    }

    /// A producer id never handed out before, also across restarts.
    pub fn next_producer_id(&self) -> Result<i64, StoreError> {
        // sled's ids are monotonic across restarts (not contiguous, which producer ids need not be).
        Ok((self.inner.db.generate_id()? & (i64::MAX as u64)) as i64)
    }

    /// Sets how many written but unflushed bytes [`admit`](Self::admit) lets accumulate.
    pub fn set_max_unflushed_bytes(&self, bytes: u64) {
        self.inner.max_unflushed.store(bytes, Ordering::Relaxed);
    }

    /// Waits while more than the configured backlog of written bytes is not yet on disk.
    ///
    /// sled acknowledges a write once it is in its in-memory log buffers and writes those out on
    /// its own threads without ever pushing back; a producer faster than the disk (acks=0/1) would
    /// grow that queue without bound (measured: RSS rising by ~80 MB/s once the kernel's dirty-page
    /// limit throttled sled's writes). Writers call this first, so the backlog stays bounded and
    /// a fast producer is slowed to the disk's pace, as Kafka's own writes are by the page cache.
    pub async fn admit(&self) -> Result<(), StoreError> {
        while self.inner.unflushed.load(Ordering::Relaxed)
            > self.inner.max_unflushed.load(Ordering::Relaxed)
        {
            self.sync().await?;
        }
        Ok(())
    }

    /// Waits until everything written before the call is on disk. Concurrent callers share flushes.
    pub async fn sync(&self) -> Result<(), StoreError> {
        let flusher = &self.inner.flusher;
        let mut rx = flusher.done.subscribe();
        let ticket = {
            let mut st = flusher.state.lock().expect("flush state poisoned");
            st.requested += 1;
            st.requested
        };
        flusher.wake.notify_one();
        let done = *rx
            .wait_for(|d| d.covered >= ticket)
            .await
            .map_err(|_| StoreError("the flush thread stopped".into()))?;
        if done.failed_upto >= ticket {
            return Err(StoreError("flushing the log to disk failed".into()));
        }
        Ok(())
    }

    /// Flushes synchronously and stops the flush thread (which holds a database handle, so the
    /// data dir is unlocked once every other handle is dropped too); used at shutdown.
    pub fn close(&self) -> Result<()> {
        self.inner.closing.store(true, Ordering::Relaxed);
        // A purge stops at its next batch; wait for it so its database handle is gone too.
        drop(self.inner.purging.lock().expect("purge lock poisoned"));
        self.inner.db.flush().context("final flush")?;
        self.inner
            .flusher
            .state
            .lock()
            .expect("flush state poisoned")
            .shutdown = true;
        self.inner.flusher.wake.notify_one();
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

impl Flusher {
    fn run(&self, db: sled::Db) {
        let mut covered = 0u64;
        loop {
            let target = {
                let mut st = self.state.lock().expect("flush state poisoned");
                while st.requested == covered && !st.shutdown {
                    st = self.wake.wait(st).expect("flush state poisoned");
                }
                if st.shutdown && st.requested == covered {
                    return;
                }
                st.requested
            };
            // Every request numbered <= target was made before this flush started, so this one
            // flush covers all of them, and every byte counted as unflushed by now.
            let pending = self.unflushed.load(Ordering::Acquire);
            let failed = match db.flush() {
                Ok(_) => false,
                Err(e) => {
                    tracing::error!(error = %e, "flushing sled failed");
                    true
                }
            };
            if !failed {
                self.unflushed.fetch_sub(pending, Ordering::AcqRel);
            }
            covered = target;
            self.done.send_modify(|d| {
                d.covered = target;
                if failed {
                    d.failed_upto = target;
                }
            });
        }
    }
}

fn group_prefix(group: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + group.len());
    k.extend_from_slice(&(group.len() as u16).to_be_bytes());
    k.extend_from_slice(group.as_bytes());
    k
}

/// Length-prefixed group and topic, then the partition: unambiguous for any strings, and one
/// group's keys form a prefix range.
fn offset_key(group: &str, topic: &str, partition: i32) -> Vec<u8> {
    let mut k = group_prefix(group);
    k.extend_from_slice(&(topic.len() as u16).to_be_bytes());
    k.extend_from_slice(topic.as_bytes());
    k.extend_from_slice(&partition.to_be_bytes());
    k
}

fn parse_offset_key(k: &[u8]) -> Option<(String, String, i32)> {
    let glen = u16::from_be_bytes(k.get(0..2)?.try_into().ok()?) as usize;
    let group = std::str::from_utf8(k.get(2..2 + glen)?).ok()?.to_string();
    let rest = &k[2 + glen..];
    let tlen = u16::from_be_bytes(rest.get(0..2)?.try_into().ok()?) as usize;
    let topic = std::str::from_utf8(rest.get(2..2 + tlen)?)
        .ok()?
        .to_string();
    let partition = i32::from_be_bytes(rest.get(2 + tlen..6 + tlen)?.try_into().ok()?);
    Some((group, topic, partition))
}

fn partition_tree_name(topic_id: Uuid, partition: i32) -> String {
    format!("p/{}/{}", topic_id.simple(), partition)
}

/// The topic id of a partition tree's name (`p/<id>/<partition>`), None for other trees.
fn tree_topic_id(name: &[u8]) -> Option<Uuid> {
    let rest = std::str::from_utf8(name).ok()?.strip_prefix("p/")?;
    Uuid::parse_str(rest.split('/').next()?).ok()
}

fn producer_prefix(topic_id: Uuid, partition: i32) -> Vec<u8> {
    format!("{}/{}/", topic_id.simple(), partition).into_bytes()
}

fn partition_key(topic_id: Uuid, partition: i32) -> String {
    format!("{}/{}", topic_id.simple(), partition)
}

/// One partition's batches, keyed by base offset.
pub struct PartitionStore {
    tree: sled::Tree,
    log_start: sled::Tree,
    producers: sled::Tree,
    producer_prefix: Vec<u8>,
    key: String,
    unflushed: Arc<AtomicU64>,
}

impl PartitionStore {
    /// Appends an idempotent producer's batch, then that producer's new state. A crash between the
    /// two leaves the batch without its state, which [`crate::log::PartitionLog::open`] restores from
    /// the batch itself (it is then the partition's last one).
    pub fn append_with_producer(
        &self,
        base_offset: u64,
        batch: &[u8],
        producer_id: i64,
        entry: &crate::log::producer_state::ProducerEntry,
    ) -> Result<(), StoreError> {
        self.append(base_offset, batch)?;
        let state = self.put_producer(producer_id, entry)?;
        self.count_written(state);
        Ok(())
    }

    /// One producer's stored state.
    pub fn producer(
        &self,
        producer_id: i64,
    ) -> Result<Option<crate::log::producer_state::ProducerEntry>, StoreError> {
        match self.producers.get(self.producer_key(producer_id))? {
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| StoreError(e.to_string())),
            None => Ok(None),
        }
    }

    /// Stores one producer's state; returns the bytes written.
    pub fn put_producer(
        &self,
        producer_id: i64,
        entry: &crate::log::producer_state::ProducerEntry,
    ) -> Result<usize, StoreError> {
        let state = serde_json::to_vec(entry).map_err(|e| StoreError(e.to_string()))?;
        self.producers
            .insert(self.producer_key(producer_id), state.as_slice())?;
        Ok(state.len())
    }

    fn producer_key(&self, producer_id: i64) -> Vec<u8> {
        let mut pkey = self.producer_prefix.clone();
        pkey.extend_from_slice(&producer_id.to_be_bytes());
        pkey
    }

    /// This partition's producer states.
    pub fn load_producers(
        &self,
    ) -> Result<Vec<(i64, crate::log::producer_state::ProducerEntry)>, StoreError> {
        let mut out = Vec::new();
        for item in self.producers.scan_prefix(&self.producer_prefix) {
            let (k, v) = item?;
            let id_bytes: [u8; 8] = k[self.producer_prefix.len()..]
                .try_into()
                .map_err(|_| StoreError("malformed producer state key".into()))?;
            let entry = serde_json::from_slice(&v).map_err(|e| StoreError(e.to_string()))?;
            out.push((i64::from_be_bytes(id_bytes), entry));
        }
        Ok(out)
    }

    pub fn remove_producer(&self, producer_id: i64) -> Result<(), StoreError> {
        self.producers.remove(self.producer_key(producer_id))?;
        Ok(())
    }

    /// Stores a batch under its base offset, chunk by chunk in order (see the module doc for why
    /// not atomically). Readers stop at the high watermark, which moves only once this returns.
    pub fn append(&self, base_offset: u64, batch: &[u8]) -> Result<(), StoreError> {
        for (k, chunk) in chunks(base_offset, batch) {
            self.tree.insert(k, chunk)?;
        }
        self.count_written(batch.len());
        Ok(())
    }

    /// Removes one batch (all its chunks): a torn tail found at open.
    pub fn remove_batch(&self, base: u64) -> Result<(), StoreError> {
        for item in self.tree.scan_prefix(base.to_be_bytes()) {
            self.tree.remove(item?.0)?;
        }
        Ok(())
    }

    fn count_written(&self, bytes: usize) {
        self.unflushed.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// The whole batch stored at `base`, its chunks joined (no copy for a one-chunk batch).
    pub fn read_batch(&self, base: u64) -> Result<Option<Bytes>, StoreError> {
        let mut parts: Vec<sled::IVec> = Vec::new();
        for item in self.tree.scan_prefix(base.to_be_bytes()) {
            parts.push(item?.1);
        }
        Ok(join(parts))
    }

    /// The batch with the highest base offset: its offset (from its key), its first chunk (which
    /// holds the header) and how many bytes are stored for it, without joining its chunks.
    pub fn last_batch(&self) -> Result<Option<(u64, sled::IVec, u64)>, StoreError> {
        let Some((k, _)) = self.tree.last()? else {
            return Ok(None);
        };
        let base = key_offset(&k);
        let mut first = None;
        let mut stored = 0u64;
        for item in self.tree.scan_prefix(base.to_be_bytes()) {
            let (_, v) = item?;
            stored += v.len() as u64;
            first.get_or_insert(v);
        }
        Ok(first.map(|f| (base, f, stored)))
    }

    /// The batch that holds `offset` if any, else the first batch after it: where a read starts.
    pub fn seek(&self, offset: u64) -> Result<Option<u64>, StoreError> {
        if let Some((k, _)) = self
            .tree
            .range(..=chunk_key(offset, u16::MAX))
            .next_back()
            .transpose()?
        {
            return Ok(Some(key_offset(&k)));
        }
        Ok(self
            .tree
            .range(chunk_key(offset, 0)..)
            .next()
            .transpose()?
            .map(|(k, _)| key_offset(&k)))
    }

    /// The header of the batch stored at `base`, from its first chunk alone.
    fn header_at(&self, base: u64) -> Result<Option<crate::log::batch::StoredHeader>, StoreError> {
        self.tree
            .get(chunk_key(base, 0))?
            .map(|first| parse_header(base, &first))
            .transpose()
    }

    /// The header of every batch with base offset >= `from`, in offset order, reading only each
    /// batch's first chunk: for decisions (retention, lookups by time) that must not pull whole
    /// batches, let alone a whole partition, into memory.
    pub fn headers(
        &self,
        from: u64,
    ) -> impl Iterator<Item = Result<crate::log::batch::StoredHeader, StoreError>> + '_ {
        let mut next = Some(from);
        std::iter::from_fn(move || {
            let (k, v) = match self.tree.range(chunk_key(next?, 0)..).next()? {
                Ok(kv) => kv,
                Err(e) => {
                    next = None;
                    return Some(Err(e.into()));
                }
            };
            let base = key_offset(&k);
            next = base.checked_add(1);
            let header = parse_header(base, &v);
            if header.is_err() {
                next = None;
            }
            Some(header)
        })
    }

    /// Batches with base offset >= `from`, in offset order, each as its stored chunks (never
    /// joined: fetch hands them to the socket as they are).
    pub fn scan_parts(
        &self,
        from: u64,
    ) -> impl Iterator<Item = Result<(u64, Vec<sled::IVec>), StoreError>> + '_ {
        Batches {
            inner: self.tree.range(chunk_key(from, 0)..),
            pending: None,
        }
    }

    /// Persists a new log start offset and removes the batches that lie wholly below it, at most
    /// `max_batches` of them (callers loop; a pass stays short). Returns the bytes removed and
    /// whether batches below the start remain.
    pub fn truncate_head(
        &self,
        log_start: u64,
        max_batches: usize,
    ) -> Result<(u64, bool), StoreError> {
        self.log_start.insert(&self.key, &log_start.to_be_bytes())?;
        let mut removed = 0u64;
        let mut doomed = sled::Batch::default();
        let mut more = false;
        for (count, h) in self.headers(0).enumerate() {
            let h = h?;
            if h.next_offset() > log_start {
                break;
            }
            if count == max_batches {
                more = true;
                break;
            }
            self.remove_chunks(h.base_offset, &mut doomed)?;
            removed += h.size;
        }
        self.tree.apply_batch(doomed)?;
        Ok((removed, more))
    }

    fn remove_chunks(&self, base: u64, batch: &mut sled::Batch) -> Result<(), StoreError> {
        for item in self.tree.scan_prefix(base.to_be_bytes()) {
            batch.remove(item?.0);
        }
        Ok(())
    }

    /// Applies a compaction pass atomically. A change whose batch is gone by now (retention or
    /// DeleteRecords ran meanwhile) is skipped, so nothing below the log start comes back.
    /// Returns the change in stored bytes (negative: space freed).
    pub fn apply_compaction(
        &self,
        changes: &[crate::log::compaction::Change],
    ) -> Result<i64, StoreError> {
        use crate::log::compaction::Change;
        let mut batch = sled::Batch::default();
        let mut delta = 0i64;
        let mut written = 0usize;
        for c in changes {
            match c {
                Change::Remove(key) => {
                    if let Some(old) = self.header_at(*key)? {
                        delta -= old.size as i64;
                        self.remove_chunks(*key, &mut batch)?;
                    }
                }
                Change::Replace {
                    old_key,
                    new_key,
                    bytes,
                } => {
                    if let Some(old) = self.header_at(*old_key)? {
                        delta += bytes.len() as i64 - old.size as i64;
                        written += bytes.len();
                        self.remove_chunks(*old_key, &mut batch)?;
                        for (k, chunk) in chunks(*new_key, bytes) {
                            batch.insert(&k, chunk);
                        }
                    }
                }
            }
        }
        self.tree.apply_batch(batch)?;
        self.count_written(written);
        Ok(delta)
    }

    /// Total bytes of the stored batches, summed from their headers (a walk over every batch, so
    /// callers cache it).
    pub fn size_bytes(&self) -> Result<u64, StoreError> {
        self.headers(0).map(|h| h.map(|h| h.size)).sum()
    }

    pub fn log_start(&self) -> Result<u64, StoreError> {
        Ok(self
            .log_start
            .get(&self.key)?
            .map(|v| key_offset(&v))
            .unwrap_or(0))
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

/// Default of [`Store::set_max_unflushed_bytes`] (the config's `max_unflushed_bytes`).
pub const DEFAULT_MAX_UNFLUSHED_BYTES: u64 = 64 * 1024 * 1024;

/// Batches are stored in chunks of at most this many bytes, keyed (base offset, chunk index).
/// sled splits a leaf only past 16 entries, writes a leaf larger than a quarter segment as a
/// separate blob file, and its LRU (256 shards of cache/256 each) never evicts a shard's newest
/// page, so every shard can pin one leaf of up to 16 values. Whole 1 MiB batches therefore pinned
/// hundreds of MiB; with 16 KiB chunks a leaf stays under 256 KiB, inline, and evictable.
/// (Measured: 600 MB of 1 KiB records left 330 MiB live with 64 KiB chunks, 125 MiB with 16 KiB.)
const CHUNK: usize = 16 * 1024;

fn chunk_key(base: u64, index: u16) -> [u8; 10] {
    let mut k = [0u8; 10];
    k[..8].copy_from_slice(&base.to_be_bytes());
    k[8..].copy_from_slice(&index.to_be_bytes());
    k
}

fn chunks(base: u64, batch: &[u8]) -> impl Iterator<Item = ([u8; 10], &[u8])> {
    batch
        .chunks(CHUNK)
        .enumerate()
        .map(move |(i, c)| (chunk_key(base, i as u16), c))
}

/// One batch's chunks as one buffer; a one-chunk batch is sled's buffer itself, not a copy.
pub fn join(mut parts: Vec<sled::IVec>) -> Option<Bytes> {
    match parts.len() {
        0 => None,
        1 => parts.pop().map(Bytes::from_owner),
        _ => {
            let mut out = bytes::BytesMut::with_capacity(parts.iter().map(|p| p.len()).sum());
            for p in &parts {
                out.extend_from_slice(p);
            }
            Some(out.freeze())
        }
    }
}

/// Groups a range of chunk entries back into whole batches.
struct Batches {
    inner: sled::Iter,
    pending: Option<(u64, sled::IVec)>,
}

impl Iterator for Batches {
    type Item = Result<(u64, Vec<sled::IVec>), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (base, first) = match self.pending.take() {
            Some(p) => p,
            None => match self.inner.next()? {
                Ok((k, v)) => (key_offset(&k), v),
                Err(e) => return Some(Err(e.into())),
            },
        };
        let mut parts = vec![first];
        loop {
            match self.inner.next() {
                None => break,
                Some(Err(e)) => return Some(Err(e.into())),
                Some(Ok((k, v))) => {
                    let b = key_offset(&k);
                    if b != base {
                        self.pending = Some((b, v));
                        break;
                    }
                    parts.push(v);
                }
            }
        }
        Some(Ok((base, parts)))
    }
}

/// The header of the batch stored at `base`, from its first chunk.
fn parse_header(base: u64, first: &[u8]) -> Result<crate::log::batch::StoredHeader, StoreError> {
    crate::log::batch::StoredHeader::parse(first).ok_or_else(|| {
        StoreError(format!(
            "the batch stored at offset {base} has a truncated header"
        ))
    })
}

/// The base offset a (chunk) key or a log-start value starts with.
fn key_offset(k: &[u8]) -> u64 {
    k.get(..8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_be_bytes)
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

    /// Bytes that parse as a stored batch header: `len` bytes, `records` offsets from `base`.
    fn fake_batch(base: u64, records: u32, len: usize) -> Vec<u8> {
        let mut b = vec![0u8; len];
        b[0..8].copy_from_slice(&base.to_be_bytes());
        b[8..12].copy_from_slice(&((len - 12) as i32).to_be_bytes());
        b[23..27].copy_from_slice(&(records - 1).to_be_bytes());
        b
    }

    #[test]
    fn headers_read_one_chunk_per_batch() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20, 1000).unwrap();
        let p = store.open_partition(Uuid::new_v4(), 0).unwrap();
        // Three chunks, then one, then two.
        let sizes = [(0u64, 10u32, 40_000usize), (10, 1, 100), (11, 5, 20_000)];
        for (base, n, len) in sizes {
            p.append(base, &fake_batch(base, n, len)).unwrap();
        }
        let got: Vec<(u64, u64, u64)> = p
            .headers(0)
            .map(|h| h.map(|h| (h.base_offset, h.next_offset(), h.size)))
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(got, vec![(0, 10, 40_000), (10, 11, 100), (11, 16, 20_000)]);
        let from_mid: Vec<u64> = p.headers(5).map(|h| h.unwrap().base_offset).collect();
        assert_eq!(from_mid, vec![10, 11]);
        assert_eq!(p.size_bytes().unwrap(), 60_100);
        assert_eq!(p.read_batch(11).unwrap().unwrap().len(), 20_000);
        // Dropping the head by headers removes whole batches, chunks included.
        assert_eq!(p.truncate_head(11, 100).unwrap(), (40_100, false));
        assert_eq!(p.seek(0).unwrap(), Some(11));
    }

    #[tokio::test]
    async fn admit_waits_for_the_backlog_to_be_flushed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20, 60_000).unwrap();
        store.set_max_unflushed_bytes(1024);
        let p = store.open_partition(Uuid::new_v4(), 0).unwrap();
        p.append(0, &[7u8; 4096]).unwrap();
        assert!(store.inner.unflushed.load(Ordering::Relaxed) >= 4096);
        // Over the bound: admit flushes (sled's own timer is a minute away) and returns.
        tokio::time::timeout(std::time::Duration::from_secs(10), store.admit())
            .await
            .expect("admit returns once a flush covered the backlog")
            .unwrap();
        assert_eq!(store.inner.unflushed.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn append_read_restart() {
        let dir = tempfile::tempdir().unwrap();
        let id = Uuid::new_v4();
        {
            let store = Store::open(dir.path(), 1 << 20, 1000).unwrap();
            store
                .put_topic(&TopicRecord {
                    name: "t".into(),
                    id,
                    partitions: 1,
                    configs: BTreeMap::new(),
                })
                .unwrap();
            let p = store.open_partition(id, 0).unwrap();
            p.append(0, b"first").unwrap();
            p.append(5, b"second").unwrap();
            store.sync().await.unwrap();
            store.close().unwrap();
        }
        let store = Store::open(dir.path(), 1 << 20, 1000).unwrap();
        let topics = store.load_topics().unwrap();
        assert_eq!(topics.len(), 1);
        assert_eq!(topics[0].id, id);
        let p = store.open_partition(id, 0).unwrap();
        assert_eq!(&p.last_batch().unwrap().unwrap().1[..], b"second");
        assert_eq!(p.seek(3).unwrap(), Some(0));
        assert_eq!(p.seek(7).unwrap(), Some(5));
        let scan = |from| -> Vec<(u64, Bytes)> {
            p.scan_parts(from)
                .map(|r| r.map(|(base, parts)| (base, join(parts).unwrap())).unwrap())
                .collect()
        };
        let all: Vec<u64> = scan(0).into_iter().map(|(base, _)| base).collect();
        assert_eq!(all, vec![0, 5]);
        // A batch bigger than a chunk comes back whole, and in order with its neighbours.
        let big: Vec<u8> = (0..(3 * CHUNK + 17)).map(|i| (i % 251) as u8).collect();
        p.append(9, &big).unwrap();
        p.append(20, b"after").unwrap();
        let got = scan(5);
        assert_eq!(got.len(), 3);
        assert_eq!((got[1].0, &got[1].1[..]), (9, &big[..]));
        assert_eq!(&got[2].1[..], b"after");
        assert_eq!(p.seek(15).unwrap(), Some(9));
        assert_eq!(&p.last_batch().unwrap().unwrap().1[..], b"after");
        assert_eq!(p.log_start().unwrap(), 0);
    }

    #[tokio::test]
    async fn concurrent_syncs_share_flushes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20, 1000).unwrap();
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let s = store.clone();
            tasks.push(tokio::spawn(async move { s.sync().await }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
    }

    #[test]
    fn offsets_round_trip_and_delete_by_group() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20, 1000).unwrap();
        let c = |o| CommittedOffset {
            offset: o,
            leader_epoch: 0,
            metadata: Some("m".into()),
            commit_timestamp_ms: 1,
        };
        store
            .put_offsets(
                "g",
                &[("t".into(), 0, Some(c(5))), ("t".into(), 1, Some(c(7)))],
            )
            .unwrap();
        store
            .put_offsets("g2", &[("t".into(), 0, Some(c(9)))])
            .unwrap();
        store.put_offsets("g", &[("t".into(), 1, None)]).unwrap();
        let all = store.load_offsets().unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0], ("g".into(), "t".into(), 0, c(5)));
        store.delete_group_offsets("g").unwrap();
        let all = store.load_offsets().unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].0, "g2");
    }

    #[test]
    fn deleted_topic_trees_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20, 1000).unwrap();
        let rec = TopicRecord {
            name: "gone".into(),
            id: Uuid::new_v4(),
            partitions: 2,
            configs: BTreeMap::new(),
        };
        store.put_topic(&rec).unwrap();
        store
            .open_partition(rec.id, 1)
            .unwrap()
            .append(0, b"x")
            .unwrap();
        store.delete_topic(&rec).unwrap();
        assert!(store.load_topics().unwrap().is_empty());
        // A stop before the purge leaves the trees without a record: found again at start-up.
        let orphans = store.orphaned_topic_ids().unwrap();
        assert!(orphans.is_empty() || orphans == vec![rec.id]);
        // Whether or not the background purge got there first, the trees end up gone.
        store.purge(&[rec.id]).unwrap();
        let prefix = format!("p/{}/", rec.id.simple());
        assert!(!store
            .inner
            .db
            .tree_names()
            .iter()
            .any(|n| n.starts_with(prefix.as_bytes())));
        assert!(store.orphaned_topic_ids().unwrap().is_empty());
        // A live topic's trees are never orphans.
        let live = TopicRecord {
            name: "live".into(),
            id: Uuid::new_v4(),
            ..rec
        };
        store.put_topic(&live).unwrap();
        store
            .open_partition(live.id, 0)
            .unwrap()
            .append(0, b"y")
            .unwrap();
        assert!(store.orphaned_topic_ids().unwrap().is_empty());
    }
}
