//! One partition's log: offset assignment, the high watermark, reads, and wake-ups for long polls.
//!
//! Appends to a partition are serialized by its mutex, so offsets are dense and stored in order.
//! An append moves the log end offset; the high watermark follows only when the caller
//! [`publish`](PartitionLog::publish)es it after a flush covered the append, so a consumer never
//! reads a record a crash could still take away (and whose offset a restart would then reuse).
//!
//! Transactions (KIP-98): a transactional producer's first batch in the partition since its last
//! marker starts its ongoing transaction here, and [`write_marker`](PartitionLog::write_marker)
//! ends it. The last stable offset is the high watermark held back by the first offset of every
//! transaction still ongoing, or ended by a marker the high watermark has not passed yet (Kafka's
//! unreplicated transactions: a marker is not stable until it is durable). Aborted transactions
//! go to an index in the store that read_committed fetches consult.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::Notify;

use std::collections::HashMap;

use crate::log::batch::{self, BatchInfo, StoredHeader};
use crate::log::compaction::{self, Change, CleanedTxns, MarkerFate};
use crate::log::producer_state::{self, AbortedTxn, MarkerVerdict, ProducerEntry, Verdict};
use crate::store::{PartitionStorage, StoreError};

/// The leader epoch of every partition: one broker never changes leadership.
pub const LEADER_EPOCH: i32 = 0;

pub struct PartitionLog {
    /// The sled store in the broker; in tests, possibly an in-memory one injecting faults.
    store: Box<dyn PartitionStorage>,
    offsets: Mutex<LogState>,
    /// Bytes stored, computed on first use (a scan) and then kept up to date: opening a partition
    /// must not scan its log.
    size: Mutex<Option<u64>>,
    /// Idempotent producers' state, loaded from the store on first use (at open, for a partition
    /// that has seen transactions). Lock order: `offsets` first, then this.
    producers: Mutex<Option<HashMap<i64, ProducerEntry>>>,
    /// Whether the store knows this partition has seen a transactional batch.
    transactional: AtomicBool,
    /// Long-polling fetches waiting for this partition to grow.
    waiters: Mutex<Vec<Arc<Notify>>>,
    /// Set (under the `offsets` lock) when a failed append may have left bytes at the high
    /// watermark that removing them right away did not clear; the next append clears them first.
    unclean_tail: AtomicBool,
    /// Set when [`open`](Self::open) could not write the repairs of the partition's tail (a full
    /// disk): the next append runs them first.
    recovery_pending: AtomicBool,
}

/// What the `offsets` lock guards.
struct LogState {
    offsets: Offsets,
    /// The next offset an append assigns; at or above the high watermark. Offsets between the two
    /// are written but not yet known to be on disk.
    log_end: u64,
    txns: Txns,
}

/// The transactions that hold the last stable offset back.
#[derive(Debug, Default)]
struct Txns {
    /// Producer id -> the first offset of its ongoing transaction.
    ongoing: HashMap<i64, u64>,
    /// (first offset, marker offset) of transactions whose marker is written but not yet below
    /// the high watermark.
    ending: Vec<(u64, u64)>,
}

impl LogState {
    fn last_stable_offset(&self) -> u64 {
        let hw = self.offsets.high_watermark;
        let ongoing = self.txns.ongoing.values().copied();
        let ending = self
            .txns
            .ending
            .iter()
            .filter(|(_, m)| *m >= hw)
            .map(|(f, _)| *f);
        ongoing.chain(ending).fold(hw, u64::min)
    }

    /// The first unstable offset once `producer_id`'s transaction ends with a marker at `marker`.
    fn first_unstable_without(&self, producer_id: i64, marker: u64) -> u64 {
        let others = self.txns.ongoing.iter().filter(|(p, _)| **p != producer_id);
        others.map(|(_, f)| *f).fold(marker + 1, u64::min)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offsets {
    pub log_start: u64,
    pub high_watermark: u64,
}

/// Result of a read: the batches (possibly empty) and the partition's offsets at that moment.
#[derive(Debug, Clone)]
pub struct ReadResult {
    pub records: Option<Records>,
    pub offsets: Offsets,
    /// The last stable offset at the moment of the read.
    pub last_stable_offset: u64,
    /// The offset after the last batch returned (the offset read from, if none).
    pub next_offset: u64,
}

/// Record bytes read from the log: the stored chunks of whole batches, in order, never joined,
/// so they reach the socket as the store holds them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Records(Vec<Bytes>);

impl Records {
    pub fn len(&self) -> usize {
        self.0.iter().map(|b| b.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|b| b.is_empty())
    }

    pub fn from_parts(parts: Vec<Bytes>) -> Records {
        Records(parts)
    }

    pub fn into_parts(self) -> Vec<Bytes> {
        self.0
    }

    /// The records in one buffer: a copy unless they are one chunk. For callers off the fetch path.
    pub fn to_bytes(&self) -> Bytes {
        match self.0.as_slice() {
            [one] => one.clone(),
            parts => parts.concat().into(),
        }
    }
}

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Offset of the first record (for a retried idempotent batch: where it was first written).
    pub base_offset: u64,
    pub log_start: u64,
    /// The log end offset after the append: what [`PartitionLog::publish`] takes once flushed.
    pub end: u64,
}

/// Why an append was refused.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("producer epoch {got} is older than the current epoch {current}")]
    StaleEpoch { got: i16, current: i16 },
    #[error("out of order sequence: {0}")]
    OutOfOrder(String),
    /// A plain batch from a producer whose transaction is ongoing in the partition.
    #[error("producer {producer_id} has a transaction ongoing in this partition")]
    InvalidTxnState { producer_id: i64 },
    /// A marker from a coordinator older than the one that wrote the producer's last marker.
    #[error("coordinator epoch {got} is older than the current {current}")]
    CoordinatorFenced { got: i32, current: i32 },
}

/// Why a compaction pass stopped. Changes applied before the failure stay applied: each is
/// right on its own (see [`PartitionLog::compact`]).
#[derive(Debug, thiserror::Error)]
pub enum CompactError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored batch does not decode as a record batch, or could not be rewritten.
    #[error("compaction failed: {0}")]
    Batch(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("offset {offset} is outside [{log_start}, {high_watermark}]")]
    OutOfRange {
        offset: i64,
        log_start: u64,
        high_watermark: u64,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl PartitionLog {
    /// Opens a partition, reading only its last batch and log start offset (no scan).
    pub fn open(store: impl PartitionStorage + 'static) -> Result<PartitionLog, StoreError> {
        let log_start = store.log_start()?;
        let (end, recovery_pending) = match recover_tail(&store) {
            Ok(end) => (end, false),
            // Repairing writes, and a full disk refuses writes: open anyway, serving what is
            // stored, and repair before the next append (which needs the disk back anyway).
            Err(StoreError::Io(e)) => {
                tracing::warn!(
                    error = %e,
                    "cannot repair the end of a partition now; it will be repaired before its next append"
                );
                (tail_end_without_repair(&store)?, true)
            }
            Err(e) => return Err(e),
        };
        // Only a partition that has seen transactions pays for loading its producers here.
        let transactional = store.is_transactional()?;
        let (producers, txns) = if transactional {
            let (producers, txns) = load_txns(&store)?;
            (Some(producers), txns)
        } else {
            (None, Txns::default())
        };
        Ok(PartitionLog {
            store: Box::new(store),
            offsets: Mutex::new(LogState {
                offsets: Offsets {
                    log_start,
                    high_watermark: end.max(log_start),
                },
                log_end: end.max(log_start),
                txns,
            }),
            size: Mutex::new(None),
            producers: Mutex::new(producers),
            transactional: AtomicBool::new(transactional),
            waiters: Mutex::new(Vec::new()),
            unclean_tail: AtomicBool::new(false),
            recovery_pending: AtomicBool::new(recovery_pending),
        })
    }

    /// The last stable offset: the high watermark, or the first offset of the earliest
    /// transaction not yet known to be ended, if lower. What read_committed consumers may read up
    /// to, and what every Fetch reports.
    pub fn last_stable_offset(&self) -> u64 {
        self.offsets
            .lock()
            .expect("offsets poisoned")
            .last_stable_offset()
    }

    /// The offsets and the last stable offset, read together.
    pub fn offsets_and_lso(&self) -> (Offsets, u64) {
        let state = self.offsets.lock().expect("offsets poisoned");
        (state.offsets, state.last_stable_offset())
    }

    /// (producer id, first offset) of every transaction ongoing in this partition, sorted by
    /// producer id. A transaction whose marker is written counts as ended, even before its
    /// marker is published.
    pub fn ongoing_transactions(&self) -> Vec<(i64, u64)> {
        let state = self.offsets.lock().expect("offsets poisoned");
        let mut out: Vec<(i64, u64)> = state.txns.ongoing.iter().map(|(p, f)| (*p, *f)).collect();
        out.sort_unstable();
        out
    }

    /// (producer id, first offset) of every aborted transaction whose records overlap
    /// [`from`, `upto`): what a read_committed Fetch of that range returns (Kafka's
    /// collectAbortedTxns), in the order the transactions were aborted.
    pub fn aborted_transactions(
        &self,
        from: u64,
        upto: u64,
    ) -> Result<Vec<(i64, u64)>, StoreError> {
        let mut out = Vec::new();
        for t in self.store.aborted_txns(from) {
            let t = t?;
            if t.first_offset < upto {
                out.push((t.producer_id, t.first_offset));
            }
            // Every transaction aborted after this one began at or above its stable offset.
            if t.last_stable_offset >= upto {
                break;
            }
        }
        Ok(out)
    }

    /// Bytes stored in this partition.
    pub fn size_bytes(&self) -> Result<u64, StoreError> {
        // Hold the offsets lock so no append or truncation races the scan.
        let _offs = self.offsets.lock().expect("offsets poisoned");
        let mut size = self.size.lock().expect("size poisoned");
        if let Some(s) = *size {
            return Ok(s);
        }
        let s = self.store.size_bytes()?;
        *size = Some(s);
        Ok(s)
    }

    /// Moves the log start offset up to `offset` (DeleteRecords, retention) and removes the
    /// batches wholly below it. Returns the new offsets. `offset` above the high watermark is
    /// refused by the caller; one below the current start changes nothing.
    pub fn advance_log_start(&self, offset: u64) -> Result<Offsets, StoreError> {
        let mut state = self.offsets.lock().expect("offsets poisoned");
        let offs = &mut state.offsets;
        if offset <= offs.log_start {
            return Ok(*offs);
        }
        let offset = offset.min(offs.high_watermark);
        offs.log_start = offset;
        loop {
            let (removed, more) = self.store.truncate_head(offset, 1024)?;
            if let Some(s) = self.size.lock().expect("size poisoned").as_mut() {
                *s = s.saturating_sub(removed);
            }
            if !more {
                break;
            }
        }
        Ok(*offs)
    }

    /// One compaction pass over the batches that are neither the last one (the active tail, which
    /// also anchors the high watermark at restart) nor younger than `min_lag_ms`. Returns how many
    /// batches were dropped or rewritten.
    pub fn compact(
        &self,
        policy: crate::log::compaction::Policy,
        min_lag_ms: i64,
    ) -> Result<usize, CompactError> {
        // The section: every batch from the log start but the last (the active tail), up to the
        // first one younger than the lag. Headers only; batches are read one at a time below.
        let lag_limit = policy.now_ms.saturating_sub(min_lag_ms);
        let mut section: Vec<StoredHeader> = Vec::new();
        for h in self.headers()? {
            section.push(h?);
        }
        section.pop();
        if let Some(young) = section.iter().position(|h| h.max_timestamp > lag_limit) {
            section.truncate(young);
        }
        // Kafka cleans only below the first unstable offset: an ongoing transaction may still
        // abort, and its batches and everything after them stay as they are until it ends.
        let lso = self.last_stable_offset();
        if let Some(unstable) = section.iter().position(|h| h.next_offset() > lso) {
            section.truncate(unstable);
        }
        let aborted = match (section.first(), section.last()) {
            (Some(first), Some(last)) => {
                self.aborted_txns_overlapping(first.base_offset, last.next_offset())?
            }
            _ => Vec::new(),
        };
        let batch = |h: &StoredHeader| -> Result<Option<Bytes>, StoreError> {
            self.store.read_batch(h.base_offset)
        };
        let mut latest = crate::log::compaction::Latest::default();
        let mut txns = CleanedTxns::new(aborted.clone());
        for (i, h) in section.iter().enumerate() {
            // The same walk as the second pass, markers included: a producer's transaction
            // after an aborted one must count here exactly as it will there.
            if h.is_control() {
                let marker = batch(h)?.and_then(|b| batch::parse_marker(&b));
                txns.on_marker(h, marker.map(|m| m.commit));
                continue;
            }
            if txns.on_batch(h) {
                continue;
            }
            let Some(b) = batch(h)? else { continue };
            if !latest
                .add(h.base_offset, &b, policy.decode_cap)
                .map_err(CompactError::Batch)?
            {
                tracing::warn!(
                    base_offset = h.base_offset,
                    cap = policy.decode_cap,
                    "a batch decompresses past max_decompressed_batch_bytes; compaction stops before it"
                );
                section.truncate(i);
                break;
            }
        }
        // Changes are applied in groups so a pass over a large partition never holds more than
        // about this many rewritten bytes; each change is right on its own (a key's latest
        // record is never removed), so applying them in several steps is safe.
        const APPLY_BYTES: usize = 16 * 1024 * 1024;
        let mut changes = Vec::new();
        let mut index_drops = Vec::new();
        let mut pending_bytes = 0usize;
        let mut count = 0usize;
        let mut txns = CleanedTxns::new(aborted);
        for h in &section {
            let Some(b) = batch(h)? else { continue };
            let change = if h.is_control() {
                let marker = batch::parse_marker(&b);
                match txns.on_marker(h, marker.map(|m| m.commit)) {
                    MarkerFate::Keep => None,
                    MarkerFate::Empty { aborted_entry } => {
                        let change = compaction::plan_empty_marker(h.base_offset, &b, policy)
                            .map_err(CompactError::Batch)?;
                        if let (Some(Change::Remove(_)), Some(entry)) = (&change, aborted_entry) {
                            index_drops.push(entry);
                        }
                        change
                    }
                }
            } else if txns.on_batch(h) {
                // Records of an aborted transaction are never read by read_committed consumers
                // and are dropped whole, as Kafka's cleaner discards them.
                Some(Change::Remove(h.base_offset))
            } else {
                compaction::plan_batch(h.base_offset, &b, &latest, policy)
                    .map_err(CompactError::Batch)?
            };
            if let Some(change) = change {
                if let Change::Replace { bytes, .. } = &change {
                    pending_bytes += bytes.len();
                }
                changes.push(change);
            }
            if pending_bytes >= APPLY_BYTES {
                count += self.apply_compaction(
                    std::mem::take(&mut changes),
                    std::mem::take(&mut index_drops),
                )?;
                pending_bytes = 0;
            }
        }
        count += self.apply_compaction(changes, index_drops)?;
        Ok(count)
    }

    /// The aborted transactions overlapping [`from`, `upto`), whole entries.
    fn aborted_txns_overlapping(
        &self,
        from: u64,
        upto: u64,
    ) -> Result<Vec<AbortedTxn>, StoreError> {
        // Every fetch of a read_committed consumer asks: a partition that never saw a
        // transaction has no entries, and is not worth a look in the store.
        if !self.transactional.load(Ordering::Relaxed) {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for t in self.store.aborted_txns(from) {
            let t = t?;
            if t.first_offset < upto {
                out.push(t);
            }
            // Every transaction aborted after this one began at or above its stable offset.
            if t.last_stable_offset >= upto {
                break;
            }
        }
        Ok(out)
    }

    /// Applies changes, after removing the aborted-index entries of the markers they remove:
    /// a crash in between leaves a marker without its entry, which no reader misreads, rather
    /// than an entry without its marker.
    fn apply_compaction(
        &self,
        changes: Vec<Change>,
        index_drops: Vec<u64>,
    ) -> Result<usize, StoreError> {
        if changes.is_empty() {
            return Ok(0);
        }
        // Under the offsets lock so retention or DeleteRecords cannot interleave with the swap.
        let _offs = self.offsets.lock().expect("offsets poisoned");
        for entry in index_drops {
            self.store.remove_aborted_txn(entry)?;
        }
        let delta = self.store.apply_compaction(&changes)?;
        if let Some(size) = self.size.lock().expect("size poisoned").as_mut() {
            *size = (*size as i64 + delta).max(0) as u64;
        }
        Ok(changes.len())
    }

    /// Headers of the batches still readable, oldest first (from the one holding the log start, up
    /// to the high watermark), read lazily: for retention and lookups by time.
    pub fn headers(
        &self,
    ) -> Result<impl Iterator<Item = Result<StoredHeader, StoreError>> + '_, StoreError> {
        let offs = self.offsets();
        let start = self.store.seek(offs.log_start)?;
        Ok(start
            .into_iter()
            .flat_map(move |start| self.store.headers(start))
            .take_while(move |h| {
                h.as_ref()
                    .map_or(true, |h| h.base_offset < offs.high_watermark)
            }))
    }

    /// The whole batch whose base offset is `base`, if it is stored.
    pub fn batch_at(&self, base: u64) -> Result<Option<Bytes>, StoreError> {
        self.store.read_batch(base)
    }

    pub fn offsets(&self) -> Offsets {
        self.offsets.lock().expect("offsets poisoned").offsets
    }

    /// Appends validated batches, assigning offsets from the log end. An idempotent producer's batch
    /// is checked against its sequence state first: a retry of a batch already written returns the
    /// original base offset and writes nothing.
    ///
    /// The batches are not visible yet: once a flush has covered them, the caller passes
    /// [`Appended::end`] to [`publish`](Self::publish) (a retried batch's `end` covers the original
    /// too, which may not be flushed yet either).
    pub fn append(&self, batches: &[BatchInfo]) -> Result<Appended, AppendError> {
        let mut state = self.offsets.lock().expect("offsets poisoned");
        let mut producers = self.producers.lock().expect("producers poisoned");
        let producers = self.prepare_write(&mut state, &mut producers)?;
        if batches.iter().any(|b| b.is_transactional())
            && !self.transactional.load(Ordering::Relaxed)
        {
            // Before the batch: a flag without transactions only costs a load at open.
            self.store.mark_transactional()?;
            self.transactional.store(true, Ordering::Relaxed);
        }
        let base = state.log_end;
        let mut next = base;
        for b in batches {
            let sequenced = b.sequenced();
            let new_state = match sequenced {
                None => None,
                Some(seq) => {
                    let current = producers.get(&seq.producer_id);
                    match producer_state::check(current, seq) {
                        Verdict::Append => Some((
                            seq.producer_id,
                            producer_state::record(current, seq, next, crate::now_ms()),
                        )),
                        Verdict::Duplicate { base_offset } => {
                            tracing::debug!(
                                producer = seq.producer_id,
                                first_seq = seq.first_seq,
                                "duplicate batch"
                            );
                            if next == base {
                                return Ok(Appended {
                                    base_offset,
                                    log_start: state.offsets.log_start,
                                    end: state.log_end,
                                });
                            }
                            continue;
                        }
                        Verdict::StaleEpoch { current } => {
                            return Err(AppendError::StaleEpoch {
                                got: seq.epoch,
                                current,
                            });
                        }
                        Verdict::OutOfOrder(why) => return Err(AppendError::OutOfOrder(why)),
                        Verdict::InvalidTxnState => {
                            return Err(AppendError::InvalidTxnState {
                                producer_id: seq.producer_id,
                            })
                        }
                    }
                }
            };
            let stamped = batch::with_offset(&b.bytes, next, LEADER_EPOCH);
            let written = self.store.append(
                next,
                &stamped,
                new_state.as_ref().map(|(pid, state)| (*pid, state)),
            );
            if let Err(e) = written {
                // Batches already written stay: they are whole and in order, and become visible
                // with the next flush. This one was not acknowledged, so whatever it left must go:
                // half a batch (whose header reads as corrupt, or whose stale chunks a shorter
                // batch written at the same offset would not overwrite), or a whole batch without
                // its producer state that a restart would otherwise serve as written.
                if let Err(cleanup) = self.store.remove_batch(next) {
                    tracing::warn!(
                        offset = next,
                        error = %cleanup,
                        "could not remove a failed append; the next append will"
                    );
                    self.unclean_tail.store(true, Ordering::Relaxed);
                }
                state.log_end = next;
                return Err(e.into());
            }
            if let Some((pid, entry)) = new_state {
                if let Some(first) = entry.txn_first_offset {
                    state.txns.ongoing.insert(pid, first);
                }
                producers.insert(pid, entry);
            }
            next += b.record_count as u64;
            if let Some(size) = self.size.lock().expect("size poisoned").as_mut() {
                *size += stamped.len() as u64;
            }
        }
        state.log_end = next;
        Ok(Appended {
            base_offset: base,
            log_start: state.offsets.log_start,
            end: next,
        })
    }

    /// What every write does first, under both locks: the repairs a restart could not write, the
    /// producers' states loaded, and what a failed write may have left at the log end removed.
    fn prepare_write<'a>(
        &self,
        state: &mut LogState,
        producers: &'a mut Option<HashMap<i64, ProducerEntry>>,
    ) -> Result<&'a mut HashMap<i64, ProducerEntry>, StoreError> {
        if self.recovery_pending.load(Ordering::Relaxed) {
            // The repair may restore a producer's state: (re)load them after it.
            let end = recover_tail(&*self.store)?.max(state.offsets.log_start);
            debug_assert_eq!(end, state.log_end);
            state.log_end = end;
            *producers = None;
            if self.transactional.load(Ordering::Relaxed) {
                let (loaded, txns) = load_txns(&*self.store)?;
                *producers = Some(loaded);
                state.txns = txns;
            }
            self.recovery_pending.store(false, Ordering::Relaxed);
        }
        if producers.is_none() {
            *producers = Some(self.store.load_producers()?.into_iter().collect());
        }
        if self.unclean_tail.load(Ordering::Relaxed) {
            self.store.remove_batch(state.log_end)?;
            // A failed marker may have left its aborted transaction; the marker retries here.
            self.store.remove_aborted_txn(state.log_end)?;
            self.unclean_tail.store(false, Ordering::Relaxed);
        }
        Ok(producers.as_mut().expect("loaded above"))
    }

    /// Appends a transaction marker for `producer_id` at the log end (Kafka's
    /// appendAsLeader with a WriteTxnMarkers entry) and ends the producer's ongoing transaction
    /// here; an abort of a transaction that wrote here goes to the aborted-transaction index. A
    /// marker for a producer with no ongoing transaction here is written all the same.
    ///
    /// Refused, writing nothing, with [`AppendError::StaleEpoch`] if `producer_epoch` is older
    /// than the producer's here, and [`AppendError::CoordinatorFenced`] if `coordinator_epoch` is
    /// older than its last marker's. A newer epoch becomes the producer's. As with
    /// [`append`](Self::append), the caller awaits a flush and then publishes [`Appended::end`];
    /// until then the transaction still holds the last stable offset.
    pub fn write_marker(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        coordinator_epoch: i32,
    ) -> Result<Appended, AppendError> {
        let mut state = self.offsets.lock().expect("offsets poisoned");
        let mut producers = self.producers.lock().expect("producers poisoned");
        let producers = self.prepare_write(&mut state, &mut producers)?;
        let offset = state.log_end;
        let now = crate::now_ms();
        let (entry, first) = producer_state::end_txn(
            producers.get(&producer_id),
            producer_epoch,
            coordinator_epoch,
            offset,
            now,
        )
        .map_err(|v| match v {
            MarkerVerdict::StaleEpoch { current } => AppendError::StaleEpoch {
                got: producer_epoch,
                current,
            },
            MarkerVerdict::CoordinatorFenced { current } => AppendError::CoordinatorFenced {
                got: coordinator_epoch,
                current,
            },
        })?;
        let marker = batch::Marker {
            commit,
            coordinator_epoch,
        };
        let bytes = batch::with_offset(
            &batch::marker_batch(producer_id, producer_epoch, marker, now),
            offset,
            LEADER_EPOCH,
        );
        let aborted = first.filter(|_| !commit).map(|first_offset| AbortedTxn {
            producer_id,
            first_offset,
            last_offset: offset,
            last_stable_offset: state.first_unstable_without(producer_id, offset),
        });
        // The index entry before the producer state: a restart that finds the state updated
        // finds the entry too (sled recovers a prefix), and one that does not redoes both.
        let written = self
            .store
            .append(offset, &bytes, None)
            .and_then(|()| aborted.map_or(Ok(()), |t| self.store.put_aborted_txn(&t)))
            .and_then(|()| self.store.put_producer(producer_id, &entry));
        if let Err(e) = written {
            let cleanup = self
                .store
                .remove_batch(offset)
                .and_then(|()| self.store.remove_aborted_txn(offset));
            if let Err(cleanup) = cleanup {
                tracing::warn!(
                    offset,
                    error = %cleanup,
                    "could not remove a failed marker; the next write will"
                );
                self.unclean_tail.store(true, Ordering::Relaxed);
            }
            return Err(e.into());
        }
        producers.insert(producer_id, entry);
        state.txns.ongoing.remove(&producer_id);
        if let Some(first) = first {
            state.txns.ending.push((first, offset));
        }
        state.log_end = offset + 1;
        if let Some(size) = self.size.lock().expect("size poisoned").as_mut() {
            *size += bytes.len() as u64;
        }
        Ok(Appended {
            base_offset: offset,
            log_start: state.offsets.log_start,
            end: offset + 1,
        })
    }

    /// An append published at once, as if flushed: for tests that are not about visibility.
    #[cfg(test)]
    pub fn append_visible(&self, batches: &[BatchInfo]) -> Result<Appended, AppendError> {
        let done = self.append(batches)?;
        self.publish(done.end);
        Ok(done)
    }

    /// Moves the high watermark up to `end` (an [`Appended::end`] that a completed flush covers)
    /// and wakes the long polls waiting for it. Publishing an older end changes nothing.
    pub fn publish(&self, end: u64) {
        let moved = {
            let mut state = self.offsets.lock().expect("offsets poisoned");
            // A failed append may have pulled the log end back below an `end` handed out before.
            let end = end.min(state.log_end);
            let hw = &mut state.offsets.high_watermark;
            let moved = end > *hw;
            *hw = (*hw).max(end);
            let hw = *hw;
            // A marker below the high watermark is durable: its transaction is stable.
            state.txns.ending.retain(|(_, marker)| *marker >= hw);
            moved
        };
        if moved {
            self.wake_waiters();
        }
    }

    /// The idempotent producers this partition knows, sorted by producer id: what DescribeProducers
    /// lists. Loaded from the store on first use, as an append does.
    pub fn active_producers(&self) -> Result<Vec<(i64, ProducerEntry)>, StoreError> {
        let _offs = self.offsets.lock().expect("offsets poisoned");
        let mut guard = self.producers.lock().expect("producers poisoned");
        if guard.is_none() {
            *guard = Some(self.store.load_producers()?.into_iter().collect());
        }
        let mut out: Vec<(i64, ProducerEntry)> = guard
            .as_ref()
            .expect("loaded above")
            .iter()
            .map(|(id, e)| (*id, e.clone()))
            .collect();
        out.sort_by_key(|(id, _)| *id);
        Ok(out)
    }

    /// Forgets producers idle for longer than `expiration_ms` (Kafka's producer.id.expiration.ms),
    /// except those with a transaction ongoing here (Kafka's isProducerExpired).
    pub fn expire_producers(&self, now_ms: i64, expiration_ms: i64) -> Result<usize, StoreError> {
        let _offs = self.offsets.lock().expect("offsets poisoned");
        let mut guard = self.producers.lock().expect("producers poisoned");
        if guard.is_none() {
            *guard = Some(self.store.load_producers()?.into_iter().collect());
        }
        let producers = guard.as_mut().expect("loaded above");
        let expired: Vec<i64> = producers
            .iter()
            .filter(|(_, e)| {
                e.txn_first_offset.is_none()
                    && e.last_timestamp_ms < now_ms.saturating_sub(expiration_ms)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in &expired {
            self.store.remove_producer(*id)?;
            producers.remove(id);
        }
        Ok(expired.len())
    }

    fn wake_waiters(&self) {
        let waiters = std::mem::take(&mut *self.waiters.lock().expect("waiters poisoned"));
        for w in waiters {
            w.notify_one();
        }
    }

    /// Registers a long-poll waiter, woken by the next append. `Notify` keeps the wake-up if it
    /// comes before the waiter starts waiting, so register-then-read cannot miss an append.
    pub fn register_waiter(&self, waiter: &Arc<Notify>) {
        let mut ws = self.waiters.lock().expect("waiters poisoned");
        // A fetch that waited before and timed out leaves its waiter behind; drop stale ones so a
        // partition nobody writes to does not collect them.
        ws.retain(|w| Arc::strong_count(w) > 1);
        ws.push(waiter.clone());
    }

    /// Reads whole batches starting with the one that holds `offset`, up to `max_bytes`; when
    /// `at_least_one` is set the first batch is returned even if it alone exceeds `max_bytes`
    /// (KIP-74), so a consumer can always make progress.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        at_least_one: bool,
    ) -> Result<ReadResult, ReadError> {
        self.read_isolated(offset, max_bytes, at_least_one, false)
    }

    /// [`read`](Self::read), and with `read_committed` only batches below the last stable offset
    /// (isolation level 1). The offset is still checked against the high watermark, as Kafka
    /// does: an offset between the two is in range and reads nothing yet.
    pub fn read_isolated(
        &self,
        offset: i64,
        max_bytes: usize,
        at_least_one: bool,
        read_committed: bool,
    ) -> Result<ReadResult, ReadError> {
        let (offsets, last_stable_offset) = self.offsets_and_lso();
        // The LSO is a batch's base offset or the high watermark, so whole batches end below it.
        let limit = if read_committed {
            last_stable_offset
        } else {
            offsets.high_watermark
        };
        if offset < offsets.log_start as i64 || offset > offsets.high_watermark as i64 {
            return Err(ReadError::OutOfRange {
                offset,
                log_start: offsets.log_start,
                high_watermark: offsets.high_watermark,
            });
        }
        let offset = offset as u64;
        let nothing = ReadResult {
            records: None,
            offsets,
            last_stable_offset,
            next_offset: offset,
        };
        if offset >= limit {
            return Ok(nothing);
        }
        let Some(start) = self.store.seek(offset)? else {
            return Ok(nothing);
        };
        // Stored chunks of the batches to send, handed on uncopied.
        let mut parts: Vec<Bytes> = Vec::new();
        let mut total = 0usize;
        let mut next_offset = offset;
        for item in self.store.scan_parts(start) {
            let (base, batch) = item?;
            // Batches above the high watermark may be mid-append by a concurrent producer.
            if base >= limit {
                break;
            }
            let header = batch.first().and_then(|first| StoredHeader::parse(first));
            if let Some(h) = header {
                if h.next_offset() <= offset {
                    continue;
                }
            }
            let len: usize = batch.iter().map(|p| p.len()).sum();
            if total + len > max_bytes && !(parts.is_empty() && at_least_one) {
                break;
            }
            total += len;
            next_offset = header.map_or(base + 1, |h| h.next_offset());
            parts.extend(batch);
            if total >= max_bytes {
                break;
            }
        }
        let records = (!parts.is_empty()).then_some(Records(parts));
        Ok(ReadResult {
            records,
            offsets,
            last_stable_offset,
            next_offset,
        })
    }
}

/// Repairs what a crash can leave at the end of a partition and returns its log end offset. Appends
/// are plain sled inserts (chunks in order, then the producer state; see `crate::store`), and sled
/// recovers a prefix of its writes, so only the last batch can be torn (chunks missing: it was never
/// flushed, so never acknowledged nor visible, and is dropped as Kafka drops a torn segment tail),
/// and only the last batch can lack its producer's state update (restored from the batch header, so
/// a retry across the restart is still recognised as a duplicate). Reads the last batch's header
/// and chunk sizes only: no CRC pass over every partition's tail at start-up.
fn recover_tail(store: &dyn PartitionStorage) -> Result<u64, StoreError> {
    while let Some((base, head, stored)) = store.last_batch()? {
        let whole =
            StoredHeader::parse(&head).filter(|h| h.base_offset == base && h.size == stored);
        let Some(h) = whole else {
            tracing::warn!(
                base_offset = base,
                stored_bytes = stored,
                "dropping a torn batch at the end of the partition"
            );
            store.remove_batch(base)?;
            continue;
        };
        if h.is_control() && h.producer_id >= 0 {
            recover_marker(store, &h)?;
        }
        if let Some(seq) = h.sequenced() {
            let current = store.producer(seq.producer_id)?;
            let recorded = current
                .as_ref()
                .is_some_and(|e| e.batches.iter().any(|m| m.base_offset >= h.base_offset));
            if !recorded {
                tracing::info!(
                    producer = seq.producer_id,
                    base_offset = h.base_offset,
                    "restoring the producer state of the last batch"
                );
                let entry =
                    producer_state::record(current.as_ref(), seq, h.base_offset, crate::now_ms());
                store.put_producer(seq.producer_id, &entry)?;
            }
        }
        return Ok(h.next_offset());
    }
    Ok(0)
}

/// Restores what a transaction marker that ends the log does to its producer's state and to the
/// aborted-transaction index, if a crash came before those writes (they follow the batch).
fn recover_marker(store: &dyn PartitionStorage, h: &StoredHeader) -> Result<(), StoreError> {
    let pid = h.producer_id;
    let current = store.producer(pid)?;
    if current
        .as_ref()
        .is_some_and(|e| e.last_marker.is_some_and(|m| m >= h.base_offset))
    {
        return Ok(());
    }
    let Some(marker) = store
        .read_batch(h.base_offset)?
        .and_then(|b| batch::parse_marker(&b))
    else {
        return Ok(());
    };
    let ended = producer_state::end_txn(
        current.as_ref(),
        h.producer_epoch,
        marker.coordinator_epoch,
        h.base_offset,
        crate::now_ms(),
    );
    let Ok((entry, first)) = ended else {
        // It was checked when written; a state newer than the marker has nothing to restore.
        return Ok(());
    };
    tracing::info!(
        producer = pid,
        offset = h.base_offset,
        "restoring the producer state of the transaction marker that ends the partition"
    );
    if let (false, Some(first_offset)) = (marker.commit, first) {
        let others = store.load_producers()?;
        let last_stable_offset = others
            .iter()
            .filter(|(p, _)| *p != pid)
            .filter_map(|(_, e)| e.txn_first_offset)
            .fold(h.base_offset + 1, u64::min);
        store.put_aborted_txn(&AbortedTxn {
            producer_id: pid,
            first_offset,
            last_offset: h.base_offset,
            last_stable_offset,
        })?;
    }
    store.put_producer(pid, &entry)
}

/// Every producer state of a partition that has seen transactions, and its ongoing
/// transactions. What a marker that ends the log did is already restored (by `recover_tail`), so
/// every ended transaction is stable: a restart counts everything stored as durable.
fn load_txns(
    store: &dyn PartitionStorage,
) -> Result<(HashMap<i64, ProducerEntry>, Txns), StoreError> {
    let producers: HashMap<i64, ProducerEntry> = store.load_producers()?.into_iter().collect();
    let ongoing = producers
        .iter()
        .filter_map(|(p, e)| e.txn_first_offset.map(|f| (*p, f)))
        .collect();
    Ok((
        producers,
        Txns {
            ongoing,
            ending: Vec::new(),
        },
    ))
}

/// The log end offset [`recover_tail`] would find, without writing its repairs: a torn last batch
/// is skipped (only the last can be torn, so the one before it is whole).
fn tail_end_without_repair(store: &dyn PartitionStorage) -> Result<u64, StoreError> {
    let Some((base, head, stored)) = store.last_batch()? else {
        return Ok(0);
    };
    if let Some(h) =
        StoredHeader::parse(&head).filter(|h| h.base_offset == base && h.size == stored)
    {
        return Ok(h.next_offset());
    }
    let Some(prev) = base
        .checked_sub(1)
        .map(|o| store.seek(o))
        .transpose()?
        .flatten()
    else {
        return Ok(0);
    };
    if prev >= base {
        return Ok(0);
    }
    match store.headers(prev).next().transpose()? {
        Some(h) => Ok(h.next_offset()),
        None => Ok(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::batch::tests::make_batch;
    use crate::store::{Faults, MemoryPartition, Store};

    fn log(dir: &std::path::Path) -> (Store, PartitionLog) {
        let store = Store::open(dir, 1 << 20, 1000).unwrap();
        let p = store.open_partition(uuid::Uuid::nil(), 0).unwrap();
        (store.clone(), PartitionLog::open(p).unwrap())
    }

    #[test]
    fn offsets_are_dense_and_reads_return_whole_batches() {
        let dir = tempfile::tempdir().unwrap();
        let (_s, log) = log(dir.path());
        let b = batch::validate(&make_batch(3, 0), 1 << 20).unwrap();
        assert_eq!(log.append_visible(&b).unwrap().base_offset, 0);
        assert_eq!(log.append_visible(&b).unwrap().base_offset, 3);
        assert_eq!(log.offsets().high_watermark, 6);
        // Offset 4 is inside the second batch: the whole batch comes back.
        let r = log.read(4, 1 << 20, true).unwrap();
        let got = r.records.unwrap().to_bytes();
        assert_eq!(StoredHeader::parse(&got).unwrap().base_offset, 3);
        assert_eq!(got.len(), b[0].bytes.len());
        // From 0, both batches fit.
        assert_eq!(
            log.read(0, 1 << 20, true).unwrap().records.unwrap().len(),
            2 * got.len()
        );
        // max_bytes smaller than a batch: one batch if at_least_one, none otherwise.
        assert!(log.read(0, 1, true).unwrap().records.is_some());
        assert!(log.read(0, 1, false).unwrap().records.is_none());
        assert!(log.read(6, 100, true).unwrap().records.is_none());
        assert!(matches!(
            log.read(7, 100, true),
            Err(ReadError::OutOfRange { .. })
        ));
        assert!(matches!(
            log.read(-1, 100, true),
            Err(ReadError::OutOfRange { .. })
        ));
    }

    #[test]
    fn high_watermark_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (s, log) = log(dir.path());
            let b = batch::validate(&make_batch(5, 0), 1 << 20).unwrap();
            log.append_visible(&b).unwrap();
            log.append_visible(&b).unwrap();
            s.close().unwrap();
        }
        let (_s, log) = log(dir.path());
        assert_eq!(
            log.offsets(),
            Offsets {
                log_start: 0,
                high_watermark: 10
            }
        );
    }

    #[test]
    fn active_producers_lists_each_idempotent_producer_once_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let (_store, log) = log(dir.path());
        assert!(log.active_producers().unwrap().is_empty());
        let first = batch::tests::with_producer(&make_batch(2, 0), 9, 1, 0);
        let next = batch::tests::with_producer(&make_batch(3, 0), 9, 1, 2);
        let other = batch::tests::with_producer(&make_batch(1, 0), 4, 0, 0);
        for b in [first, next, other, make_batch(1, 0)] {
            log.append_visible(&batch::validate(&b, 1 << 20).unwrap())
                .unwrap();
        }
        let producers = log.active_producers().unwrap();
        let summary: Vec<_> = producers
            .iter()
            .map(|(id, e)| (*id, e.epoch, e.batches.back().map(|b| b.last_seq)))
            .collect();
        assert_eq!(summary, vec![(4, 0, Some(0)), (9, 1, Some(4))]);
    }

    #[test]
    fn reopen_drops_a_torn_tail_and_restores_the_last_producer_state() {
        let dir = tempfile::tempdir().unwrap();
        let (s, log) = log(dir.path());
        let plain = batch::validate(&make_batch(3, 0), 1 << 20).unwrap();
        assert_eq!(log.append_visible(&plain).unwrap().base_offset, 0);
        // What a crash can leave (see `recover_tail`): an idempotent batch whose producer state
        // was never written, then a batch missing its last bytes.
        let idempotent = batch::tests::with_producer(&make_batch(2, 0), 7, 0, 0);
        log.store
            .append(3, &batch::with_offset(&idempotent, 3, LEADER_EPOCH), None)
            .unwrap();
        let torn = batch::with_offset(&make_batch(4, 0), 5, LEADER_EPOCH);
        log.store.append(5, &torn[..torn.len() - 3], None).unwrap();
        drop(log);

        let log = PartitionLog::open(s.open_partition(uuid::Uuid::nil(), 0).unwrap()).unwrap();
        assert_eq!(log.offsets().high_watermark, 5);
        assert!(log.batch_at(5).unwrap().is_none());
        // The producer's retry is recognised: its original offset, nothing written.
        let retry = batch::validate(&idempotent, 1 << 20).unwrap();
        assert_eq!(log.append_visible(&retry).unwrap().base_offset, 3);
        assert_eq!(log.offsets().high_watermark, 5);
        // Its next sequence follows on.
        let next = batch::tests::with_producer(&make_batch(1, 0), 7, 0, 2);
        let next = batch::validate(&next, 1 << 20).unwrap();
        assert_eq!(log.append_visible(&next).unwrap().base_offset, 5);
        // A torn tail with nothing before it leaves an empty partition.
        let p1 = s.open_partition(uuid::Uuid::nil(), 1).unwrap();
        p1.append(0, &torn[..20], None).unwrap();
        let log1 = PartitionLog::open(s.open_partition(uuid::Uuid::nil(), 1).unwrap()).unwrap();
        assert_eq!(log1.offsets().high_watermark, 0);
    }

    #[test]
    fn advancing_the_log_start_drops_whole_batches_and_persists() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (s, log) = log(dir.path());
            let b = batch::validate(&make_batch(3, 0), 1 << 20).unwrap();
            for _ in 0..3 {
                log.append_visible(&b).unwrap();
            }
            let full = log.size_bytes().unwrap();
            // Offset 4 is inside the second batch: only the first goes.
            let offs = log.advance_log_start(4).unwrap();
            assert_eq!(offs.log_start, 4);
            assert_eq!(log.size_bytes().unwrap(), full - b[0].bytes.len() as u64);
            assert!(matches!(
                log.read(3, 1 << 20, true),
                Err(ReadError::OutOfRange { .. })
            ));
            let first = log
                .read(4, 1 << 20, true)
                .unwrap()
                .records
                .unwrap()
                .to_bytes();
            assert_eq!(StoredHeader::parse(&first).unwrap().base_offset, 3);
            s.close().unwrap();
        }
        let (_s, log) = log(dir.path());
        assert_eq!(
            log.offsets(),
            Offsets {
                log_start: 4,
                high_watermark: 9
            }
        );
        // Everything: the log is empty but offsets continue.
        log.advance_log_start(9).unwrap();
        assert_eq!(log.size_bytes().unwrap(), 0);
        let b = batch::validate(&make_batch(1, 0), 1 << 20).unwrap();
        assert_eq!(log.append_visible(&b).unwrap().base_offset, 9);
    }

    /// A log over an in-memory partition, and a handle on that partition to inject faults.
    fn memory_log() -> (MemoryPartition, PartitionLog) {
        let mem = MemoryPartition::new();
        (mem.clone(), PartitionLog::open(mem).unwrap())
    }

    /// The base offsets of the batches a read from `offset` returns.
    fn read_bases(log: &PartitionLog, offset: i64) -> Vec<u64> {
        let Some(records) = log.read(offset, 1 << 20, true).unwrap().records else {
            return Vec::new();
        };
        let mut bytes = records.to_bytes();
        let mut bases = Vec::new();
        while let Some(h) = StoredHeader::parse(&bytes) {
            bases.push(h.base_offset);
            let _ = bytes.split_to(h.size as usize);
        }
        assert!(bytes.is_empty(), "whole batches only");
        bases
    }

    #[test]
    fn a_failed_append_moves_no_offset_and_the_next_one_lands_right_after_the_last() {
        let (mem, log) = memory_log();
        let b = batch::validate(&make_batch(3, 0), 1 << 20).unwrap();
        assert_eq!(log.append_visible(&b).unwrap().base_offset, 0);
        mem.set_faults(Faults {
            fail_writes: 1,
            ..Faults::default()
        });
        assert!(matches!(
            log.append(&b),
            Err(AppendError::Store(StoreError::Io(_)))
        ));
        assert_eq!(log.offsets().high_watermark, 3);
        // Only what was acknowledged is readable, and nothing is at the failed offset.
        assert_eq!(read_bases(&log, 0), vec![0]);
        assert!(log.read(3, 1 << 20, true).unwrap().records.is_none());
        // The fault is spent: the next append takes the offset the failed one would have had.
        assert_eq!(log.append_visible(&b).unwrap().base_offset, 3);
        assert_eq!(log.offsets().high_watermark, 6);
        assert_eq!(read_bases(&log, 0), vec![0, 3]);
        // The failed write, and the removal of anything it might have left.
        assert_eq!(mem.write_counts(), (4, 1));
    }

    #[test]
    fn a_torn_write_is_never_read_and_is_overwritten_or_dropped_at_open() {
        let (mem, log) = memory_log();
        let b = batch::validate(&make_batch(3, 0), 1 << 20).unwrap();
        log.append_visible(&b).unwrap();
        mem.set_faults(Faults {
            fail_writes: 1,
            torn: true,
            ..Faults::default()
        });
        assert!(log.append(&b).is_err());
        assert_eq!(read_bases(&log, 0), vec![0]);
        // A restart finds the half batch at the end and drops it.
        let reopened = PartitionLog::open(mem.clone()).unwrap();
        assert_eq!(reopened.offsets().high_watermark, 3);
        assert_eq!(mem.stored_bases(), vec![0]);
        assert_eq!(reopened.append_visible(&b).unwrap().base_offset, 3);
        assert_eq!(read_bases(&reopened, 0), vec![0, 3]);
    }

    /// A full disk: a torn batch at the end that cannot be removed, at a restart that can write
    /// nothing. The partition opens and serves what was whole; the repair waits for the next
    /// append, which runs it once the disk takes writes again.
    #[test]
    fn a_partition_opens_on_a_disk_that_refuses_writes_and_repairs_at_the_next_append() {
        let (mem, log) = memory_log();
        let b = batch::validate(&make_batch(3, 0), 1 << 20).unwrap();
        log.append_visible(&b).unwrap();
        log.append_visible(&b).unwrap();
        mem.set_faults(Faults {
            fail_writes: usize::MAX,
            torn: true,
            ..Faults::default()
        });
        assert!(log.append(&b).is_err());
        assert_eq!(mem.stored_bases(), vec![0, 3, 6], "the torn half stays");
        let reopened = PartitionLog::open(mem.clone()).expect("opens without writing");
        assert_eq!(reopened.offsets().high_watermark, 6);
        assert_eq!(read_bases(&reopened, 0), vec![0, 3]);
        assert!(reopened.append(&b).is_err());
        mem.set_faults(Faults::default());
        assert_eq!(reopened.append_visible(&b).unwrap().base_offset, 6);
        assert_eq!(read_bases(&reopened, 0), vec![0, 3, 6]);
        // A torn first batch: nothing before it.
        let mem = MemoryPartition::new();
        let log = PartitionLog::open(mem.clone()).unwrap();
        mem.set_faults(Faults {
            fail_writes: usize::MAX,
            torn: true,
            ..Faults::default()
        });
        assert!(log.append(&b).is_err());
        assert_eq!(PartitionLog::open(mem).unwrap().offsets().high_watermark, 0);
    }

    #[test]
    fn a_failed_append_leaves_nothing_behind_it() {
        let (mem, log) = memory_log();
        let b = batch::validate(&make_batch(3, 0), 1 << 20).unwrap();
        log.append_visible(&b).unwrap();
        // Torn: half a batch after the high watermark must not show, not even as a bad header.
        mem.set_faults(Faults {
            fail_writes: 1,
            torn: true,
            ..Faults::default()
        });
        assert!(log.append(&b).is_err());
        assert_eq!(mem.stored_bases(), vec![0]);
        assert_eq!(log.headers().unwrap().count(), 1);
        // Whole but not acknowledged (its producer state failed): a restart must not bring it
        // back as if it had been written.
        let idem = batch::tests::with_producer(&make_batch(2, 0), 7, 0, 0);
        let idem = batch::validate(&idem, 1 << 20).unwrap();
        mem.set_faults(Faults {
            after_writes: 1,
            fail_writes: 1,
            ..Faults::default()
        });
        assert!(log.append(&idem).is_err());
        assert_eq!(mem.stored_bases(), vec![0]);
        drop(log);
        let reopened = PartitionLog::open(mem.clone()).unwrap();
        assert_eq!(reopened.offsets().high_watermark, 3);
        // If even the clean-up fails, the next append cleans up first.
        mem.set_faults(Faults {
            fail_writes: 2,
            torn: true,
            ..Faults::default()
        });
        assert!(reopened.append(&b).is_err());
        assert_eq!(mem.stored_bases(), vec![0, 3]);
        assert_eq!(reopened.append_visible(&idem).unwrap().base_offset, 3);
        assert_eq!(read_bases(&reopened, 0), vec![0, 3]);
        assert_eq!(
            reopened
                .read(3, 1 << 20, true)
                .unwrap()
                .records
                .unwrap()
                .len(),
            idem[0].bytes.len()
        );
    }

    #[test]
    fn a_full_disk_refuses_appends_until_retention_frees_space() {
        let (mem, log) = memory_log();
        let b = batch::validate(&make_batch(3, 0), 1 << 20).unwrap();
        let len = b[0].bytes.len() as u64;
        mem.set_faults(Faults {
            capacity: Some(2 * len),
            ..Faults::default()
        });
        log.append_visible(&b).unwrap();
        log.append_visible(&b).unwrap();
        for _ in 0..3 {
            assert!(log.append(&b).is_err());
            assert_eq!(log.offsets().high_watermark, 6);
        }
        assert_eq!(log.size_bytes().unwrap(), 2 * len);
        // Even over capacity (a smaller disk), deleting still works.
        mem.set_faults(Faults {
            capacity: Some(len),
            ..Faults::default()
        });
        log.advance_log_start(1).unwrap();
        mem.set_faults(Faults {
            capacity: Some(2 * len),
            ..Faults::default()
        });
        // Deleting the first batch makes room for exactly one more.
        log.advance_log_start(3).unwrap();
        assert_eq!(log.append_visible(&b).unwrap().base_offset, 6);
        assert!(log.append(&b).is_err());
        assert_eq!(read_bases(&log, 3), vec![3, 6]);
    }

    #[test]
    fn a_failed_read_is_an_error_not_an_empty_answer() {
        let (mem, log) = memory_log();
        let b = batch::validate(&make_batch(3, 0), 1 << 20).unwrap();
        log.append_visible(&b).unwrap();
        mem.set_faults(Faults {
            fail_reads: 1,
            ..Faults::default()
        });
        assert!(matches!(
            log.read(0, 1 << 20, true),
            Err(ReadError::Store(StoreError::Io(_)))
        ));
        assert_eq!(read_bases(&log, 0), vec![0]);
    }

    #[test]
    fn an_idempotent_append_whose_state_write_fails_is_not_acknowledged_and_its_retry_lands() {
        let (mem, log) = memory_log();
        let first = batch::tests::with_producer(&make_batch(2, 0), 7, 0, 0);
        let first = batch::validate(&first, 1 << 20).unwrap();
        // The batch is written, the producer state after it is not.
        mem.set_faults(Faults {
            after_writes: 1,
            fail_writes: 1,
            ..Faults::default()
        });
        assert!(log.append(&first).is_err());
        assert_eq!(log.offsets().high_watermark, 0);
        assert!(log.read(0, 1 << 20, true).unwrap().records.is_none());
        // The producer retries: not taken for a duplicate of what it was told failed.
        assert_eq!(log.append_visible(&first).unwrap().base_offset, 0);
        assert_eq!(log.offsets().high_watermark, 2);
        // A second retry is a duplicate; the next sequence follows on.
        assert_eq!(log.append_visible(&first).unwrap().base_offset, 0);
        let next = batch::tests::with_producer(&make_batch(1, 0), 7, 0, 2);
        let next = batch::validate(&next, 1 << 20).unwrap();
        assert_eq!(log.append_visible(&next).unwrap().base_offset, 2);
        assert_eq!(read_bases(&log, 0), vec![0, 2]);
    }

    #[tokio::test]
    async fn publishing_wakes_a_registered_waiter() {
        let dir = tempfile::tempdir().unwrap();
        let (_s, log) = log(dir.path());
        let w = Arc::new(Notify::new());
        log.register_waiter(&w);
        let b = batch::validate(&make_batch(1, 0), 1 << 20).unwrap();
        log.append_visible(&b).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), w.notified())
            .await
            .expect("waiter was not woken");
    }

    /// An append is invisible (reads, the high watermark, headers for retention and lookups)
    /// until its end is published; offsets are still assigned densely from the log end.
    #[test]
    fn appended_records_stay_invisible_until_published() {
        let (_mem, log) = memory_log();
        let b = batch::validate(&make_batch(3, 0), 1 << 20).unwrap();
        let first = log.append(&b).unwrap();
        let second = log.append(&b).unwrap();
        assert_eq!((first.base_offset, second.base_offset), (0, 3));
        assert_eq!(log.offsets().high_watermark, 0);
        assert!(log.read(0, 1 << 20, true).unwrap().records.is_none());
        assert!(log.read(3, 1 << 20, true).is_err());
        assert_eq!(log.headers().unwrap().count(), 0);
        log.publish(first.end);
        assert_eq!(log.offsets().high_watermark, 3);
        assert_eq!(read_bases(&log, 0), vec![0]);
        // Publishing an older end after a newer one changes nothing.
        log.publish(second.end);
        log.publish(first.end);
        assert_eq!(log.offsets().high_watermark, 6);
        assert_eq!(read_bases(&log, 0), vec![0, 3]);
    }

    /// A transactional batch of `n` records from `pid`, epoch 0, validated.
    fn txn_batch(n: u32, pid: i64, seq: i32) -> Vec<BatchInfo> {
        let b = batch::tests::with_txn(&make_batch(n, 0), pid, 0, seq);
        batch::validate(&b, 1 << 20).unwrap()
    }

    fn marker_visible(log: &PartitionLog, pid: i64, commit: bool) -> Appended {
        let done = log.write_marker(pid, 0, commit, 0).unwrap();
        log.publish(done.end);
        done
    }

    #[test]
    fn the_last_stable_offset_follows_transactions_and_their_markers() {
        let (_mem, log) = memory_log();
        let plain = batch::validate(&make_batch(3, 0), 1 << 20).unwrap();
        log.append_visible(&plain).unwrap();
        assert_eq!(log.last_stable_offset(), 3);
        assert_eq!(
            log.append_visible(&txn_batch(3, 7, 0)).unwrap().base_offset,
            3
        );
        assert_eq!(
            log.append_visible(&txn_batch(2, 8, 0)).unwrap().base_offset,
            6
        );
        assert_eq!(
            log.append_visible(&txn_batch(1, 7, 3)).unwrap().base_offset,
            8
        );
        assert_eq!(log.last_stable_offset(), 3);
        assert_eq!(log.ongoing_transactions(), vec![(7, 3), (8, 6)]);
        // The commit marker is written at the log end; until it is published (durable) the
        // transaction still holds the LSO.
        let commit = log.write_marker(7, 0, true, 0).unwrap();
        assert_eq!((commit.base_offset, commit.end), (9, 10));
        assert_eq!(log.ongoing_transactions(), vec![(8, 6)]);
        assert_eq!(log.last_stable_offset(), 3);
        log.publish(commit.end);
        assert_eq!(log.last_stable_offset(), 6);
        // read_committed stops at the LSO, whole batches; read_uncommitted at the high watermark.
        let committed = log.read_isolated(0, 1 << 20, true, true).unwrap();
        assert_eq!(committed.last_stable_offset, 6);
        let bases = |r: ReadResult| -> Vec<u64> {
            let mut bytes = r.records.map(|r| r.to_bytes()).unwrap_or_default();
            let mut out = Vec::new();
            while let Some(h) = StoredHeader::parse(&bytes) {
                out.push(h.base_offset);
                let _ = bytes.split_to(h.size as usize);
            }
            out
        };
        assert_eq!(bases(committed), vec![0, 3]);
        assert!(log
            .read_isolated(6, 1 << 20, true, true)
            .unwrap()
            .records
            .is_none());
        assert_eq!(read_bases(&log, 0), vec![0, 3, 6, 8, 9]);
        // The abort ends the last transaction: the LSO reaches the high watermark, and the
        // aborted transaction is listed for ranges that overlap it.
        let abort = marker_visible(&log, 8, false);
        assert_eq!(abort.base_offset, 10);
        assert_eq!(log.last_stable_offset(), 11);
        assert!(log.ongoing_transactions().is_empty());
        assert_eq!(log.aborted_transactions(0, 11).unwrap(), vec![(8, 6)]);
        assert_eq!(log.aborted_transactions(6, 7).unwrap(), vec![(8, 6)]);
        assert_eq!(log.aborted_transactions(0, 6).unwrap(), vec![]);
        assert_eq!(log.aborted_transactions(11, 20).unwrap(), vec![]);
        assert_eq!(
            bases(log.read_isolated(6, 1 << 20, true, true).unwrap()),
            vec![6, 8, 9, 10]
        );
        // A commit of a transaction that aborted nothing here writes no index entry; a marker for
        // a producer with no transaction here is written all the same.
        assert_eq!(marker_visible(&log, 99, true).base_offset, 11);
        assert_eq!(log.aborted_transactions(0, 20).unwrap(), vec![(8, 6)]);
        assert_eq!(log.last_stable_offset(), 12);
    }

    #[test]
    fn markers_are_fenced_by_epochs_and_plain_batches_by_an_ongoing_transaction() {
        let (_mem, log) = memory_log();
        log.append_visible(&txn_batch(2, 7, 0)).unwrap();
        let plain = batch::tests::with_producer(&make_batch(1, 0), 7, 0, 2);
        assert!(matches!(
            log.append(&batch::validate(&plain, 1 << 20).unwrap()),
            Err(AppendError::InvalidTxnState { producer_id: 7 })
        ));
        // Transaction version 2: the marker carries the bumped epoch, which becomes current.
        let m = log.write_marker(7, 1, true, 5).unwrap();
        log.publish(m.end);
        assert!(matches!(
            log.write_marker(7, 0, false, 5),
            Err(AppendError::StaleEpoch { got: 0, current: 1 })
        ));
        assert!(matches!(
            log.write_marker(7, 1, false, 4),
            Err(AppendError::CoordinatorFenced { got: 4, current: 5 })
        ));
        assert_eq!(
            log.offsets().high_watermark,
            3,
            "refused markers write nothing"
        );
        // The next transaction of the new epoch starts at sequence 0.
        let next = batch::tests::with_txn(&make_batch(1, 0), 7, 1, 0);
        let next = batch::validate(&next, 1 << 20).unwrap();
        assert_eq!(log.append_visible(&next).unwrap().base_offset, 3);
        assert_eq!(log.ongoing_transactions(), vec![(7, 3)]);
    }

    #[test]
    fn a_producer_with_an_ongoing_transaction_does_not_expire() {
        let (_mem, log) = memory_log();
        log.append_visible(&txn_batch(1, 7, 0)).unwrap();
        let idem = batch::tests::with_producer(&make_batch(1, 0), 8, 0, 0);
        log.append_visible(&batch::validate(&idem, 1 << 20).unwrap())
            .unwrap();
        assert_eq!(log.expire_producers(i64::MAX, 0).unwrap(), 1);
        assert_eq!(log.active_producers().unwrap().len(), 1);
        marker_visible(&log, 7, false);
        assert_eq!(log.expire_producers(i64::MAX, 0).unwrap(), 1);
    }

    /// A crash can leave a transaction's last batch or its marker without the writes that
    /// follow it (producer state, index entry); a restart restores them from the batch.
    #[test]
    fn a_restart_restores_ongoing_transactions_and_the_effect_of_a_last_marker() {
        let (mem, log) = memory_log();
        log.append_visible(&txn_batch(2, 7, 0)).unwrap();
        log.append_visible(&txn_batch(2, 8, 0)).unwrap();
        drop(log);
        let log = PartitionLog::open(mem.clone()).unwrap();
        assert_eq!(log.ongoing_transactions(), vec![(7, 0), (8, 2)]);
        assert_eq!(log.last_stable_offset(), 0);
        // A transactional batch whose producer state was lost: restored, transaction included.
        let lost = batch::tests::with_txn(&make_batch(1, 0), 9, 0, 0);
        mem.append(4, &batch::with_offset(&lost, 4, LEADER_EPOCH), None)
            .unwrap();
        drop(log);
        let log = PartitionLog::open(mem.clone()).unwrap();
        assert_eq!(log.ongoing_transactions(), vec![(7, 0), (8, 2), (9, 4)]);
        // An abort marker whose index entry and producer state were lost.
        let abort = batch::Marker {
            commit: false,
            coordinator_epoch: 3,
        };
        let marker = batch::marker_batch(7, 0, abort, crate::now_ms());
        mem.append(5, &batch::with_offset(&marker, 5, LEADER_EPOCH), None)
            .unwrap();
        drop(log);
        let log = PartitionLog::open(mem.clone()).unwrap();
        assert_eq!(log.ongoing_transactions(), vec![(8, 2), (9, 4)]);
        assert_eq!(log.aborted_transactions(0, 6).unwrap(), vec![(7, 0)]);
        assert_eq!(log.last_stable_offset(), 2);
        let restored = mem.producer(7).unwrap().unwrap();
        assert_eq!(
            (restored.last_marker, restored.coordinator_epoch),
            (Some(5), 3)
        );
        // The restored state fences an older coordinator, and the log goes on after the marker.
        assert!(matches!(
            log.write_marker(7, 0, true, 2),
            Err(AppendError::CoordinatorFenced { .. })
        ));
        assert_eq!(marker_visible(&log, 8, true).base_offset, 6);
        assert_eq!(log.last_stable_offset(), 4);
    }

    #[test]
    fn a_failed_marker_leaves_nothing_and_its_retry_lands() {
        let (mem, log) = memory_log();
        log.append_visible(&txn_batch(2, 7, 0)).unwrap();
        // Batch and index entry written, producer state not.
        mem.set_faults(Faults {
            after_writes: 2,
            fail_writes: 1,
            ..Faults::default()
        });
        assert!(log.write_marker(7, 0, false, 0).is_err());
        assert_eq!(mem.stored_bases(), vec![0]);
        assert_eq!(log.aborted_transactions(0, 10).unwrap(), vec![]);
        assert_eq!(log.ongoing_transactions(), vec![(7, 0)]);
        assert_eq!(marker_visible(&log, 7, false).base_offset, 2);
        assert_eq!(log.aborted_transactions(0, 10).unwrap(), vec![(7, 0)]);
    }

    #[test]
    fn transactions_and_the_aborted_index_survive_a_restart_and_leave_with_the_log_start() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (s, log) = log(dir.path());
            log.append_visible(&txn_batch(2, 7, 0)).unwrap();
            marker_visible(&log, 7, false);
            log.append_visible(&txn_batch(2, 7, 2)).unwrap();
            marker_visible(&log, 7, false);
            log.append_visible(&txn_batch(1, 8, 0)).unwrap();
            s.close().unwrap();
        }
        let (s, log) = log(dir.path());
        assert_eq!(log.ongoing_transactions(), vec![(8, 6)]);
        assert_eq!(log.last_stable_offset(), 6);
        assert_eq!(
            log.aborted_transactions(0, 7).unwrap(),
            vec![(7, 0), (7, 3)]
        );
        // The index entries of transactions whose marker is below the log start go.
        log.advance_log_start(3).unwrap();
        assert_eq!(log.aborted_transactions(0, 7).unwrap(), vec![(7, 3)]);
        // A partition that never saw a transaction has none, and loads no producers at open.
        let other = PartitionLog::open(s.open_partition(uuid::Uuid::nil(), 1).unwrap()).unwrap();
        assert!(other.producers.lock().unwrap().is_none());
        assert_eq!(other.last_stable_offset(), 0);
    }

    /// Compaction as Kafka's cleaner with transactions: it stops at the last stable offset,
    /// removes aborted batches without letting their keys supersede anything, keeps markers.
    #[test]
    fn compaction_drops_aborted_batches_and_stops_at_the_last_stable_offset() {
        use crate::log::compaction::Policy;
        use crate::log::records::tests::{raw_batch, record};
        let (mem, log) = memory_log();
        // Every record has key "k".
        let plain = || batch::validate(&raw_batch(0, 1, &record(0, false, b"v")), 1 << 20).unwrap();
        let txn = |pid| {
            let b = batch::tests::with_txn(&raw_batch(0, 1, &record(0, false, b"t")), pid, 0, 0);
            batch::validate(&b, 1 << 20).unwrap()
        };
        log.append_visible(&plain()).unwrap(); // 0
        log.append_visible(&txn(7)).unwrap(); // 1, aborted
        marker_visible(&log, 7, false); // 2
        log.append_visible(&txn(9)).unwrap(); // 3, ongoing
        log.append_visible(&plain()).unwrap(); // 4
        log.append_visible(&plain()).unwrap(); // 5, the active tail
        let policy = Policy {
            now_ms: crate::now_ms() + 1000,
            delete_retention_ms: 0,
            decode_cap: 1 << 20,
        };
        // Below the LSO (3): the aborted batch goes, and k@0 stays, as k@1 never counted; k@4
        // is above the LSO and supersedes nothing yet.
        assert_eq!(log.compact(policy, 0).unwrap(), 1);
        assert_eq!(mem.stored_bases(), vec![0, 2, 3, 4, 5]);
        // Once the second transaction aborts, its batch goes too and k@5 supersedes the rest.
        // The first marker's transaction is now empty: it gets a delete horizon (a rewrite).
        marker_visible(&log, 9, false); // 6
        assert_eq!(log.compact(policy, 0).unwrap(), 4);
        assert_eq!(mem.stored_bases(), vec![2, 5, 6]);
        assert_eq!(
            log.aborted_transactions(0, 7).unwrap(),
            vec![(7, 1), (9, 3)]
        );
        let stamped = log.batch_at(2).unwrap().unwrap();
        let h = StoredHeader::parse(&stamped).unwrap();
        assert!(h.is_control() && h.is_transactional());
        assert_eq!(h.delete_horizon(), Some(policy.now_ms));
        assert_eq!(
            batch::parse_marker(&stamped),
            Some(batch::Marker {
                commit: false,
                coordinator_epoch: 0
            })
        );
        // Before the horizon nothing changes; after it, the marker goes, and its index entry
        // with it (first, so no entry is ever left without its marker).
        let early = Policy {
            now_ms: policy.now_ms - 1,
            ..policy
        };
        assert_eq!(log.compact(early, 0).unwrap(), 0);
        assert_eq!(log.compact(policy, 0).unwrap(), 1);
        assert_eq!(mem.stored_bases(), vec![5, 6]);
        assert_eq!(log.aborted_transactions(0, 7).unwrap(), vec![(9, 3)]);
        assert_eq!(read_bases(&log, 0), vec![5, 6]);
    }

    /// A marker's key (its control type) is no record key: a record whose key has the same
    /// bytes is not superseded by it.
    #[test]
    fn compaction_never_takes_a_marker_for_a_record() {
        use crate::log::compaction::Policy;
        use crate::log::records::tests::raw_batch;
        let (mem, log) = memory_log();
        // One record whose key is a commit marker's: version 0, type 1.
        let mut rec = vec![0u8, 0, 0, 8, 0, 0, 0, 1, 2, b'v', 0];
        rec.insert(0, (rec.len() as u8) << 1);
        let keyed = batch::validate(&raw_batch(0, 1, &rec), 1 << 20).unwrap();
        log.append_visible(&keyed).unwrap(); // 0
        log.append_visible(&txn_batch(1, 7, 0)).unwrap(); // 1
        marker_visible(&log, 7, true); // 2
        log.append_visible(&batch::validate(&make_batch(1, 0), 1 << 20).unwrap())
            .unwrap(); // 3, the active tail
        let policy = Policy {
            now_ms: crate::now_ms() + 1000,
            delete_retention_ms: 0,
            decode_cap: 1 << 20,
        };
        log.compact(policy, 0).unwrap();
        assert_eq!(mem.stored_bases(), vec![0, 1, 2, 3]);
    }

    /// A producer's committed transaction after its aborted one keeps its records: both passes
    /// of compaction must see the abort marker end the aborted transaction.
    #[test]
    fn compaction_keeps_a_producers_committed_transaction_after_its_aborted_one() {
        use crate::log::compaction::Policy;
        use crate::log::records::tests::raw_batch;
        let (mem, log) = memory_log();
        let keyed = |key: u8| {
            let mut rec = vec![0u8, 0, 0, 2, key, 2, b'v', 0];
            rec.insert(0, (rec.len() as u8) << 1);
            raw_batch(0, 1, &rec)
        };
        let txn = |key, seq| {
            let b = batch::tests::with_txn(&keyed(key), 7, 0, seq);
            batch::validate(&b, 1 << 20).unwrap()
        };
        log.append_visible(&txn(b'k', 0)).unwrap(); // 0
        marker_visible(&log, 7, false); // 1
        log.append_visible(&txn(b'z', 1)).unwrap(); // 2
        marker_visible(&log, 7, true); // 3
        log.append_visible(&batch::validate(&keyed(b'k'), 1 << 20).unwrap())
            .unwrap(); // 4, the active tail
        let policy = Policy {
            now_ms: crate::now_ms() + 1000,
            delete_retention_ms: 0,
            decode_cap: 1 << 20,
        };
        assert_eq!(log.compact(policy, 0).unwrap(), 1);
        assert_eq!(mem.stored_bases(), vec![1, 2, 3, 4]);
    }

    /// The sled store after a crash that kept an abort marker but not the writes after it (its
    /// index entry, its producer state): the reopened partition restores both from the marker.
    #[test]
    fn a_sled_partition_reopened_after_a_cut_marker_restores_its_effect() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (s, log) = log(dir.path());
            log.append_visible(&txn_batch(2, 7, 0)).unwrap();
            log.append_visible(&txn_batch(1, 8, 0)).unwrap();
            let abort = batch::Marker {
                commit: false,
                coordinator_epoch: 4,
            };
            let marker = batch::marker_batch(7, 0, abort, crate::now_ms());
            log.store
                .append(3, &batch::with_offset(&marker, 3, LEADER_EPOCH), None)
                .unwrap();
            s.close().unwrap();
        }
        let (_s, log) = log(dir.path());
        assert_eq!(log.offsets().high_watermark, 4);
        assert_eq!(log.ongoing_transactions(), vec![(8, 2)]);
        assert_eq!(log.last_stable_offset(), 2);
        assert_eq!(log.aborted_transactions(0, 4).unwrap(), vec![(7, 0)]);
        // The restored entry's stable offset is the other transaction's start: a search for a
        // range ending there stops at it.
        let entry = log.store.aborted_txns(0).next().unwrap().unwrap();
        assert_eq!(entry.last_stable_offset, 2);
        assert!(matches!(
            log.write_marker(7, 0, true, 3),
            Err(AppendError::CoordinatorFenced { got: 3, current: 4 })
        ));
    }
}
