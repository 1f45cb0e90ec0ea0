//! The transaction coordinator (KIP-98, KIP-447), modelled on Apache Kafka's: one state machine per
//! transactional id, producer ids and epochs, the partitions and groups of the open transaction,
//! timeouts, and the end of a transaction (markers written to every partition, offsets applied).
//!
//! Every transactional id's state is a [`TxnRecord`] in the store, written before the answer that
//! depends on it (the caller awaits a flush), so a restart resumes where the coordinator was. The
//! states are Kafka's: Empty → Ongoing (AddPartitionsToTxn / AddOffsetsToTxn) → PrepareCommit or
//! PrepareAbort (EndTxn, a fencing InitProducerId, or the timeout) → CompleteCommit or CompleteAbort
//! once the markers are written. A prepared transaction is completed at start-up by
//! the task in [`markers::run`], at once when the broker starts: its decision was durable before any marker.
//!
//! All state sits behind one std mutex, never held across an `.await` and held only to check and
//! change a record: the slow part of ending a transaction (writing markers and waiting for a flush)
//! runs outside it, with the transactional id marked busy so that other requests for it get
//! CONCURRENT_TRANSACTIONS (retriable) meanwhile, as Kafka answers during its marker phase.
//!
//! # Layout
//! - this file: the state machine ([`TxnCoordinator`]);
//! - `markers`: ending a transaction on the partitions and groups, the timeout and recovery tasks.

pub mod markers;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use kafka_protocol::error::ResponseError;

use crate::store::{Store, StoreError, TxnRecord, TxnState};

/// The epoch after which a producer id is retired and a new one handed out (Kafka's
/// `Short.MaxValue - 1`: one epoch is kept for the fencing bump).
const MAX_EPOCH: i16 = i16::MAX - 1;

/// What the coordinator needs from the broker's configuration.
#[derive(Debug, Clone)]
pub struct TxnConfig {
    /// Kafka's `transaction.max.timeout.ms`: the longest `transaction.timeout.ms` a producer may ask.
    pub max_timeout_ms: i32,
    /// Kafka's `transactional.id.expiration.ms`: a transactional id with no transaction open and
    /// no request for this long is forgotten.
    pub id_expiration_ms: i64,
}

/// Handle to the coordinator; cheap to clone.
#[derive(Clone)]
pub struct TxnCoordinator {
    shared: Arc<Shared>,
}

struct Shared {
    store: Store,
    config: TxnConfig,
    txns: Mutex<HashMap<String, Txn>>,
}

struct Txn {
    rec: TxnRecord,
    /// A transition is under way outside the lock (markers being written).
    busy: bool,
}

/// The end of a transaction to carry out: markers to its partitions, offsets to its groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndPlan {
    pub transactional_id: String,
    pub producer_id: i64,
    /// The epoch the markers carry.
    pub producer_epoch: i16,
    pub commit: bool,
    pub partitions: BTreeSet<(String, i32)>,
    pub groups: BTreeSet<String>,
}

/// What InitProducerId leads to.
#[derive(Debug)]
pub enum Init {
    /// The producer id and epoch to answer with, once the record written is durable.
    Ready { producer_id: i64, epoch: i16 },
    /// An open transaction must be aborted first (its producer fenced); then ask again.
    AbortFirst(EndPlan),
}

/// What EndTxn leads to.
#[derive(Debug)]
pub enum End {
    /// Already done (a retry, or an abort with nothing to abort): answer at once with the
    /// producer id and epoch the client goes on with.
    Done { producer_id: i64, epoch: i16 },
    /// Carry the plan out, then [`TxnCoordinator::complete`] it.
    Markers(EndPlan),
}

/// A transaction as DescribeTransactions and ListTransactions show it.
#[derive(Debug, Clone)]
pub struct TxnDescription {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub start_ms: i64,
    pub partitions: BTreeSet<(String, i32)>,
}

fn code(e: ResponseError) -> i16 {
    e.code()
}

impl TxnCoordinator {
    /// Loads every transactional id's record. Prepared transactions are completed by
    /// [`markers::run`], which the broker starts once it is up.
    pub fn open(store: Store, config: TxnConfig) -> Result<TxnCoordinator, StoreError> {
        let txns = store
            .load_txns()?
            .into_iter()
            .map(|(id, rec)| (id, Txn { rec, busy: false }))
            .collect();
        Ok(TxnCoordinator {
            shared: Arc::new(Shared {
                store,
                config,
                txns: Mutex::new(txns),
            }),
        })
    }

    fn persist(&self, id: &str, rec: &TxnRecord) -> Result<(), i16> {
        self.shared.store.put_txn(id, rec).map_err(|e| {
            tracing::error!(transactional_id = id, error = %e, "storing a transaction failed");
            code(ResponseError::KafkaStorageError)
        })
    }

    /// InitProducerId with a transactional id. `expected` is the producer id and epoch a producer
    /// names to recover after an error (KIP-360); `allocate` hands out a new producer id.
    pub fn init_producer_id(
        &self,
        id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
        allocate: impl FnOnce() -> Result<i64, StoreError>,
    ) -> Result<Init, i16> {
        if timeout_ms <= 0 || timeout_ms > self.shared.config.max_timeout_ms {
            return Err(code(ResponseError::InvalidTransactionTimeout));
        }
        let now = crate::now_ms();
        let mut txns = self.shared.txns.lock().expect("txns poisoned");
        let Some(txn) = txns.get_mut(id) else {
            let producer_id = allocate().map_err(|e| {
                tracing::error!(error = %e, "allocating a producer id failed");
                code(ResponseError::KafkaStorageError)
            })?;
            let rec = TxnRecord {
                producer_id,
                producer_epoch: 0,
                last_producer_epoch: -1,
                timeout_ms,
                state: TxnState::Empty,
                partitions: BTreeSet::new(),
                groups: BTreeSet::new(),
                start_ms: -1,
                update_ms: now,
                tv2: false,
                next_producer_id: -1,
                previous_producer_id: -1,
            };
            self.persist(id, &rec)?;
            txns.insert(id.to_string(), Txn { rec, busy: false });
            return Ok(Init::Ready {
                producer_id,
                epoch: 0,
            });
        };
        if txn.busy {
            return Err(code(ResponseError::ConcurrentTransactions));
        }
        let rec = &txn.rec;
        if let Some((pid, _)) = expected {
            if pid != rec.producer_id {
                return Err(code(ResponseError::ProducerFenced));
            }
        }
        match rec.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => {
                Err(code(ResponseError::ConcurrentTransactions))
            }
            TxnState::Ongoing => {
                // Fence the producer of the open transaction: abort it with a bumped epoch, which
                // its late writes then fail against. Kafka answers CONCURRENT_TRANSACTIONS and the
                // client retries; the handler retries here instead, once the abort is done.
                let mut next = rec.clone();
                next.producer_epoch = rec.producer_epoch.saturating_add(1);
                next.last_producer_epoch = -1;
                next.state = TxnState::PrepareAbort;
                next.update_ms = now;
                self.persist(id, &next)?;
                let plan = plan_of(id, &next, false);
                txn.rec = next;
                txn.busy = true;
                Ok(Init::AbortFirst(plan))
            }
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                let mut next = rec.clone();
                match expected {
                    Some((_, epoch)) if epoch != rec.producer_epoch => {
                        if epoch == rec.last_producer_epoch {
                            // A retry of a bump that succeeded: answer it again.
                            return Ok(Init::Ready {
                                producer_id: rec.producer_id,
                                epoch: rec.producer_epoch,
                            });
                        }
                        return Err(code(ResponseError::ProducerFenced));
                    }
                    _ => {}
                }
                if rec.producer_epoch >= MAX_EPOCH {
                    next.previous_producer_id = rec.producer_id;
                    next.producer_id = allocate().map_err(|e| {
                        tracing::error!(error = %e, "allocating a producer id failed");
                        code(ResponseError::KafkaStorageError)
                    })?;
                    next.producer_epoch = 0;
                    next.last_producer_epoch = -1;
                } else {
                    next.producer_epoch = rec.producer_epoch + 1;
                    next.last_producer_epoch = if expected.is_some() {
                        rec.producer_epoch
                    } else {
                        -1
                    };
                }
                next.timeout_ms = timeout_ms;
                next.state = TxnState::Empty;
                next.partitions.clear();
                next.groups.clear();
                next.start_ms = -1;
                next.update_ms = now;
                next.tv2 = false;
                self.persist(id, &next)?;
                let (producer_id, epoch) = (next.producer_id, next.producer_epoch);
                txn.rec = next;
                Ok(Init::Ready { producer_id, epoch })
            }
        }
    }

    /// The transactional id's record, if the request's producer id and epoch are its current ones
    /// and no end is under way; else the error Kafka's coordinator gives (INVALID_PRODUCER_ID_MAPPING,
    /// PRODUCER_FENCED, CONCURRENT_TRANSACTIONS).
    fn current<'a>(
        txns: &'a HashMap<String, Txn>,
        id: &str,
        producer_id: i64,
        epoch: i16,
    ) -> Result<&'a Txn, i16> {
        let txn = txns
            .get(id)
            .ok_or(code(ResponseError::InvalidProducerIdMapping))?;
        if txn.rec.producer_id != producer_id {
            return Err(code(ResponseError::InvalidProducerIdMapping));
        }
        if txn.rec.producer_epoch != epoch {
            return Err(code(ResponseError::ProducerFenced));
        }
        if txn.busy
            || matches!(
                txn.rec.state,
                TxnState::PrepareCommit | TxnState::PrepareAbort
            )
        {
            return Err(code(ResponseError::ConcurrentTransactions));
        }
        Ok(txn)
    }

    /// [`current`](Self::current), for changing the record.
    fn check_producer<'a>(
        txns: &'a mut HashMap<String, Txn>,
        id: &str,
        producer_id: i64,
        epoch: i16,
    ) -> Result<&'a mut Txn, i16> {
        Self::current(txns, id, producer_id, epoch)?;
        Ok(txns.get_mut(id).expect("checked above"))
    }

    /// AddPartitionsToTxn: the transaction now spans these partitions (it starts, if it had not).
    /// Returns whether a record was written (the caller then awaits a flush).
    /// `tv2`: added by a transaction-version-2 client's Produce (KIP-890), not by the client itself.
    pub fn add_partitions(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
        tv2: bool,
    ) -> Result<bool, i16> {
        let mut txns = self.shared.txns.lock().expect("txns poisoned");
        let txn = Self::check_producer(&mut txns, id, producer_id, epoch)?;
        if txn.rec.state == TxnState::Ongoing
            && partitions.iter().all(|p| txn.rec.partitions.contains(p))
        {
            return Ok(false);
        }
        let mut next = txn.rec.clone();
        begin(&mut next, tv2);
        next.partitions.extend(partitions.iter().cloned());
        self.persist(id, &next)?;
        txn.rec = next;
        Ok(true)
    }

    /// AddOffsetsToTxn: the transaction will carry offsets for this group.
    /// `tv2`: added by a transaction-version-2 client's TxnOffsetCommit (KIP-890).
    pub fn add_offsets(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        group: &str,
        tv2: bool,
    ) -> Result<bool, i16> {
        let mut txns = self.shared.txns.lock().expect("txns poisoned");
        let txn = Self::check_producer(&mut txns, id, producer_id, epoch)?;
        if txn.rec.state == TxnState::Ongoing && txn.rec.groups.contains(group) {
            return Ok(false);
        }
        let mut next = txn.rec.clone();
        begin(&mut next, tv2);
        next.groups.insert(group.to_string());
        self.persist(id, &next)?;
        txn.rec = next;
        Ok(true)
    }

    /// Whether a transactional produce may append to this partition (KIP-890's verification, done
    /// by the one broker itself, Kafka's verify-only AddPartitionsToTxn): the producer is current and
    /// the partition is in its open transaction, else TRANSACTION_ABORTABLE. The coordinator's
    /// codes, as Kafka's answers its partition leaders; Produce reports them to the producer as the
    /// leader does (`api::produce`).
    pub fn verify_partition(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        topic: &str,
        partition: i32,
    ) -> Result<(), i16> {
        let txns = self.shared.txns.lock().expect("txns poisoned");
        let txn = Self::current(&txns, id, producer_id, epoch)?;
        if txn.rec.state != TxnState::Ongoing
            || !txn.rec.partitions.contains(&(topic.to_string(), partition))
        {
            return Err(code(ResponseError::TransactionAbortable));
        }
        Ok(())
    }

    /// Whether a TxnOffsetCommit belongs to the producer's open transaction with this group.
    pub fn verify_group(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        group: &str,
    ) -> Result<(), i16> {
        let txns = self.shared.txns.lock().expect("txns poisoned");
        let txn = Self::current(&txns, id, producer_id, epoch)?;
        if txn.rec.state != TxnState::Ongoing || !txn.rec.groups.contains(group) {
            return Err(code(ResponseError::InvalidTxnState));
        }
        Ok(())
    }

    /// EndTxn: prepares the commit or abort (durable before any marker) and returns the plan.
    /// `tv2` (EndTxn v5+, KIP-890): the epoch is bumped with every end, and the markers carry the
    /// bumped epoch; when the epoch runs out the producer id changes once the markers are written.
    pub fn end(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        tv2: bool,
        allocate: impl FnOnce() -> Result<i64, StoreError>,
    ) -> Result<End, i16> {
        let mut txns = self.shared.txns.lock().expect("txns poisoned");
        let txn = txns
            .get_mut(id)
            .ok_or(code(ResponseError::InvalidProducerIdMapping))?;
        let rec = &txn.rec;
        // Version 2 retries of an end that bumped the epoch (or rotated the producer id).
        let bumped_retry = rec.tv2 && i32::from(epoch) + 1 == i32::from(rec.producer_epoch);
        let rotated_retry = rec.tv2
            && rec.previous_producer_id == producer_id
            && epoch == MAX_EPOCH
            && rec.producer_epoch == 0;
        if rec.producer_id != producer_id && !rotated_retry {
            return Err(code(ResponseError::InvalidProducerIdMapping));
        }
        let valid_epoch = if rec.tv2 {
            match rec.state {
                TxnState::Ongoing | TxnState::Empty => epoch == rec.producer_epoch,
                TxnState::PrepareCommit | TxnState::PrepareAbort => bumped_retry,
                TxnState::CompleteCommit | TxnState::CompleteAbort => bumped_retry || rotated_retry,
            }
        } else {
            epoch == rec.producer_epoch
        };
        if !valid_epoch {
            return Err(code(ResponseError::ProducerFenced));
        }
        if txn.busy {
            return Err(code(ResponseError::ConcurrentTransactions));
        }
        let done = |rec: &TxnRecord| End::Done {
            producer_id: rec.producer_id,
            epoch: rec.producer_epoch,
        };
        match (rec.state, commit) {
            (TxnState::Ongoing, _) => {
                let mut next = rec.clone();
                next.state = if commit {
                    TxnState::PrepareCommit
                } else {
                    TxnState::PrepareAbort
                };
                if tv2 {
                    if rec.producer_epoch >= MAX_EPOCH {
                        next.next_producer_id = allocate().map_err(|e| {
                            tracing::error!(error = %e, "allocating a producer id failed");
                            code(ResponseError::KafkaStorageError)
                        })?;
                    }
                    next.last_producer_epoch = rec.producer_epoch;
                    next.producer_epoch = rec.producer_epoch.saturating_add(1);
                    next.tv2 = true;
                }
                next.update_ms = crate::now_ms();
                self.persist(id, &next)?;
                let plan = plan_of(id, &next, commit);
                txn.rec = next;
                txn.busy = true;
                Ok(End::Markers(plan))
            }
            // A version 2 abort with nothing open still bumps the epoch (the client starts over).
            (TxnState::Empty, false) if tv2 && rec.producer_epoch < MAX_EPOCH => {
                let mut next = rec.clone();
                next.last_producer_epoch = rec.producer_epoch;
                next.producer_epoch = rec.producer_epoch + 1;
                next.state = TxnState::CompleteAbort;
                next.tv2 = true;
                next.update_ms = crate::now_ms();
                self.persist(id, &next)?;
                let answer = done(&next);
                txn.rec = next;
                Ok(answer)
            }
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => Ok(done(rec)),
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
                Err(code(ResponseError::ConcurrentTransactions))
            }
            _ => Err(code(ResponseError::InvalidTxnState)),
        }
    }

    /// The producer id and epoch a transactional id's producer goes on with.
    pub fn producer_of(&self, id: &str) -> Option<(i64, i16)> {
        let txns = self.shared.txns.lock().expect("txns poisoned");
        txns.get(id)
            .map(|t| (t.rec.producer_id, t.rec.producer_epoch))
    }

    /// Records that a plan was carried out (markers durable, offsets applied): the transaction is
    /// complete. `ok == false` leaves it prepared, for the timeout task to retry.
    pub fn complete(&self, plan: &EndPlan, ok: bool) {
        let mut txns = self.shared.txns.lock().expect("txns poisoned");
        let Some(txn) = txns.get_mut(&plan.transactional_id) else {
            return;
        };
        txn.busy = false;
        if !ok || txn.rec.producer_id != plan.producer_id {
            return;
        }
        let mut next = txn.rec.clone();
        next.state = if plan.commit {
            TxnState::CompleteCommit
        } else {
            TxnState::CompleteAbort
        };
        next.partitions.clear();
        next.groups.clear();
        next.start_ms = -1;
        next.update_ms = crate::now_ms();
        if next.next_producer_id >= 0 {
            // Version 2 ran out of epochs: the markers carried the last one of the old id.
            next.previous_producer_id = next.producer_id;
            next.producer_id = next.next_producer_id;
            next.producer_epoch = 0;
            next.last_producer_epoch = -1;
            next.next_producer_id = -1;
        }
        // Not awaited: a crash before the next flush leaves the transaction prepared, and
        // recovery completes it again (writing a marker only where one is still missing).
        if self.persist(&plan.transactional_id, &next).is_ok() {
            txn.rec = next;
        }
    }

    /// Open transactions past their timeout, fenced and prepared for abort (Kafka's
    /// abortTimedOutTransactions), and prepared ones whose completion failed or a restart
    /// interrupted: the plans to carry out, each with whether it is resumed (see
    /// [`markers::carry_out`]).
    pub fn expired(&self, now_ms: i64) -> Vec<(EndPlan, bool)> {
        let mut txns = self.shared.txns.lock().expect("txns poisoned");
        let idle_before = now_ms.saturating_sub(self.shared.config.id_expiration_ms);
        txns.retain(|id, txn| {
            let idle = !txn.busy
                && matches!(
                    txn.rec.state,
                    TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
                )
                && txn.rec.update_ms < idle_before;
            if !idle {
                return true;
            }
            match self.shared.store.remove_txn(id) {
                Ok(()) => {
                    tracing::info!(transactional_id = %id, "transactional id expired");
                    false
                }
                Err(e) => {
                    tracing::warn!(transactional_id = %id, error = %e, "could not expire a transactional id");
                    true
                }
            }
        });
        let mut plans = Vec::new();
        for (id, txn) in txns.iter_mut() {
            if txn.busy {
                continue;
            }
            let rec = &txn.rec;
            match rec.state {
                TxnState::Ongoing
                    if rec.start_ms >= 0 && now_ms > rec.start_ms + i64::from(rec.timeout_ms) =>
                {
                    let mut next = rec.clone();
                    next.producer_epoch = rec.producer_epoch.saturating_add(1);
                    next.last_producer_epoch = -1;
                    next.state = TxnState::PrepareAbort;
                    next.update_ms = now_ms;
                    if self.persist(id, &next).is_err() {
                        continue;
                    }
                    tracing::info!(
                        transactional_id = %id,
                        producer_id = next.producer_id,
                        timeout_ms = next.timeout_ms,
                        "aborting a transaction that timed out"
                    );
                    plans.push((plan_of(id, &next, false), false));
                    txn.rec = next;
                    txn.busy = true;
                }
                TxnState::PrepareCommit | TxnState::PrepareAbort => {
                    plans.push((plan_of(id, rec, rec.state == TxnState::PrepareCommit), true));
                    txn.busy = true;
                }
                _ => {}
            }
        }
        plans
    }

    pub fn describe(&self, id: &str) -> Option<TxnDescription> {
        let txns = self.shared.txns.lock().expect("txns poisoned");
        txns.get(id).map(|t| describe(id, &t.rec))
    }

    /// Every transactional id, sorted.
    pub fn list(&self) -> Vec<TxnDescription> {
        let txns = self.shared.txns.lock().expect("txns poisoned");
        let mut out: Vec<TxnDescription> =
            txns.iter().map(|(id, t)| describe(id, &t.rec)).collect();
        out.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        out
    }
}

fn describe(id: &str, rec: &TxnRecord) -> TxnDescription {
    TxnDescription {
        transactional_id: id.to_string(),
        producer_id: rec.producer_id,
        producer_epoch: rec.producer_epoch,
        timeout_ms: rec.timeout_ms,
        state: rec.state,
        start_ms: rec.start_ms,
        partitions: rec.partitions.clone(),
    }
}

/// A transaction begins with its first partition or group.
fn begin(rec: &mut TxnRecord, tv2: bool) {
    let now = crate::now_ms();
    if rec.state != TxnState::Ongoing {
        rec.state = TxnState::Ongoing;
        rec.tv2 = tv2;
        rec.partitions.clear();
        rec.groups.clear();
        rec.start_ms = now;
    }
    rec.update_ms = now;
}

fn plan_of(id: &str, rec: &TxnRecord, commit: bool) -> EndPlan {
    EndPlan {
        transactional_id: id.to_string(),
        producer_id: rec.producer_id,
        producer_epoch: rec.producer_epoch,
        commit,
        partitions: rec.partitions.clone(),
        groups: rec.groups.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coordinator(dir: &std::path::Path) -> TxnCoordinator {
        let store = Store::open(dir, 1 << 20, 500).unwrap();
        TxnCoordinator::open(
            store,
            TxnConfig {
                max_timeout_ms: 60_000,
                id_expiration_ms: 3_600_000,
            },
        )
        .unwrap()
    }

    fn ids() -> impl FnMut() -> Result<i64, StoreError> {
        let mut next = 100;
        move || {
            next += 1;
            Ok(next)
        }
    }

    fn no_alloc() -> Result<i64, StoreError> {
        panic!("no producer id should be allocated")
    }

    fn ready(i: Init) -> (i64, i16) {
        match i {
            Init::Ready { producer_id, epoch } => (producer_id, epoch),
            other => panic!("expected Ready, got {other:?}"),
        }
    }

    fn parts(v: &[(&str, i32)]) -> Vec<(String, i32)> {
        v.iter().map(|(t, p)| (t.to_string(), *p)).collect()
    }

    #[test]
    fn a_transaction_goes_through_its_states() {
        let dir = tempfile::tempdir().unwrap();
        let c = coordinator(dir.path());
        let mut alloc = ids();
        let (pid, epoch) = ready(c.init_producer_id("x", 10_000, None, &mut alloc).unwrap());
        assert_eq!(epoch, 0);
        // Every later init bumps the epoch of the same producer id.
        let (pid2, epoch) = ready(c.init_producer_id("x", 10_000, None, &mut alloc).unwrap());
        assert_eq!((pid2, epoch), (pid, 1));
        assert_eq!(c.describe("x").unwrap().state, TxnState::Empty);
        // EndTxn without a transaction is an invalid transition.
        assert_eq!(
            c.end("x", pid, 1, true, false, no_alloc).unwrap_err(),
            ResponseError::InvalidTxnState.code()
        );
        assert!(c
            .add_partitions("x", pid, 1, &parts(&[("t", 0)]), false)
            .unwrap());
        assert!(!c
            .add_partitions("x", pid, 1, &parts(&[("t", 0)]), false)
            .unwrap());
        c.verify_partition("x", pid, 1, "t", 0).unwrap();
        assert_eq!(
            c.verify_partition("x", pid, 1, "t", 1).unwrap_err(),
            ResponseError::TransactionAbortable.code()
        );
        assert_eq!(
            c.verify_partition("x", pid, 0, "t", 0).unwrap_err(),
            ResponseError::ProducerFenced.code()
        );
        assert!(c.add_offsets("x", pid, 1, "g", false).unwrap());
        c.verify_group("x", pid, 1, "g").unwrap();
        let End::Markers(plan) = c.end("x", pid, 1, true, false, no_alloc).unwrap() else {
            panic!("expected markers");
        };
        assert!(plan.commit);
        assert_eq!(plan.partitions.len(), 1);
        assert_eq!(plan.groups.len(), 1);
        // While the markers are written, everything else waits.
        assert_eq!(
            c.add_partitions("x", pid, 1, &parts(&[("t", 0)]), false)
                .unwrap_err(),
            ResponseError::ConcurrentTransactions.code()
        );
        assert_eq!(
            c.init_producer_id("x", 10_000, None, &mut alloc)
                .unwrap_err(),
            ResponseError::ConcurrentTransactions.code()
        );
        c.complete(&plan, true);
        let d = c.describe("x").unwrap();
        assert_eq!(d.state, TxnState::CompleteCommit);
        assert!(d.partitions.is_empty());
        // A retried commit succeeds; an abort of a committed transaction does not.
        assert!(matches!(
            c.end("x", pid, 1, true, false, no_alloc),
            Ok(End::Done { .. })
        ));
        assert_eq!(
            c.end("x", pid, 1, false, false, no_alloc).unwrap_err(),
            ResponseError::InvalidTxnState.code()
        );
    }

    #[test]
    fn fencing_and_bad_producers() {
        let dir = tempfile::tempdir().unwrap();
        let c = coordinator(dir.path());
        let mut alloc = ids();
        assert_eq!(
            c.init_producer_id("x", 60_001, None, &mut alloc)
                .unwrap_err(),
            ResponseError::InvalidTransactionTimeout.code()
        );
        let (pid, _) = ready(c.init_producer_id("x", 10_000, None, &mut alloc).unwrap());
        c.add_partitions("x", pid, 0, &parts(&[("t", 0)]), false)
            .unwrap();
        assert_eq!(
            c.add_partitions("y", pid, 0, &parts(&[("t", 0)]), false)
                .unwrap_err(),
            ResponseError::InvalidProducerIdMapping.code()
        );
        assert_eq!(
            c.add_partitions("x", pid + 1, 0, &parts(&[("t", 0)]), false)
                .unwrap_err(),
            ResponseError::InvalidProducerIdMapping.code()
        );
        // A new producer of the same id: the open transaction is aborted with a bumped epoch.
        let Init::AbortFirst(plan) = c.init_producer_id("x", 10_000, None, &mut alloc).unwrap()
        else {
            panic!("expected an abort first");
        };
        assert!(!plan.commit);
        assert_eq!(plan.producer_epoch, 1);
        c.complete(&plan, true);
        let (_, epoch) = ready(c.init_producer_id("x", 10_000, None, &mut alloc).unwrap());
        assert_eq!(epoch, 2);
        // The old producer is fenced everywhere.
        assert_eq!(
            c.add_partitions("x", pid, 0, &parts(&[("t", 0)]), false)
                .unwrap_err(),
            ResponseError::ProducerFenced.code()
        );
        assert_eq!(
            c.end("x", pid, 0, true, false, no_alloc).unwrap_err(),
            ResponseError::ProducerFenced.code()
        );
        assert_eq!(
            c.init_producer_id("x", 10_000, Some((pid, 0)), &mut alloc)
                .unwrap_err(),
            ResponseError::ProducerFenced.code()
        );
    }

    #[test]
    fn timed_out_transactions_are_fenced_and_aborted() {
        let dir = tempfile::tempdir().unwrap();
        let c = coordinator(dir.path());
        let mut alloc = ids();
        let (pid, _) = ready(c.init_producer_id("x", 1_000, None, &mut alloc).unwrap());
        c.add_partitions("x", pid, 0, &parts(&[("t", 0)]), false)
            .unwrap();
        let start = c.describe("x").unwrap().start_ms;
        assert!(c.expired(start + 500).is_empty());
        let plans = c.expired(start + 1_001);
        assert_eq!(plans.len(), 1);
        let (plan, resumed) = &plans[0];
        assert!(!resumed);
        assert!(!plan.commit);
        assert_eq!(plan.producer_epoch, 1);
        // A plan that failed is retried, as a resumed one.
        c.complete(plan, false);
        let again = c.expired(start + 2_000);
        assert_eq!(again.len(), 1);
        assert!(again[0].1);
        c.complete(&again[0].0, true);
        assert_eq!(c.describe("x").unwrap().state, TxnState::CompleteAbort);
        assert_eq!(
            c.end("x", pid, 0, true, false, no_alloc).unwrap_err(),
            ResponseError::ProducerFenced.code()
        );
    }

    #[test]
    fn a_restart_resumes_prepared_transactions() {
        let dir = tempfile::tempdir().unwrap();
        let pid = {
            let c = coordinator(dir.path());
            let mut alloc = ids();
            let (pid, _) = ready(c.init_producer_id("x", 10_000, None, &mut alloc).unwrap());
            c.add_partitions("x", pid, 0, &parts(&[("t", 0), ("t", 1)]), false)
                .unwrap();
            let End::Markers(_) = c.end("x", pid, 0, true, false, no_alloc).unwrap() else {
                panic!("expected markers");
            };
            c.shared.store.close().unwrap();
            pid
        };
        let c = coordinator(dir.path());
        assert_eq!(c.describe("x").unwrap().state, TxnState::PrepareCommit);
        let plans = c.expired(crate::now_ms());
        assert_eq!(plans.len(), 1);
        let (plan, resumed) = &plans[0];
        assert!(resumed);
        assert!(plan.commit);
        assert_eq!(plan.producer_id, pid);
        assert_eq!(plan.partitions.len(), 2);
    }

    /// Transaction version 2 (KIP-890): every end bumps the epoch, markers carry the new one, a
    /// retry with the old epoch is recognised, and an exhausted epoch rotates the producer id.
    #[test]
    fn version_2_bumps_the_epoch_at_every_end() {
        let dir = tempfile::tempdir().unwrap();
        let c = coordinator(dir.path());
        let mut alloc = ids();
        let (pid, epoch) = ready(c.init_producer_id("x", 10_000, None, &mut alloc).unwrap());
        c.add_partitions("x", pid, epoch, &parts(&[("t", 0)]), true)
            .unwrap();
        let End::Markers(plan) = c.end("x", pid, epoch, true, true, no_alloc).unwrap() else {
            panic!("expected markers");
        };
        assert_eq!(plan.producer_epoch, epoch + 1);
        c.complete(&plan, true);
        assert_eq!(c.producer_of("x"), Some((pid, epoch + 1)));
        // The client's retry with the epoch it sent gets the same answer.
        assert!(matches!(
            c.end("x", pid, epoch, true, true, no_alloc),
            Ok(End::Done { producer_id, epoch: e }) if producer_id == pid && e == epoch + 1
        ));
        // The old epoch is fenced for a new transaction.
        assert_eq!(
            c.add_partitions("x", pid, epoch, &parts(&[("t", 0)]), true)
                .unwrap_err(),
            ResponseError::ProducerFenced.code()
        );
        // An exhausted epoch: the markers carry the last one, then the producer id changes.
        {
            let mut txns = c.shared.txns.lock().unwrap();
            txns.get_mut("x").unwrap().rec.producer_epoch = MAX_EPOCH;
        }
        c.add_partitions("x", pid, MAX_EPOCH, &parts(&[("t", 0)]), true)
            .unwrap();
        let End::Markers(plan) = c.end("x", pid, MAX_EPOCH, false, true, || Ok(555)).unwrap()
        else {
            panic!("expected markers");
        };
        assert_eq!(
            (plan.producer_id, plan.producer_epoch),
            (pid, MAX_EPOCH + 1)
        );
        c.complete(&plan, true);
        assert_eq!(c.producer_of("x"), Some((555, 0)));
        assert!(matches!(
            c.end("x", pid, MAX_EPOCH, false, true, no_alloc),
            Ok(End::Done {
                producer_id: 555,
                epoch: 0
            })
        ));
    }

    /// Idle transactional ids are forgotten after transactional.id.expiration.ms; open ones never.
    #[test]
    fn idle_transactional_ids_expire() {
        let dir = tempfile::tempdir().unwrap();
        let c = coordinator(dir.path());
        let mut alloc = ids();
        let (pid, _) = ready(
            c.init_producer_id("idle", 10_000, None, &mut alloc)
                .unwrap(),
        );
        let (open, _) = ready(
            c.init_producer_id("open", 60_000, None, &mut alloc)
                .unwrap(),
        );
        c.add_partitions("open", open, 0, &parts(&[("t", 0)]), false)
            .unwrap();
        let later = crate::now_ms() + 3_600_001;
        // (The open one times out meanwhile: aborted, not forgotten.)
        let _ = c.expired(later - 10);
        assert!(c.describe("idle").is_some());
        let _ = c.expired(later);
        assert!(c.describe("idle").is_none());
        assert!(c.describe("open").is_some());
        assert!(!c
            .shared
            .store
            .load_txns()
            .unwrap()
            .iter()
            .any(|(id, _)| id == "idle"));
        // A new producer of an expired id starts over with a new producer id.
        let (again, epoch) = ready(
            c.init_producer_id("idle", 10_000, None, &mut alloc)
                .unwrap(),
        );
        assert_ne!(again, pid);
        assert_eq!(epoch, 0);
    }
}
