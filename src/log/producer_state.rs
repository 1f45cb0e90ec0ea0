//! Idempotent producer state: per partition and producer id, the epoch and the last five batches'
//! sequence ranges, so a retried batch is recognised (and answered with its original offset) and a
//! gap or a stale epoch is refused, as Kafka's producer state manager does.
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
}

/// The sequence part of a batch header, for producers with an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sequenced {
    pub producer_id: i64,
    pub epoch: i16,
    pub first_seq: i32,
    pub last_seq: i32,
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
        Some(e) if e.epoch == b.epoch => e.clone(),
        _ => ProducerEntry {
            epoch: b.epoch,
            batches: VecDeque::new(),
            last_timestamp_ms: now_ms,
        },
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(epoch: i16, first: i32, last: i32) -> Sequenced {
        Sequenced {
            producer_id: 7,
            epoch,
            first_seq: first,
            last_seq: last,
        }
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
