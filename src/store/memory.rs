//! [`MemoryPartition`]: a [`PartitionStorage`] kept in memory, with faults to inject, for tests.
//!
//! Batches live whole in a `BTreeMap` behind a mutex. A clone shares the same partition, so a test
//! can hand one to a [`crate::log::PartitionLog`], keep the other to change [`Faults`] or look
//! inside, and open a second log on it to play a restart (everything written survives it).
//!
//! Faults are counted per operation. A write is one storage operation that changes something:
//! storing a batch, storing a producer state (an idempotent append is two writes, batch then
//! state, as in the sled store), removing a batch or a producer, truncating, compacting. A read is
//! any other call.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;

use super::storage::{AbortedIter, BatchIter, HeaderIter, PartitionStorage};
use super::{IoError, StoreError};
use crate::log::batch::StoredHeader;
use crate::log::compaction::Change;
use crate::log::producer_state::{AbortedTxn, ProducerEntry};

/// What goes wrong, and when. The default is nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// Writes that succeed before `fail_writes` start failing.
    pub after_writes: usize,
    /// How many writes fail, once `after_writes` have succeeded (`usize::MAX`: all of them). A
    /// failing write changes nothing, unless `torn` is set.
    pub fail_writes: usize,
    /// A failing batch write stores the first half of the batch before it fails, as a write cut
    /// short by the disk would.
    pub torn: bool,
    /// Bytes of batches the "disk" holds: a batch write that would go past it fails, writing
    /// nothing (disk full). Removing batches makes room again.
    pub capacity: Option<u64>,
    /// How many reads fail, from the next one on.
    pub fail_reads: usize,
}

/// One partition in memory; cheap to clone, clones share it.
#[derive(Clone, Default)]
pub struct MemoryPartition {
    shared: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    batches: BTreeMap<u64, Bytes>,
    log_start: u64,
    producers: BTreeMap<i64, ProducerEntry>,
    transactional: bool,
    aborted: BTreeMap<u64, AbortedTxn>,
    faults: Faults,
    /// Writes attempted and failed so far, for tests to check what a fault hit.
    writes: usize,
    failed_writes: usize,
}

/// What a write is allowed to do under the current faults.
enum Admit {
    Ok,
    Fail,
    Torn,
}

fn injected(what: &str) -> StoreError {
    StoreError::Io(IoError(sled::Error::Io(std::io::Error::other(format!(
        "injected fault: {what}"
    )))))
}

impl State {
    /// Counts one write and says whether it goes through; `bytes` is what it adds to the batches.
    fn write(&mut self, bytes: u64) -> Admit {
        self.writes += 1;
        let f = &mut self.faults;
        // Only what adds batch bytes can find the disk full: removals must still free space.
        let full = bytes > 0
            && f.capacity.is_some_and(|cap| {
                self.batches.values().map(|b| b.len() as u64).sum::<u64>() + bytes > cap
            });
        let failing = if f.after_writes > 0 {
            f.after_writes -= 1;
            false
        } else if f.fail_writes > 0 {
            f.fail_writes = f
                .fail_writes
                .saturating_sub(usize::from(f.fail_writes != usize::MAX));
            true
        } else {
            false
        };
        if failing {
            self.failed_writes += 1;
            return if f.torn && bytes > 0 {
                Admit::Torn
            } else {
                Admit::Fail
            };
        }
        if full {
            self.failed_writes += 1;
            return Admit::Fail;
        }
        Admit::Ok
    }

    fn read(&mut self) -> Result<(), StoreError> {
        if self.faults.fail_reads > 0 {
            self.faults.fail_reads -= 1;
            return Err(injected("read failed"));
        }
        Ok(())
    }
}

fn header(base: u64, bytes: &[u8]) -> Result<StoredHeader, StoreError> {
    StoredHeader::parse(bytes).ok_or_else(|| {
        StoreError::corrupt(
            format!("the batch stored at offset {base}"),
            "truncated header",
        )
    })
}

impl MemoryPartition {
    pub fn new() -> MemoryPartition {
        MemoryPartition::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared.lock().expect("memory partition poisoned")
    }

    /// Replaces the faults to inject from now on.
    pub fn set_faults(&self, faults: Faults) {
        self.state().faults = faults;
    }

    /// The faults still to come (counts go down as they fire).
    pub fn faults(&self) -> Faults {
        self.state().faults.clone()
    }

    /// Writes attempted so far, and how many of them failed.
    pub fn write_counts(&self) -> (usize, usize) {
        let st = self.state();
        (st.writes, st.failed_writes)
    }

    /// The base offsets of every stored batch, whatever the log's high watermark.
    pub fn stored_bases(&self) -> Vec<u64> {
        self.state().batches.keys().copied().collect()
    }
}

impl PartitionStorage for MemoryPartition {
    fn append(
        &self,
        base_offset: u64,
        batch: &[u8],
        producer: Option<(i64, &ProducerEntry)>,
    ) -> Result<(), StoreError> {
        let mut st = self.state();
        match st.write(batch.len() as u64) {
            Admit::Ok => {}
            Admit::Fail => return Err(injected("batch write failed")),
            Admit::Torn => {
                let half = Bytes::copy_from_slice(&batch[..batch.len() / 2]);
                st.batches.insert(base_offset, half);
                return Err(injected("batch write torn"));
            }
        }
        st.batches
            .insert(base_offset, Bytes::copy_from_slice(batch));
        if let Some((id, entry)) = producer {
            match st.write(0) {
                Admit::Ok => {
                    st.producers.insert(id, entry.clone());
                }
                Admit::Fail | Admit::Torn => return Err(injected("producer state write failed")),
            }
        }
        Ok(())
    }

    fn remove_batch(&self, base: u64) -> Result<(), StoreError> {
        let mut st = self.state();
        match st.write(0) {
            Admit::Ok => {
                st.batches.remove(&base);
                Ok(())
            }
            _ => Err(injected("remove failed")),
        }
    }

    fn read_batch(&self, base: u64) -> Result<Option<Bytes>, StoreError> {
        let mut st = self.state();
        st.read()?;
        Ok(st.batches.get(&base).cloned())
    }

    fn last_batch(&self) -> Result<Option<(u64, Bytes, u64)>, StoreError> {
        let mut st = self.state();
        st.read()?;
        Ok(st
            .batches
            .last_key_value()
            .map(|(base, b)| (*base, b.clone(), b.len() as u64)))
    }

    fn seek(&self, offset: u64) -> Result<Option<u64>, StoreError> {
        let mut st = self.state();
        st.read()?;
        Ok(st
            .batches
            .range(..=offset)
            .next_back()
            .or_else(|| st.batches.range(offset..).next())
            .map(|(base, _)| *base))
    }

    fn headers(&self, from: u64) -> HeaderIter<'_> {
        let mut st = self.state();
        if let Err(e) = st.read() {
            return Box::new(std::iter::once(Err(e)));
        }
        let mut out = Vec::new();
        for (base, b) in st.batches.range(from..) {
            let h = header(*base, b);
            let stop = h.is_err();
            out.push(h);
            if stop {
                break;
            }
        }
        Box::new(out.into_iter())
    }

    fn scan_parts(&self, from: u64) -> BatchIter<'_> {
        let mut st = self.state();
        if let Err(e) = st.read() {
            return Box::new(std::iter::once(Err(e)));
        }
        let batches: Vec<_> = st
            .batches
            .range(from..)
            .map(|(base, b)| Ok((*base, vec![b.clone()])))
            .collect();
        Box::new(batches.into_iter())
    }

    fn log_start(&self) -> Result<u64, StoreError> {
        let mut st = self.state();
        st.read()?;
        Ok(st.log_start)
    }

    fn truncate_head(&self, log_start: u64, max_batches: usize) -> Result<(u64, bool), StoreError> {
        let mut st = self.state();
        if !matches!(st.write(0), Admit::Ok) {
            return Err(injected("truncate failed"));
        }
        st.log_start = log_start;
        let mut doomed = Vec::new();
        let mut more = false;
        for (base, b) in &st.batches {
            if header(*base, b)?.next_offset() > log_start {
                break;
            }
            if doomed.len() == max_batches {
                more = true;
                break;
            }
            doomed.push(*base);
        }
        let mut removed = 0;
        for base in doomed {
            removed += st.batches.remove(&base).map_or(0, |b| b.len() as u64);
        }
        st.aborted = st.aborted.split_off(&log_start);
        Ok((removed, more))
    }

    fn apply_compaction(&self, changes: &[Change]) -> Result<i64, StoreError> {
        let mut st = self.state();
        if !matches!(st.write(0), Admit::Ok) {
            return Err(injected("compaction failed"));
        }
        let mut delta = 0i64;
        for c in changes {
            match c {
                Change::Remove(key) => {
                    if let Some(old) = st.batches.remove(key) {
                        delta -= old.len() as i64;
                    }
                }
                Change::Replace {
                    old_key,
                    new_key,
                    bytes,
                } => {
                    if let Some(old) = st.batches.remove(old_key) {
                        delta += bytes.len() as i64 - old.len() as i64;
                        st.batches.insert(*new_key, bytes.clone());
                    }
                }
            }
        }
        Ok(delta)
    }

    fn size_bytes(&self) -> Result<u64, StoreError> {
        let mut st = self.state();
        st.read()?;
        Ok(st.batches.values().map(|b| b.len() as u64).sum())
    }

    fn producer(&self, producer_id: i64) -> Result<Option<ProducerEntry>, StoreError> {
        let mut st = self.state();
        st.read()?;
        Ok(st.producers.get(&producer_id).cloned())
    }

    fn put_producer(&self, producer_id: i64, entry: &ProducerEntry) -> Result<(), StoreError> {
        let mut st = self.state();
        if !matches!(st.write(0), Admit::Ok) {
            return Err(injected("producer state write failed"));
        }
        st.producers.insert(producer_id, entry.clone());
        Ok(())
    }

    fn load_producers(&self) -> Result<Vec<(i64, ProducerEntry)>, StoreError> {
        let mut st = self.state();
        st.read()?;
        Ok(st
            .producers
            .iter()
            .map(|(id, e)| (*id, e.clone()))
            .collect())
    }

    fn remove_producer(&self, producer_id: i64) -> Result<(), StoreError> {
        let mut st = self.state();
        if !matches!(st.write(0), Admit::Ok) {
            return Err(injected("producer state removal failed"));
        }
        st.producers.remove(&producer_id);
        Ok(())
    }

    fn mark_transactional(&self) -> Result<(), StoreError> {
        let mut st = self.state();
        if !matches!(st.write(0), Admit::Ok) {
            return Err(injected("marking the partition transactional failed"));
        }
        st.transactional = true;
        Ok(())
    }

    fn is_transactional(&self) -> Result<bool, StoreError> {
        let mut st = self.state();
        st.read()?;
        Ok(st.transactional)
    }

    fn put_aborted_txn(&self, txn: &AbortedTxn) -> Result<(), StoreError> {
        let mut st = self.state();
        if !matches!(st.write(0), Admit::Ok) {
            return Err(injected("aborted transaction write failed"));
        }
        st.aborted.insert(txn.last_offset, *txn);
        Ok(())
    }

    fn remove_aborted_txn(&self, last_offset: u64) -> Result<(), StoreError> {
        let mut st = self.state();
        if !matches!(st.write(0), Admit::Ok) {
            return Err(injected("aborted transaction removal failed"));
        }
        st.aborted.remove(&last_offset);
        Ok(())
    }

    fn aborted_txns(&self, from: u64) -> AbortedIter<'_> {
        let mut st = self.state();
        if let Err(e) = st.read() {
            return Box::new(std::iter::once(Err(e)));
        }
        let out: Vec<_> = st.aborted.range(from..).map(|(_, t)| Ok(*t)).collect();
        Box::new(out.into_iter())
    }
}
