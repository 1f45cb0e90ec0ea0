//! Idempotent producer state: per partition and producer id, the epoch and the last five batches'
//! sequence ranges, so a retried batch is recognised (and answered with its original offset) and a
//! gap or a stale epoch is refused, as Kafka's producer state manager does. For a transactional
//! producer also the first offset of its ongoing transaction in the partition (what holds the last
//! stable offset back) and the coordinator epoch of its last marker (Kafka's ProducerStateEntry).
//!
//! The state is written to the store right after the batch it describes, and a crash between the two
//! is repaired at open from the batch (`log::recover_tail`), so after a crash the two agree: a
//! producer that retries across a restart writes nothing twice.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// How many recent batches per producer are remembered for duplicate detection; producers keep at
/// most five requests in flight per partition.
pub const BATCHES_KEPT: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchMeta {
    pub first_seq: i32,
    pub last_seq: i32,
    pub base_offset: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerEntry {
    pub epoch: i16,
    pub batches: VecDeque<BatchMeta>,
    pub last_timestamp_ms: i64,
    /// The offset of the first batch of the producer's ongoing transaction in this partition (its
    /// first transactional batch since its last marker); None outside a transaction. States
    /// written before transactions existed have none.
    #[serde(default)]
    pub txn_first_offset: Option<u64>,
    /// The coordinator epoch of the last marker written for this producer (-1: none): a marker
    /// from an older coordinator is a zombie's and is refused, as Kafka's checkCoordinatorEpoch.
    #[serde(default = "no_coordinator_epoch")]
    pub coordinator_epoch: i32,
    /// The offset of the last marker written for this producer: how a restart tells whether the
    /// state already reflects the marker that ends the log (see `log::partition::recover_tail`).
    #[serde(default)]
    pub last_marker: Option<u64>,
}

fn no_coordinator_epoch() -> i32 {
    -1
}

/// The sequence part of a batch header, for producers with an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sequenced {
    pub producer_id: i64,
    pub epoch: i16,
    pub first_seq: i32,
    pub last_seq: i32,
    /// The batch is part of a transaction (attribute bit 4).
    pub transactional: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Append,
    /// Already written: answer with the original base offset, write nothing.
    Duplicate {
        base_offset: u64,
    },
    /// An epoch older than the producer's current one: the producer was fenced.
    StaleEpoch {
        current: i16,
    },
    OutOfOrder(String),
    /// A non-transactional batch while the producer has a transaction ongoing in the partition:
    /// INVALID_TXN_STATE, as Kafka's appendDataBatch.
    InvalidTxnState,
}

fn next_seq(seq: i32) -> i32 {
    if seq == i32::MAX {
        0
    } else {
        seq + 1
    }
}

/// Checks a batch against the producer's state (None: never seen, or expired).
pub fn check(entry: Option<&ProducerEntry>, b: Sequenced) -> Verdict {
    let verdict = check_sequence(entry, b);
    let in_txn = entry.is_some_and(|e| e.txn_first_offset.is_some());
    if verdict == Verdict::Append && in_txn && !b.transactional {
        return Verdict::InvalidTxnState;
    }
    verdict
}

fn check_sequence(entry: Option<&ProducerEntry>, b: Sequenced) -> Verdict {
    let Some(e) = entry else {
        // No state (new producer, or its state expired): any sequence is accepted, as in Kafka.
        return Verdict::Append;
    };
    if b.epoch < e.epoch {
        return Verdict::StaleEpoch { current: e.epoch };
    }
    if b.epoch > e.epoch {
        return if b.first_seq == 0 {
            Verdict::Append
        } else {
            Verdict::OutOfOrder(format!(
                "a new epoch {} must start at sequence 0, got {}",
                b.epoch, b.first_seq
            ))
        };
    }
    if let Some(dup) = e
        .batches
        .iter()
        .find(|m| m.first_seq == b.first_seq && m.last_seq == b.last_seq)
    {
        return Verdict::Duplicate {
            base_offset: dup.base_offset,
        };
    }
    match e.batches.back() {
        // An epoch a marker set starts at sequence 0 (Kafka's inSequence from NO_SEQUENCE).
        None if e.last_marker.is_some() && b.first_seq != 0 => Verdict::OutOfOrder(format!(
            "producer {} epoch {} must start at sequence 0, got {}",
            b.producer_id, b.epoch, b.first_seq
        )),
        None => Verdict::Append,
        Some(last) if b.first_seq == next_seq(last.last_seq) => Verdict::Append,
        Some(last) => Verdict::OutOfOrder(format!(
            "expected sequence {} for producer {} epoch {}, got {}",
            next_seq(last.last_seq),
            b.producer_id,
            b.epoch,
            b.first_seq
        )),
    }
}

/// The state after appending `b` at `base_offset`.
pub fn record(
    entry: Option<&ProducerEntry>,
    b: Sequenced,
    base_offset: u64,
    now_ms: i64,
) -> ProducerEntry {
    let mut e = match entry {
        Some(e) => e.clone(),
        None => ProducerEntry::new(b.epoch, now_ms),
    };
    if e.epoch != b.epoch {
        // A new epoch restarts sequences; an ongoing transaction stays ongoing until its
        // marker, whatever epoch that carries.
        e.epoch = b.epoch;
        e.batches.clear();
    }
    if b.transactional && e.txn_first_offset.is_none() {
        e.txn_first_offset = Some(base_offset);
    }
    e.batches.push_back(BatchMeta {
        first_seq: b.first_seq,
        last_seq: b.last_seq,
        base_offset,
    });
    while e.batches.len() > BATCHES_KEPT {
        e.batches.pop_front();
    }
    e.last_timestamp_ms = now_ms;
    e
}

/// One aborted transaction of a partition: an entry of its aborted-transaction index (Kafka's
/// `.txnindex`), what a read_committed Fetch returns so the consumer drops the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: u64,
    /// The offset of the abort marker.
    pub last_offset: u64,
    /// The partition's first unstable offset once this transaction ended: no transaction
    /// aborted later began below it, so a search for transactions overlapping a range that ends
    /// at or below it can stop here (Kafka's `lastStableOffset` of an index entry).
    pub last_stable_offset: u64,
}

impl ProducerEntry {
    /// A producer seen for the first time, with nothing written yet.
    pub fn new(epoch: i16, now_ms: i64) -> ProducerEntry {
        ProducerEntry {
            epoch,
            batches: VecDeque::new(),
            last_timestamp_ms: now_ms,
            txn_first_offset: None,
            coordinator_epoch: no_coordinator_epoch(),
            last_marker: None,
        }
    }
}

/// Why a transaction marker was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkerVerdict {
    /// The marker's producer epoch is older than the producer's.
    StaleEpoch { current: i16 },
    /// The marker comes from an older coordinator than the last marker did.
    CoordinatorFenced { current: i32 },
}

/// The state after a transaction marker at `offset`, or why the marker is refused (Kafka's
/// appendEndTxnMarker): the transaction ends; a newer epoch becomes the producer's (transaction
/// version 2 bumps it at every commit and the marker carries the new one), which restarts
/// sequences. Also returns the first offset of the transaction it ended, if it had data here.
pub fn end_txn(
    entry: Option<&ProducerEntry>,
    epoch: i16,
    coordinator_epoch: i32,
    offset: u64,
    now_ms: i64,
) -> Result<(ProducerEntry, Option<u64>), MarkerVerdict> {
    let mut e = match entry {
        Some(e) => e.clone(),
        None => ProducerEntry::new(epoch, now_ms),
    };
    if epoch < e.epoch {
        return Err(MarkerVerdict::StaleEpoch { current: e.epoch });
    }
    if coordinator_epoch < e.coordinator_epoch {
        return Err(MarkerVerdict::CoordinatorFenced {
            current: e.coordinator_epoch,
        });
    }
    if epoch != e.epoch {
        e.epoch = epoch;
        e.batches.clear();
    }
    let first = e.txn_first_offset.take();
    e.coordinator_epoch = coordinator_epoch;
    e.last_marker = Some(offset);
    e.last_timestamp_ms = now_ms;
    Ok((e, first))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(epoch: i16, first: i32, last: i32) -> Sequenced {
        Sequenced {
            producer_id: 7,
            epoch,
            first_seq: first,
            last_seq: last,
            transactional: false,
        }
    }

    fn txn(epoch: i16, first: i32, last: i32) -> Sequenced {
        Sequenced {
            transactional: true,
            ..seq(epoch, first, last)
        }
    }

    #[test]
    fn a_transaction_starts_at_its_first_batch_and_ends_at_its_marker() {
        let e = record(None, seq(0, 0, 4), 10, 1);
        assert_eq!(e.txn_first_offset, None);
        let e = record(Some(&e), txn(0, 5, 9), 20, 2);
        let e = record(Some(&e), txn(0, 10, 14), 30, 3);
        assert_eq!(e.txn_first_offset, Some(20));
        // Plain batches are refused while the transaction is ongoing (duplicates still found).
        assert_eq!(check(Some(&e), seq(0, 15, 15)), Verdict::InvalidTxnState);
        assert_eq!(
            check(Some(&e), txn(0, 10, 14)),
            Verdict::Duplicate { base_offset: 30 }
        );
        // A marker with an older epoch or coordinator epoch is refused.
        let (ended, first) = end_txn(Some(&e), 0, 3, 40, 4).unwrap();
        assert_eq!((ended.txn_first_offset, first), (None, Some(20)));
        assert_eq!(ended.last_marker, Some(40));
        assert_eq!(ended.batches.len(), 3, "the same epoch keeps sequences");
        assert_eq!(
            end_txn(Some(&ended), 0, 2, 41, 5),
            Err(MarkerVerdict::CoordinatorFenced { current: 3 })
        );
        // A bumped epoch (transaction version 2) restarts sequences.
        let (bumped, first) = end_txn(Some(&ended), 1, 3, 41, 5).unwrap();
        assert_eq!((bumped.epoch, bumped.batches.len(), first), (1, 0, None));
        assert_eq!(
            end_txn(Some(&bumped), 0, 3, 42, 6),
            Err(MarkerVerdict::StaleEpoch { current: 1 })
        );
        // A marker for a producer never seen here is written anyway.
        let (fresh, first) = end_txn(None, 2, 0, 50, 7).unwrap();
        assert_eq!((fresh.epoch, first), (2, None));
    }

    #[test]
    fn states_written_before_transactions_still_load() {
        let old = r#"{"epoch":1,"batches":[],"last_timestamp_ms":5}"#;
        let e: ProducerEntry = serde_json::from_str(old).unwrap();
        assert_eq!(e, ProducerEntry::new(1, 5));
    }

    #[test]
    fn in_order_duplicates_gaps_and_epochs() {
        let e = record(None, seq(0, 0, 9), 100, 1);
        let e = record(Some(&e), seq(0, 10, 19), 110, 2);
        assert_eq!(check(Some(&e), seq(0, 20, 29)), Verdict::Append);
        assert_eq!(
            check(Some(&e), seq(0, 0, 9)),
            Verdict::Duplicate { base_offset: 100 }
        );
        assert_eq!(
            check(Some(&e), seq(0, 10, 19)),
            Verdict::Duplicate { base_offset: 110 }
        );
        assert!(matches!(
            check(Some(&e), seq(0, 25, 29)),
            Verdict::OutOfOrder(_)
        ));
        let bumped = record(Some(&e), seq(1, 0, 4), 120, 3);
        assert_eq!(bumped.batches.len(), 1);
        assert!(matches!(
            check(Some(&bumped), seq(0, 20, 29)),
            Verdict::StaleEpoch { current: 1 }
        ));
        assert!(matches!(
            check(Some(&e), seq(1, 3, 4)),
            Verdict::OutOfOrder(_)
        ));
        assert_eq!(check(None, seq(0, 500, 510)), Verdict::Append);
    }

    #[test]
    fn keeps_five_batches_and_wraps_sequences() {
        let mut e = record(None, seq(0, 0, 0), 0, 0);
        for i in 1..10 {
            e = record(Some(&e), seq(0, i, i), i as u64, 0);
        }
        assert_eq!(e.batches.len(), BATCHES_KEPT);
        assert!(matches!(
            check(Some(&e), seq(0, 0, 0)),
            Verdict::OutOfOrder(_)
        ));
        let e = record(None, seq(0, i32::MAX - 1, i32::MAX), 0, 0);
        assert_eq!(check(Some(&e), seq(0, 0, 3)), Verdict::Append);
    }
}
