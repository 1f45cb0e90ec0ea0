//! [`PartitionStorage`]: what a partition log needs from storage, in Kafka terms, and nothing more.
//!
//! The log ([`crate::log::PartitionLog`]) owns offsets, the high watermark and producer checks; the
//! storage only keeps batches (keyed by base offset, bytes as given), the log start offset, and
//! producer states, and answers in offset order. [`super::PartitionStore`] (sled) is the real one;
//! [`super::MemoryPartition`] keeps everything in memory and can inject faults, for tests. The
//! shape follows raft-rs's `Storage` trait: narrow, documented, with an in-memory twin.

use bytes::Bytes;

use super::StoreError;
use crate::log::batch::StoredHeader;
use crate::log::compaction::Change;
use crate::log::producer_state::{AbortedTxn, ProducerEntry};

/// Batch headers in offset order (see [`PartitionStorage::headers`]).
pub type HeaderIter<'a> = Box<dyn Iterator<Item = Result<StoredHeader, StoreError>> + 'a>;

/// Batches in offset order, each as its base offset and buffers (see
/// [`PartitionStorage::scan_parts`]).
pub type BatchIter<'a> = Box<dyn Iterator<Item = Result<(u64, Vec<Bytes>), StoreError>> + 'a>;

/// Entries of the aborted-transaction index in order of their last offset (see
/// [`PartitionStorage::aborted_txns`]).
pub type AbortedIter<'a> = Box<dyn Iterator<Item = Result<AbortedTxn, StoreError>> + 'a>;

/// One partition's batches, log start offset, idempotent producers' states and aborted
/// transactions.
///
/// Implementations need not be atomic across calls, nor within `append`: the log serializes
/// writers, gates readers at its high watermark, and repairs a torn tail when it opens.
pub trait PartitionStorage: Send + Sync {
    /// Stores `batch` (its base offset already stamped) under `base_offset`, replacing whatever
    /// is stored there, then, for an idempotent producer, that producer's new state. On error,
    /// any prefix of this may have been written: the batch but not the state, or part of the
    /// batch (the log removes it, or repairs it when it next opens).
    fn append(
        &self,
        base_offset: u64,
        batch: &[u8],
        producer: Option<(i64, &ProducerEntry)>,
    ) -> Result<(), StoreError>;

    /// Removes the batch stored at `base` (all of it); nothing if there is none.
    fn remove_batch(&self, base: u64) -> Result<(), StoreError>;

    /// The whole batch stored at `base`, if any.
    fn read_batch(&self, base: u64) -> Result<Option<Bytes>, StoreError>;

    /// The batch with the highest base offset: that offset, a prefix of its bytes that holds at
    /// least the batch header (the first chunk), and how many bytes are stored for it in all
    /// (less than the header's size if the batch is torn).
    fn last_batch(&self) -> Result<Option<(u64, Bytes, u64)>, StoreError>;

    /// The base offset of the batch that holds `offset` (the highest base at or below it), else
    /// of the first batch after it: where a read starts. None if there is neither.
    fn seek(&self, offset: u64) -> Result<Option<u64>, StoreError>;

    /// The header of every batch with base offset >= `from`, in offset order, without reading
    /// whole batches (for retention and lookups by time). Stops after the first error.
    fn headers(&self, from: u64) -> HeaderIter<'_>;

    /// The batches with base offset >= `from`, in offset order, each as one or more buffers that
    /// concatenate to the batch. Fetch sends them as they are: implementations should hand out
    /// their own buffers, not copies.
    fn scan_parts(&self, from: u64) -> BatchIter<'_>;

    /// The persisted log start offset (0 until [`truncate_head`](Self::truncate_head) moved it).
    fn log_start(&self) -> Result<u64, StoreError>;

    /// Persists `log_start` and removes the batches that lie wholly below it, at most
    /// `max_batches` of them, and the aborted transactions whose marker lies below it. Returns the bytes removed and whether such batches remain (callers
    /// loop, so one call stays short).
    fn truncate_head(&self, log_start: u64, max_batches: usize) -> Result<(u64, bool), StoreError>;

    /// Applies a compaction pass's changes all or nothing, skipping a change whose old batch is
    /// gone by now. Returns the change in stored bytes (negative: space freed).
    fn apply_compaction(&self, changes: &[Change]) -> Result<i64, StoreError>;

    /// Total bytes of the stored batches. May walk every batch: callers cache it.
    fn size_bytes(&self) -> Result<u64, StoreError>;

    /// One producer's stored state.
    fn producer(&self, producer_id: i64) -> Result<Option<ProducerEntry>, StoreError>;

    /// Stores one producer's state (the log uses this to restore it at open).
    fn put_producer(&self, producer_id: i64, entry: &ProducerEntry) -> Result<(), StoreError>;

    /// Every producer state of this partition.
    fn load_producers(&self) -> Result<Vec<(i64, ProducerEntry)>, StoreError>;

    /// Forgets one producer (expired).
    fn remove_producer(&self, producer_id: i64) -> Result<(), StoreError>;

    /// Records, once, that the partition has seen a transactional batch: only such partitions
    /// load their producers' states when they open (to know their ongoing transactions).
    fn mark_transactional(&self) -> Result<(), StoreError>;

    /// Whether [`mark_transactional`](Self::mark_transactional) was ever called.
    fn is_transactional(&self) -> Result<bool, StoreError>;

    /// Stores an aborted transaction under its last offset (replacing one stored there).
    fn put_aborted_txn(&self, txn: &AbortedTxn) -> Result<(), StoreError>;

    /// Removes the aborted transaction stored under `last_offset`, if any.
    fn remove_aborted_txn(&self, last_offset: u64) -> Result<(), StoreError>;

    /// The aborted transactions whose last offset is at or above `from`, in order of last
    /// offset. Stops after the first error.
    fn aborted_txns(&self, from: u64) -> AbortedIter<'_>;
}
