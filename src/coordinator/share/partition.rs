//! One share partition's state: KIP-932's SharePartition, without I/O.
//!
//! Every offset from the share-partition start offset (SPSO, `start`) up to `end` (one past the
//! share-partition end offset, SPEO) is in flight and has an entry; offsets below `start` are
//! finished and forgotten, offsets from `end` on have never been acquired. So the memory one
//! partition holds is bounded by `max_record_locks`, the most offsets in flight at once
//! (Kafka's `group.share.partition.max.record.locks`): nothing is acquired at or past
//! `start + max_record_locks`, and one stuck record at the start holds the partition back, as in
//! Kafka.
//!
//! A record is AVAILABLE (released, or its lock expired), ACQUIRED by one member until a
//! deadline, or finished: ACKNOWLEDGED (accepted) or ARCHIVED (rejected, a gap, a control record,
//! or past the delivery-count limit). Finished records at the start move the start forward.
//! Deadlines are milliseconds of the caller's clock, so tests drive expiry by hand.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;

use crate::store::ShareStateRecord;

/// Kafka's acknowledge types (ShareAcknowledge's `AcknowledgeTypes`).
pub const GAP: i8 = 0;
pub const ACCEPT: i8 = 1;
pub const RELEASE: i8 = 2;
pub const REJECT: i8 = 3;
/// KIP-1222 (ShareFetch/ShareAcknowledge v2): the member still works on the record, so its
/// acquisition lock starts over; the record stays acquired and its delivery count is unchanged.
pub const RENEW: i8 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordState {
    Available,
    Acquired,
    Acknowledged,
    Archived,
}

impl RecordState {
    /// Kafka's numbering of the states (its share coordinator's records use the same).
    fn code(self) -> u8 {
        match self {
            RecordState::Available => 0,
            RecordState::Acquired => 1,
            RecordState::Acknowledged => 2,
            RecordState::Archived => 4,
        }
    }

    fn from_code(code: u8) -> Option<RecordState> {
        Some(match code {
            0 | 1 => RecordState::Available,
            2 => RecordState::Acknowledged,
            4 => RecordState::Archived,
            _ => return None,
        })
    }

    fn finished(self) -> bool {
        matches!(self, RecordState::Acknowledged | RecordState::Archived)
    }
}

#[derive(Debug, Clone)]
struct InFlight {
    state: RecordState,
    delivery_count: i16,
    /// The acquiring member while ACQUIRED.
    member: Option<Arc<str>>,
    /// When the acquisition lock expires (ACQUIRED only).
    deadline_ms: u64,
}

/// What a share partition's behaviour depends on, per group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `share.record.lock.duration.ms`.
    pub lock_duration_ms: u64,
    /// `share.delivery.count.limit`: a record delivered this often is archived when released.
    pub delivery_count_limit: i16,
    /// `group.share.partition.max.record.locks`.
    pub max_record_locks: usize,
}

/// A range of offsets acquired with one delivery count (ShareFetch's `AcquiredRecords`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acquired {
    pub first: i64,
    pub last: i64,
    pub delivery_count: i16,
}

#[derive(Debug, Clone)]
pub struct SharePartition {
    start: i64,
    end: i64,
    records: BTreeMap<i64, InFlight>,
}

impl SharePartition {
    /// A partition whose first record to deliver is `start`.
    pub fn new(start: i64) -> SharePartition {
        SharePartition {
            start,
            end: start,
            records: BTreeMap::new(),
        }
    }

    /// The share-partition start offset (SPSO).
    pub fn start(&self) -> i64 {
        self.start
    }

    /// One past the last offset ever acquired: where new records are read from.
    pub fn end(&self) -> i64 {
        self.end
    }

    /// Records now acquired (locks held).
    pub fn acquired_count(&self) -> usize {
        self.records
            .values()
            .filter(|r| r.state == RecordState::Acquired)
            .count()
    }

    /// Where a read for new acquisitions should start: the first available offset in flight, or
    /// the end.
    pub fn next_to_read(&self) -> i64 {
        self.records
            .iter()
            .find(|(_, r)| r.state == RecordState::Available)
            .map_or(self.end, |(&o, _)| o)
    }

    /// Whether records past `end` may be taken in: fewer than `max_record_locks` are in flight.
    pub fn has_room(&self, limits: &Limits) -> bool {
        self.end < self.lock_limit(limits)
    }

    /// The first offset that may not be in flight while the start is where it is.
    fn lock_limit(&self, limits: &Limits) -> i64 {
        self.start.saturating_add(limits.max_record_locks as i64)
    }

    /// Whether anything can be acquired without new records in the log.
    pub fn has_available(&self) -> bool {
        self.records
            .values()
            .any(|r| r.state == RecordState::Available)
    }

    /// The log lost offsets below `log_start` (retention, DeleteRecords): they can no longer be
    /// delivered, so the start moves up to it.
    pub fn skip_to(&mut self, log_start: i64) -> bool {
        if log_start <= self.start {
            return false;
        }
        self.records = self.records.split_off(&log_start);
        self.start = log_start;
        self.end = self.end.max(log_start);
        true
    }

    /// Acquires for `member` what it may of one batch `[base, last]` read from the log, adding
    /// the acquired ranges to `out`; at most `*budget` records, which it lowers. An `undeliverable`
    /// batch (a control batch, or an aborted transaction's under read_committed) is never
    /// delivered: its new offsets are archived at once. Offsets between the end and the
    /// batch (removed by compaction) are archived as gaps. Returns whether anything changed.
    #[allow(clippy::too_many_arguments)]
    pub fn acquire_batch(
        &mut self,
        base: i64,
        last: i64,
        undeliverable: bool,
        member: &Arc<str>,
        now_ms: u64,
        limits: &Limits,
        budget: &mut usize,
        out: &mut Vec<Acquired>,
    ) -> bool {
        let mut changed = false;
        let lock_limit = self.lock_limit(limits);
        let deadline_ms = now_ms.saturating_add(limits.lock_duration_ms);
        let mut offset = base.max(self.start);
        // Gaps before the batch are offsets no record has.
        while self.end < offset && self.end < lock_limit {
            self.records
                .insert(self.end, finished(RecordState::Archived, 0));
            self.end += 1;
            changed = true;
        }
        while offset <= last && *budget > 0 {
            if offset >= self.end {
                if offset >= lock_limit || offset != self.end {
                    break;
                }
                let state = if undeliverable {
                    finished(RecordState::Archived, 0)
                } else {
                    InFlight {
                        state: RecordState::Available,
                        delivery_count: 0,
                        member: None,
                        deadline_ms: 0,
                    }
                };
                self.records.insert(offset, state);
                self.end += 1;
                changed = true;
            }
            let r = self.records.get_mut(&offset).expect("in flight");
            if r.state == RecordState::Available {
                r.state = RecordState::Acquired;
                r.delivery_count = r.delivery_count.saturating_add(1);
                r.member = Some(member.clone());
                r.deadline_ms = deadline_ms;
                *budget -= 1;
                changed = true;
                push_range(out, offset, r.delivery_count);
            }
            offset += 1;
        }
        if changed {
            self.advance();
        }
        changed
    }

    /// Applies one acknowledgement batch of `member`: `types` holds one type for the whole
    /// range, or one per offset. Every offset must be acquired by the member (a gap may also
    /// name an offset no longer in flight, as a client acknowledges what it never saw),
    /// else nothing changes and the answer is INVALID_RECORD_STATE, as in Kafka. A renewed record's
    /// lock runs `lock_duration_ms` from `now_ms`. Which types a request may carry (RENEW only in v2
    /// with `IsRenewAck`) is the API's check.
    pub fn acknowledge(
        &mut self,
        member: &str,
        first: i64,
        last: i64,
        types: &[i8],
        limits: &Limits,
        now_ms: u64,
    ) -> Result<(), i16> {
        let span = last.checked_sub(first).and_then(|d| d.checked_add(1));
        let Some(span) = span.filter(|&s| s > 0) else {
            return Err(ResponseError::InvalidRequest.code());
        };
        if types.is_empty() || (types.len() != 1 && types.len() as i64 != span) {
            return Err(ResponseError::InvalidRequest.code());
        }
        if types.iter().any(|t| !(GAP..=RENEW).contains(t)) {
            return Err(ResponseError::InvalidRequest.code());
        }
        let type_of = |o: i64| {
            if types.len() == 1 {
                types[0]
            } else {
                types[(o - first) as usize]
            }
        };
        // Offsets below the start are finished and forgotten: acknowledging them again changes
        // nothing and is no error, as in Kafka (seen with 4.4: a record accepted twice, the
        // second time after the start passed it, answers NONE).
        if last >= self.end && last >= self.start {
            return Err(ResponseError::InvalidRecordState.code());
        }
        let first = first.max(self.start);
        if first > last {
            return Ok(());
        }
        for (&o, r) in self.records.range(first..=last) {
            let mine = r.state == RecordState::Acquired && r.member.as_deref() == Some(member);
            let finished_gap = type_of(o) == GAP && r.state.finished();
            if !(mine || finished_gap) {
                return Err(ResponseError::InvalidRecordState.code());
            }
        }
        for (&o, r) in self.records.range_mut(first..=last) {
            if r.state.finished() {
                continue;
            }
            match type_of(o) {
                ACCEPT => r.state = RecordState::Acknowledged,
                RELEASE => release(r, limits),
                RENEW => {
                    r.deadline_ms = now_ms.saturating_add(limits.lock_duration_ms);
                    continue;
                }
                _ => r.state = RecordState::Archived,
            }
            r.member = None;
        }
        self.advance();
        Ok(())
    }

    /// Releases every record `member` holds (it left, or closed its share session).
    pub fn release_member(&mut self, member: &str, limits: &Limits) -> bool {
        let mut changed = false;
        for r in self.records.values_mut() {
            if r.state == RecordState::Acquired && r.member.as_deref() == Some(member) {
                release(r, limits);
                changed = true;
            }
        }
        if changed {
            self.advance();
        }
        changed
    }

    /// Releases every record whose lock has expired at `now_ms`.
    pub fn expire(&mut self, now_ms: u64, limits: &Limits) -> bool {
        let mut changed = false;
        for r in self.records.values_mut() {
            if r.state == RecordState::Acquired && r.deadline_ms <= now_ms {
                release(r, limits);
                changed = true;
            }
        }
        if changed {
            self.advance();
        }
        changed
    }

    /// The earliest lock deadline, if any record is acquired.
    pub fn next_deadline(&self) -> Option<u64> {
        self.records
            .values()
            .filter(|r| r.state == RecordState::Acquired)
            .map(|r| r.deadline_ms)
            .min()
    }

    /// Moves the start to `offset` and forgets everything in flight (AlterShareGroupOffsets).
    pub fn reset(&mut self, offset: i64) {
        *self = SharePartition::new(offset);
    }

    fn advance(&mut self) {
        while let Some(entry) = self.records.first_entry() {
            if *entry.key() != self.start || !entry.get().state.finished() {
                break;
            }
            entry.remove();
            self.start += 1;
        }
        if self.records.is_empty() {
            self.start = self.start.max(self.end);
            self.end = self.start;
        }
    }

    /// The durable form of this state: the start, and runs of in-flight offsets sharing a state
    /// and delivery count. An acquired record is stored as available (its lock dies with the
    /// broker), keeping its delivery count, so a restart redelivers it as the next delivery.
    pub fn to_record(&self) -> ShareStateRecord {
        let mut runs: Vec<(i64, i64, u8, i16)> = Vec::new();
        for (&o, r) in &self.records {
            let state = match r.state {
                RecordState::Acquired => RecordState::Available,
                s => s,
            }
            .code();
            match runs.last_mut() {
                Some(run) if run.1 + 1 == o && run.2 == state && run.3 == r.delivery_count => {
                    run.1 = o
                }
                _ => runs.push((o, o, state, r.delivery_count)),
            }
        }
        ShareStateRecord {
            start: self.start,
            runs,
        }
    }

    /// The state a record describes; None if it is not what [`Self::to_record`] writes (runs
    /// out of order, with holes, or too many offsets).
    pub fn from_record(rec: &ShareStateRecord, max_offsets: usize) -> Option<SharePartition> {
        let mut p = SharePartition::new(rec.start);
        for &(first, last, state, delivery_count) in &rec.runs {
            if first != p.end || last < first || (last - first) as usize >= max_offsets {
                return None;
            }
            if p.records.len() + (last - first + 1) as usize > max_offsets {
                return None;
            }
            let state = RecordState::from_code(state)?;
            for o in first..=last {
                p.records.insert(
                    o,
                    InFlight {
                        state,
                        delivery_count,
                        member: None,
                        deadline_ms: 0,
                    },
                );
            }
            p.end = last + 1;
        }
        p.advance();
        Some(p)
    }

    /// The state and delivery count of one offset, for tests and descriptions.
    pub fn state_of(&self, offset: i64) -> Option<(RecordState, i16)> {
        self.records
            .get(&offset)
            .map(|r| (r.state, r.delivery_count))
    }
}

fn finished(state: RecordState, delivery_count: i16) -> InFlight {
    InFlight {
        state,
        delivery_count,
        member: None,
        deadline_ms: 0,
    }
}

/// A released or expired record is available again, unless it has been delivered as often as
/// the limit allows: then it is archived.
fn release(r: &mut InFlight, limits: &Limits) {
    r.member = None;
    r.state = if r.delivery_count >= limits.delivery_count_limit {
        RecordState::Archived
    } else {
        RecordState::Available
    };
}

fn push_range(out: &mut Vec<Acquired>, offset: i64, delivery_count: i16) {
    match out.last_mut() {
        Some(a) if a.last + 1 == offset && a.delivery_count == delivery_count => a.last = offset,
        _ => out.push(Acquired {
            first: offset,
            last: offset,
            delivery_count,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        lock_duration_ms: 1000,
        delivery_count_limit: 3,
        max_record_locks: 10,
    };

    fn acquire(
        p: &mut SharePartition,
        member: &str,
        base: i64,
        last: i64,
        now: u64,
    ) -> Vec<Acquired> {
        let mut out = Vec::new();
        let mut budget = usize::MAX;
        p.acquire_batch(
            base,
            last,
            false,
            &Arc::from(member),
            now,
            &LIMITS,
            &mut budget,
            &mut out,
        );
        out
    }

    fn range(first: i64, last: i64, delivery_count: i16) -> Acquired {
        Acquired {
            first,
            last,
            delivery_count,
        }
    }

    #[test]
    fn acquire_acknowledge_and_the_start_moves() {
        let mut p = SharePartition::new(0);
        assert_eq!(acquire(&mut p, "a", 0, 4, 0), vec![range(0, 4, 1)]);
        assert_eq!((p.start(), p.end()), (0, 5));
        // Acquired records are not acquired again.
        assert!(acquire(&mut p, "b", 0, 4, 0).is_empty());
        // Accepting the middle does not move the start; accepting the head does.
        p.acknowledge("a", 2, 3, &[ACCEPT], &LIMITS, 0).unwrap();
        assert_eq!(p.start(), 0);
        p.acknowledge("a", 0, 1, &[ACCEPT, REJECT], &LIMITS, 0)
            .unwrap();
        assert_eq!(p.start(), 4);
        assert_eq!(p.state_of(4), Some((RecordState::Acquired, 1)));
        p.acknowledge("a", 4, 4, &[ACCEPT], &LIMITS, 0).unwrap();
        assert_eq!((p.start(), p.end()), (5, 5));
    }

    #[test]
    fn only_the_acquiring_member_acknowledges() {
        let mut p = SharePartition::new(0);
        acquire(&mut p, "a", 0, 1, 0);
        let invalid = Err(ResponseError::InvalidRecordState.code());
        assert_eq!(p.acknowledge("b", 0, 1, &[ACCEPT], &LIMITS, 0), invalid);
        // Partly outside what was acquired: nothing changes.
        assert_eq!(p.acknowledge("a", 0, 2, &[ACCEPT], &LIMITS, 0), invalid);
        assert_eq!(p.state_of(0), Some((RecordState::Acquired, 1)));
        p.acknowledge("a", 0, 1, &[ACCEPT], &LIMITS, 0).unwrap();
        // Again, once the start has passed them: nothing to do, no error.
        assert_eq!(p.acknowledge("a", 0, 1, &[ACCEPT], &LIMITS, 0), Ok(()));
        // Again while still in flight above the start: no longer acquired.
        acquire(&mut p, "a", 2, 4, 0);
        p.acknowledge("a", 3, 3, &[ACCEPT], &LIMITS, 0).unwrap();
        assert_eq!(p.acknowledge("a", 3, 3, &[ACCEPT], &LIMITS, 0), invalid);
        assert_eq!(
            p.acknowledge("a", 3, 2, &[ACCEPT], &LIMITS, 0),
            Err(ResponseError::InvalidRequest.code())
        );
    }

    #[test]
    fn released_records_come_back_with_the_next_delivery_count_until_the_limit() {
        let mut p = SharePartition::new(0);
        for round in 1..=3 {
            assert_eq!(acquire(&mut p, "a", 0, 1, 0), vec![range(0, 1, round)]);
            p.acknowledge("a", 0, 1, &[RELEASE], &LIMITS, 0).unwrap();
        }
        // The third delivery was the last: released, they are archived and the start passes them.
        assert!(acquire(&mut p, "a", 0, 1, 0).is_empty());
        assert_eq!(p.start(), 2);
    }

    #[test]
    fn rejected_records_never_come_back() {
        let mut p = SharePartition::new(0);
        acquire(&mut p, "a", 0, 2, 0);
        p.acknowledge("a", 1, 1, &[REJECT], &LIMITS, 0).unwrap();
        p.acknowledge("a", 0, 0, &[RELEASE], &LIMITS, 0).unwrap();
        p.acknowledge("a", 2, 2, &[RELEASE], &LIMITS, 0).unwrap();
        assert_eq!(p.next_to_read(), 0);
        assert_eq!(
            acquire(&mut p, "b", 0, 2, 0),
            vec![range(0, 0, 2), range(2, 2, 2)]
        );
    }

    #[test]
    fn renewed_records_stay_acquired_with_a_new_lock() {
        let mut p = SharePartition::new(0);
        acquire(&mut p, "a", 0, 2, 100);
        assert_eq!(p.next_deadline(), Some(1100));
        p.acknowledge("a", 0, 1, &[RENEW], &LIMITS, 900).unwrap();
        assert_eq!(p.state_of(0), Some((RecordState::Acquired, 1)));
        // Only the unrenewed record's lock runs out at the old deadline.
        assert!(p.expire(1100, &LIMITS));
        assert_eq!(p.state_of(1), Some((RecordState::Acquired, 1)));
        assert_eq!(p.state_of(2), Some((RecordState::Available, 1)));
        assert_eq!(p.next_deadline(), Some(1900));
        // Renewed records are acknowledged as usual afterwards; another member cannot renew them.
        assert_eq!(
            p.acknowledge("b", 0, 0, &[RENEW], &LIMITS, 900),
            Err(ResponseError::InvalidRecordState.code())
        );
        p.acknowledge("a", 0, 1, &[ACCEPT], &LIMITS, 1000).unwrap();
        assert_eq!(p.start(), 2);
    }

    #[test]
    fn locks_expire_and_members_release() {
        let mut p = SharePartition::new(0);
        acquire(&mut p, "a", 0, 1, 100);
        acquire(&mut p, "b", 2, 3, 500);
        assert_eq!(p.next_deadline(), Some(1100));
        assert!(!p.expire(1099, &LIMITS));
        assert!(p.expire(1100, &LIMITS));
        assert_eq!(p.state_of(0), Some((RecordState::Available, 1)));
        assert_eq!(p.state_of(2), Some((RecordState::Acquired, 1)));
        assert!(p.release_member("b", &LIMITS));
        assert_eq!(p.acquired_count(), 0);
        assert_eq!(p.next_deadline(), None);
        // An expired lock's owner can no longer acknowledge.
        assert_eq!(
            p.acknowledge("a", 0, 0, &[ACCEPT], &LIMITS, 0),
            Err(ResponseError::InvalidRecordState.code())
        );
    }

    #[test]
    fn at_most_max_record_locks_in_flight_and_the_budget_is_kept() {
        let mut p = SharePartition::new(0);
        assert_eq!(acquire(&mut p, "a", 0, 99, 0), vec![range(0, 9, 1)]);
        p.acknowledge("a", 0, 3, &[ACCEPT], &LIMITS, 0).unwrap();
        assert_eq!(acquire(&mut p, "a", 10, 99, 0), vec![range(10, 13, 1)]);
        let mut p = SharePartition::new(0);
        let (mut out, mut budget) = (Vec::new(), 3);
        p.acquire_batch(
            0,
            9,
            false,
            &Arc::from("a"),
            0,
            &LIMITS,
            &mut budget,
            &mut out,
        );
        assert_eq!((out, budget, p.end()), (vec![range(0, 2, 1)], 0, 3));
    }

    #[test]
    fn gaps_and_control_batches_are_archived_not_delivered() {
        let mut p = SharePartition::new(0);
        assert_eq!(acquire(&mut p, "a", 3, 4, 0), vec![range(3, 4, 1)]);
        // The gap is archived, so the start passes it at once.
        assert_eq!((p.start(), p.state_of(1)), (3, None));
        let (mut out, mut budget) = (Vec::new(), usize::MAX);
        p.acquire_batch(
            5,
            5,
            true,
            &Arc::from("a"),
            0,
            &LIMITS,
            &mut budget,
            &mut out,
        );
        assert!(out.is_empty());
        p.acknowledge("a", 3, 4, &[ACCEPT], &LIMITS, 0).unwrap();
        assert_eq!((p.start(), p.end()), (6, 6));
        // A gap acknowledgement of what is already finished is fine.
        let mut p = SharePartition::new(0);
        acquire(&mut p, "a", 2, 3, 0);
        p.acknowledge("a", 0, 3, &[GAP, GAP, ACCEPT, ACCEPT], &LIMITS, 0)
            .unwrap();
        assert_eq!(p.start(), 4);
    }

    #[test]
    fn the_record_round_trips_with_acquired_records_available_again() {
        let mut p = SharePartition::new(10);
        acquire(&mut p, "a", 10, 15, 0);
        p.acknowledge("a", 11, 11, &[ACCEPT], &LIMITS, 0).unwrap();
        p.acknowledge("a", 12, 12, &[RELEASE], &LIMITS, 0).unwrap();
        let rec = p.to_record();
        assert_eq!(
            rec.runs,
            vec![(10, 10, 0, 1), (11, 11, 2, 1), (12, 15, 0, 1),]
        );
        let mut q = SharePartition::from_record(&rec, 10).unwrap();
        assert_eq!((q.start(), q.end()), (10, 16));
        assert_eq!(
            acquire(&mut q, "b", 10, 15, 0),
            vec![range(10, 10, 2), range(12, 15, 2)]
        );
        // Not what to_record writes: refused.
        let holes = ShareStateRecord {
            start: 0,
            runs: vec![(1, 2, 0, 1)],
        };
        assert!(SharePartition::from_record(&holes, 10).is_none());
        let huge = ShareStateRecord {
            start: 0,
            runs: vec![(0, i64::MAX - 1, 0, 1)],
        };
        assert!(SharePartition::from_record(&huge, 10).is_none());
    }

    #[test]
    fn skip_to_drops_what_the_log_lost() {
        let mut p = SharePartition::new(0);
        acquire(&mut p, "a", 0, 4, 0);
        assert!(p.skip_to(3));
        assert_eq!((p.start(), p.end()), (3, 5));
        assert!(p.skip_to(9));
        assert_eq!((p.start(), p.end(), p.acquired_count()), (9, 9, 0));
    }
}
