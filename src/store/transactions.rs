//! The transaction coordinator's durable state: one record per transactional id (Kafka's
//! `__transaction_state` value) and the offsets a transaction committed for groups, pending until
//! the transaction ends (Kafka keeps those as transactional records in `__consumer_offsets`).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::metadata::skipped;
use super::{CommittedOffset, Store, StoreError};

/// Where a transactional id's current transaction stands (Kafka's TransactionState).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnState {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
}

impl TxnState {
    /// The name Kafka's DescribeTransactions and ListTransactions use.
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
        }
    }
}

/// A transactional id as persisted: what Kafka's TransactionLogValue holds, plus the groups whose
/// offsets the transaction carries (Kafka has them as the groups' `__consumer_offsets` partitions
/// among `partitions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnRecord {
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// The epoch before the last bump, so a retried InitProducerId is recognised (KIP-360); -1 if
    /// none.
    pub last_producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub partitions: BTreeSet<(String, i32)>,
    pub groups: BTreeSet<String>,
    /// When the current transaction started (-1 if none is open).
    pub start_ms: i64,
    pub update_ms: i64,
    /// The client runs transaction version 2 (KIP-890): the epoch is bumped at every end.
    #[serde(default)]
    pub tv2: bool,
    /// The producer id this one gives way to once the transaction ends (version 2, when the
    /// epoch ran out); -1 if none.
    #[serde(default = "no_producer")]
    pub next_producer_id: i64,
    /// The producer id before the last rotation, so a retried EndTxn that caused it is known; -1 if
    /// none.
    #[serde(default = "no_producer")]
    pub previous_producer_id: i64,
}

fn no_producer() -> i64 {
    -1
}

/// Length-prefixed group, then the producer id: one group's pending offsets form a prefix range.
fn pending_key(group: &str, producer_id: i64) -> Option<Vec<u8>> {
    let len = u16::try_from(group.len()).ok()?;
    let mut k = Vec::with_capacity(10 + group.len());
    k.extend_from_slice(&len.to_be_bytes());
    k.extend_from_slice(group.as_bytes());
    k.extend_from_slice(&producer_id.to_be_bytes());
    Some(k)
}

fn parse_pending_key(k: &[u8]) -> Option<(String, i64)> {
    let len = u16::from_be_bytes(k.get(0..2)?.try_into().ok()?) as usize;
    let group = std::str::from_utf8(k.get(2..2 + len)?).ok()?.to_string();
    let pid = i64::from_be_bytes(k.get(2 + len..)?.try_into().ok()?);
    Some((group, pid))
}

/// The offsets one producer's open transaction committed for one group.
pub type PendingOffsets = Vec<(String, i32, CommittedOffset)>;

impl Store {
    fn txn_tree(&self) -> Result<sled::Tree, StoreError> {
        Ok(self.inner.db.open_tree("transactions")?)
    }

    fn txn_offsets_tree(&self) -> Result<sled::Tree, StoreError> {
        Ok(self.inner.db.open_tree("txn_offsets")?)
    }

    /// Replaces a transactional id's record. Durable at the next flush.
    pub fn put_txn(&self, transactional_id: &str, rec: &TxnRecord) -> Result<(), StoreError> {
        let v = serde_json::to_vec(rec).map_err(|e| StoreError::encode("a transaction", e))?;
        self.txn_tree()?.insert(transactional_id.as_bytes(), v)?;
        Ok(())
    }

    /// Forgets a transactional id (expired).
    pub fn remove_txn(&self, transactional_id: &str) -> Result<(), StoreError> {
        self.txn_tree()?.remove(transactional_id.as_bytes())?;
        Ok(())
    }

    /// Every transactional id's record; one that does not decode is logged and skipped.
    pub fn load_txns(&self) -> Result<Vec<(String, TxnRecord)>, StoreError> {
        let mut out = Vec::new();
        for item in self.txn_tree()?.iter() {
            let (k, v) = item?;
            let Ok(id) = std::str::from_utf8(&k) else {
                skipped("a transactional id", &k, "not UTF-8");
                continue;
            };
            match serde_json::from_slice(&v) {
                Ok(rec) => out.push((id.to_string(), rec)),
                Err(e) => skipped("a transaction", &k, e),
            }
        }
        Ok(out)
    }

    /// Replaces the offsets a producer's open transaction carries for a group.
    pub fn put_pending_offsets(
        &self,
        group: &str,
        producer_id: i64,
        offsets: &PendingOffsets,
    ) -> Result<(), StoreError> {
        let key = pending_key(group, producer_id).ok_or_else(|| {
            StoreError::encode("a pending-offset key", "the group id is too long")
        })?;
        let v =
            serde_json::to_vec(offsets).map_err(|e| StoreError::encode("pending offsets", e))?;
        self.txn_offsets_tree()?.insert(key, v)?;
        Ok(())
    }

    /// Forgets the offsets a producer's transaction carried for a group (it ended).
    pub fn remove_pending_offsets(&self, group: &str, producer_id: i64) -> Result<(), StoreError> {
        if let Some(key) = pending_key(group, producer_id) {
            self.txn_offsets_tree()?.remove(key)?;
        }
        Ok(())
    }

    /// Every group's pending transactional offsets, by group and producer id.
    pub fn load_pending_offsets(&self) -> Result<Vec<(String, i64, PendingOffsets)>, StoreError> {
        let mut out = Vec::new();
        for item in self.txn_offsets_tree()?.iter() {
            let (k, v) = item?;
            let Some((group, pid)) = parse_pending_key(&k) else {
                skipped("a pending-offset key", &k, "malformed");
                continue;
            };
            match serde_json::from_slice(&v) {
                Ok(offsets) => out.push((group, pid, offsets)),
                Err(e) => skipped("pending offsets", &k, e),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_pending_offsets_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20, 500).unwrap();
        let rec = TxnRecord {
            producer_id: 7,
            producer_epoch: 2,
            last_producer_epoch: 1,
            timeout_ms: 60_000,
            state: TxnState::Ongoing,
            partitions: [("t".to_string(), 0)].into(),
            groups: ["g".to_string()].into(),
            start_ms: 5,
            update_ms: 6,
            tv2: true,
            next_producer_id: -1,
            previous_producer_id: 3,
        };
        store.put_txn("x", &rec).unwrap();
        assert_eq!(store.load_txns().unwrap(), vec![("x".to_string(), rec)]);
        let offsets = vec![(
            "t".to_string(),
            0,
            CommittedOffset {
                offset: 3,
                leader_epoch: -1,
                metadata: None,
                commit_timestamp_ms: 1,
            },
        )];
        store.put_pending_offsets("g", 7, &offsets).unwrap();
        assert_eq!(
            store.load_pending_offsets().unwrap(),
            vec![("g".to_string(), 7, offsets)]
        );
        store.remove_pending_offsets("g", 7).unwrap();
        assert!(store.load_pending_offsets().unwrap().is_empty());
    }
}
