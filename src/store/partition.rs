//! One partition's storage: its batches, stored in chunks under their base offset, its log start
//! offset and its idempotent producers' states.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use uuid::Uuid;

use super::keys::{
    chunk_key, chunks, key_offset, partition_key, partition_tree_name, producer_prefix,
};
use super::metadata::skipped;
use super::storage::{AbortedIter, BatchIter, HeaderIter, PartitionStorage};
use super::{Store, StoreError};
use crate::log::compaction::Change;
use crate::log::producer_state::{AbortedTxn, ProducerEntry};

impl Store {
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
            txn_partitions: self.inner.txn_partitions.clone(),
            aborted_txns: self.inner.aborted_txns.clone(),
            unflushed: self.inner.unflushed.clone(),
            space: self.inner.space.clone(),
            producer_prefix: producer_prefix(topic_id, partition),
            key: partition_key(topic_id, partition),
        })
    }
}

/// One partition's batches, keyed by base offset.
pub struct PartitionStore {
    tree: sled::Tree,
    log_start: sled::Tree,
    producers: sled::Tree,
    txn_partitions: sled::Tree,
    aborted_txns: sled::Tree,
    producer_prefix: Vec<u8>,
    key: String,
    unflushed: Arc<AtomicU64>,
    space: Arc<super::space::SpaceGuard>,
}

impl PartitionStore {
    /// Stores one producer's state; returns the bytes written.
    fn write_producer(&self, producer_id: i64, entry: &ProducerEntry) -> Result<usize, StoreError> {
        let state =
            serde_json::to_vec(entry).map_err(|e| StoreError::encode("a producer state", e))?;
        self.producers
            .insert(self.producer_key(producer_id), state.as_slice())?;
        Ok(state.len())
    }

    fn producer_key(&self, producer_id: i64) -> Vec<u8> {
        let mut pkey = self.producer_prefix.clone();
        pkey.extend_from_slice(&producer_id.to_be_bytes());
        pkey
    }

    /// An aborted transaction's key: the partition's prefix, then the marker's offset.
    fn aborted_key(&self, last_offset: u64) -> Vec<u8> {
        let mut k = self.producer_prefix.clone();
        k.extend_from_slice(&last_offset.to_be_bytes());
        k
    }

    fn count_written(&self, bytes: usize) {
        self.unflushed.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// The header of the batch stored at `base`, from its first chunk alone.
    fn header_at(&self, base: u64) -> Result<Option<crate::log::batch::StoredHeader>, StoreError> {
        self.tree
            .get(chunk_key(base, 0))?
            .map(|first| parse_header(base, &first))
            .transpose()
    }

    fn remove_chunks(&self, base: u64, batch: &mut sled::Batch) -> Result<(), StoreError> {
        for item in self.tree.scan_prefix(base.to_be_bytes()) {
            batch.remove(item?.0);
        }
        Ok(())
    }
}

impl PartitionStorage for PartitionStore {
    /// One producer's stored state.
    fn producer(&self, producer_id: i64) -> Result<Option<ProducerEntry>, StoreError> {
        match self.producers.get(self.producer_key(producer_id))? {
            Some(v) => serde_json::from_slice(&v).map(Some).map_err(|e| {
                StoreError::corrupt(format!("the state of producer {producer_id}"), e)
            }),
            None => Ok(None),
        }
    }

    fn put_producer(&self, producer_id: i64, entry: &ProducerEntry) -> Result<(), StoreError> {
        self.write_producer(producer_id, entry).map(|_| ())
    }

    /// This partition's producer states. One that does not decode is skipped and logged: the
    /// producer is then unknown, as after its expiry, rather than every produce to the partition
    /// failing on it.
    fn load_producers(&self) -> Result<Vec<(i64, ProducerEntry)>, StoreError> {
        let mut out = Vec::new();
        for item in self.producers.scan_prefix(&self.producer_prefix) {
            let (k, v) = item?;
            let Ok(id_bytes) = <[u8; 8]>::try_from(&k[self.producer_prefix.len()..]) else {
                skipped("a producer state key", &k, "malformed");
                continue;
            };
            match serde_json::from_slice(&v) {
                Ok(entry) => out.push((i64::from_be_bytes(id_bytes), entry)),
                Err(e) => skipped("a producer state", &k, e),
            }
        }
        Ok(out)
    }

    fn remove_producer(&self, producer_id: i64) -> Result<(), StoreError> {
        self.producers.remove(self.producer_key(producer_id))?;
        Ok(())
    }

    /// Stores a batch under its base offset, chunk by chunk in order (see the module doc for why
    /// not atomically), then the producer's new state if any. Readers stop at the high watermark,
    /// which moves only once this returns. A crash between the two leaves the batch without its
    /// state, which [`crate::log::PartitionLog::open`] restores from the batch itself (it is then
    /// the partition's last one).
    fn append(
        &self,
        base_offset: u64,
        batch: &[u8],
        producer: Option<(i64, &ProducerEntry)>,
    ) -> Result<(), StoreError> {
        self.space
            .check(self.unflushed.load(Ordering::Relaxed) + batch.len() as u64)?;
        for (k, chunk) in chunks(base_offset, batch) {
            self.tree.insert(k, chunk)?;
        }
        self.count_written(batch.len());
        if let Some((producer_id, entry)) = producer {
            let state = self.write_producer(producer_id, entry)?;
            self.count_written(state);
        }
        Ok(())
    }

    /// Removes one batch (all its chunks): a torn tail found at open.
    fn remove_batch(&self, base: u64) -> Result<(), StoreError> {
        for item in self.tree.scan_prefix(base.to_be_bytes()) {
            self.tree.remove(item?.0)?;
        }
        Ok(())
    }

    /// The whole batch stored at `base`, its chunks joined (no copy for a one-chunk batch).
    fn read_batch(&self, base: u64) -> Result<Option<Bytes>, StoreError> {
        let mut parts: Vec<Bytes> = Vec::new();
        for item in self.tree.scan_prefix(base.to_be_bytes()) {
            parts.push(Bytes::from_owner(item?.1));
        }
        Ok(join(parts))
    }

    /// The batch with the highest base offset: its offset (from its key), its first chunk (which
    /// holds the header) and how many bytes are stored for it, without joining its chunks.
    fn last_batch(&self) -> Result<Option<(u64, Bytes, u64)>, StoreError> {
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
        Ok(first.map(|f| (base, Bytes::from_owner(f), stored)))
    }

    /// The batch that holds `offset` if any, else the first batch after it: where a read starts.
    fn seek(&self, offset: u64) -> Result<Option<u64>, StoreError> {
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

    /// The header of every batch with base offset >= `from`, in offset order, reading only each
    /// batch's first chunk: for decisions (retention, lookups by time) that must not pull whole
    /// batches, let alone a whole partition, into memory.
    fn headers(&self, from: u64) -> HeaderIter<'_> {
        let mut next = Some(from);
        Box::new(std::iter::from_fn(move || {
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
        }))
    }

    /// Batches with base offset >= `from`, in offset order, each as its stored chunks (never
    /// joined: fetch hands them to the socket as they are).
    fn scan_parts(&self, from: u64) -> BatchIter<'_> {
        Box::new(Batches {
            inner: self.tree.range(chunk_key(from, 0)..),
            pending: None,
        })
    }

    /// Persists a new log start offset and removes the batches that lie wholly below it, at most
    /// `max_batches` of them (callers loop; a pass stays short). Returns the bytes removed and
    /// whether batches below the start remain.
    fn truncate_head(&self, log_start: u64, max_batches: usize) -> Result<(u64, bool), StoreError> {
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
        // An aborted transaction matters to reads only up to its marker.
        let below = self.aborted_key(0)..self.aborted_key(log_start);
        for item in self.aborted_txns.range(below) {
            self.aborted_txns.remove(item?.0)?;
        }
        Ok((removed, more))
    }

    /// Applies a compaction pass atomically. A change whose batch is gone by now (retention or
    /// DeleteRecords ran meanwhile) is skipped, so nothing below the log start comes back.
    /// Returns the change in stored bytes (negative: space freed).
    fn apply_compaction(&self, changes: &[Change]) -> Result<i64, StoreError> {
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
    fn size_bytes(&self) -> Result<u64, StoreError> {
        self.headers(0).map(|h| h.map(|h| h.size)).sum()
    }

    fn mark_transactional(&self) -> Result<(), StoreError> {
        self.txn_partitions.insert(&self.key, &[][..])?;
        Ok(())
    }

    fn is_transactional(&self) -> Result<bool, StoreError> {
        Ok(self.txn_partitions.contains_key(&self.key)?)
    }

    fn put_aborted_txn(&self, txn: &AbortedTxn) -> Result<(), StoreError> {
        let mut v = [0u8; 24];
        v[..8].copy_from_slice(&txn.producer_id.to_be_bytes());
        v[8..16].copy_from_slice(&txn.first_offset.to_be_bytes());
        v[16..].copy_from_slice(&txn.last_stable_offset.to_be_bytes());
        self.aborted_txns
            .insert(self.aborted_key(txn.last_offset), &v[..])?;
        self.count_written(v.len());
        Ok(())
    }

    fn remove_aborted_txn(&self, last_offset: u64) -> Result<(), StoreError> {
        self.aborted_txns.remove(self.aborted_key(last_offset))?;
        Ok(())
    }

    /// Entries from `from` on, within this partition's prefix; one that does not decode is an
    /// error (dropping it would show a consumer records of an aborted transaction).
    fn aborted_txns(&self, from: u64) -> AbortedIter<'_> {
        let prefix = self.producer_prefix.len();
        let mut done = false;
        let mut range = self.aborted_txns.range(self.aborted_key(from)..);
        Box::new(std::iter::from_fn(move || {
            if done {
                return None;
            }
            let item = range.next()?;
            let decoded = item.map_err(StoreError::from).and_then(|(k, v)| {
                if !k.starts_with(&self.producer_prefix) {
                    return Ok(None);
                }
                let at = |i: usize| v.get(i..i + 8).and_then(|b| b.try_into().ok());
                let (Some(last), Some(pid), Some(first), Some(lso)) = (
                    k.get(prefix..).and_then(|b| b.try_into().ok()),
                    at(0),
                    at(8),
                    at(16),
                ) else {
                    return Err(StoreError::corrupt(
                        format!("the aborted transaction at {:?}", &k[prefix..]),
                        "wrong length",
                    ));
                };
                Ok(Some(AbortedTxn {
                    producer_id: i64::from_be_bytes(pid),
                    first_offset: u64::from_be_bytes(first),
                    last_offset: u64::from_be_bytes(last),
                    last_stable_offset: u64::from_be_bytes(lso),
                }))
            });
            match decoded {
                Ok(Some(t)) => Some(Ok(t)),
                Ok(None) => {
                    done = true;
                    None
                }
                Err(e) => {
                    done = true;
                    Some(Err(e))
                }
            }
        }))
    }

    fn log_start(&self) -> Result<u64, StoreError> {
        Ok(self
            .log_start
            .get(&self.key)?
            .map(|v| key_offset(&v))
            .unwrap_or(0))
    }
}

/// One batch's chunks as one buffer; a one-chunk batch is that chunk itself, not a copy.
fn join(mut parts: Vec<Bytes>) -> Option<Bytes> {
    match parts.len() {
        0 => None,
        1 => parts.pop(),
        _ => {
            let mut out = bytes::BytesMut::with_capacity(parts.iter().map(|p| p.len()).sum());
            for p in &parts {
                out.extend_from_slice(p);
            }
            Some(out.freeze())
        }
    }
}

/// Groups a range of chunk entries back into whole batches, each chunk handed out as a `Bytes`
/// over sled's own buffer (no copy).
struct Batches {
    inner: sled::Iter,
    pending: Option<(u64, sled::IVec)>,
}

impl Iterator for Batches {
    type Item = Result<(u64, Vec<Bytes>), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (base, first) = match self.pending.take() {
            Some(p) => p,
            None => match self.inner.next()? {
                Ok((k, v)) => (key_offset(&k), v),
                Err(e) => return Some(Err(e.into())),
            },
        };
        let mut parts = vec![Bytes::from_owner(first)];
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
                    parts.push(Bytes::from_owner(v));
                }
            }
        }
        Some(Ok((base, parts)))
    }
}

/// The header of the batch stored at `base`, from its first chunk.
fn parse_header(base: u64, first: &[u8]) -> Result<crate::log::batch::StoredHeader, StoreError> {
    crate::log::batch::StoredHeader::parse(first).ok_or_else(|| {
        StoreError::corrupt(
            format!("the batch stored at offset {base}"),
            "truncated header",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::super::keys::CHUNK;
    use super::super::TopicRecord;
    use super::*;
    use std::collections::BTreeMap;

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
            p.append(base, &fake_batch(base, n, len), None).unwrap();
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

    #[test]
    fn aborted_transactions_are_per_partition_and_go_with_the_log_start_and_the_topic() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20, 1000).unwrap();
        let rec = TopicRecord {
            name: "t".into(),
            id: Uuid::new_v4(),
            partitions: 11,
            configs: BTreeMap::new(),
        };
        store.put_topic(&rec).unwrap();
        let txn = |pid: i64, first: u64, last: u64| AbortedTxn {
            producer_id: pid,
            first_offset: first,
            last_offset: last,
            last_stable_offset: last + 1,
        };
        // Partition 1's keys are a prefix of partition 10's but for the separator.
        let (p1, p10) = (
            store.open_partition(rec.id, 1).unwrap(),
            store.open_partition(rec.id, 10).unwrap(),
        );
        for (p, t) in [
            (&p1, txn(7, 0, 4)),
            (&p1, txn(8, 5, 9)),
            (&p10, txn(9, 0, 2)),
        ] {
            p.put_aborted_txn(&t).unwrap();
            p.mark_transactional().unwrap();
        }
        let all = |p: &PartitionStore, from| -> Vec<AbortedTxn> {
            p.aborted_txns(from).collect::<Result<_, _>>().unwrap()
        };
        assert_eq!(all(&p1, 0), vec![txn(7, 0, 4), txn(8, 5, 9)]);
        assert_eq!(all(&p1, 5), vec![txn(8, 5, 9)]);
        assert_eq!(all(&p10, 0), vec![txn(9, 0, 2)]);
        assert!(!store
            .open_partition(rec.id, 0)
            .unwrap()
            .is_transactional()
            .unwrap());
        // An entry whose marker is below the log start goes with the batches.
        p1.truncate_head(5, 100).unwrap();
        assert_eq!(all(&p1, 0), vec![txn(8, 5, 9)]);
        store.delete_topic(&rec).unwrap();
        assert!(all(&p1, 0).is_empty() && all(&p10, 0).is_empty());
        assert!(!p1.is_transactional().unwrap());
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
            p.append(0, b"first", None).unwrap();
            p.append(5, b"second", None).unwrap();
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
        p.append(9, &big, None).unwrap();
        p.append(20, b"after", None).unwrap();
        let got = scan(5);
        assert_eq!(got.len(), 3);
        assert_eq!((got[1].0, &got[1].1[..]), (9, &big[..]));
        assert_eq!(&got[2].1[..], b"after");
        assert_eq!(p.seek(15).unwrap(), Some(9));
        assert_eq!(&p.last_batch().unwrap().unwrap().1[..], b"after");
        assert_eq!(p.log_start().unwrap(), 0);
    }
}
