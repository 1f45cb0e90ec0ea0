//! Ending a transaction where its data is: a commit or abort marker (a control batch) on every
//! partition of the transaction, its group offsets applied or dropped, one flush for all of it, and
//! then the markers made visible (which moves each partition's last stable offset on). Also the
//! task that aborts timed-out transactions and completes prepared ones after a restart.

use std::time::Duration;

use super::EndPlan;
use crate::broker::{stopping, Broker};
use crate::log::partition::AppendError;

/// Kafka's coordinator epoch, written into markers: one coordinator that never moves.
const COORDINATOR_EPOCH: i32 = 0;

/// Carries a prepared end out and records the outcome with the coordinator. `resumed` is set for a
/// plan taken up again (after a restart or a failed attempt): a marker is then written only where
/// the producer's transaction is still open, so none is written twice. Returns whether it succeeded.
pub async fn carry_out(broker: &Broker, plan: &EndPlan, resumed: bool) -> bool {
    let mut written = Vec::new();
    let mut ok = true;
    for (topic, partition) in &plan.partitions {
        // A partition of a deleted topic has nothing left to mark.
        let Some(log) = broker
            .topic(topic)
            .and_then(|t| t.partition(*partition).cloned())
        else {
            continue;
        };
        if resumed
            && !log
                .ongoing_transactions()
                .iter()
                .any(|(pid, _)| *pid == plan.producer_id)
        {
            continue;
        }
        match log.write_marker(
            plan.producer_id,
            plan.producer_epoch,
            plan.commit,
            COORDINATOR_EPOCH,
        ) {
            Ok(at) => written.push((log, at.end)),
            Err(AppendError::StaleEpoch { got, current }) => {
                // A newer producer epoch already wrote here: this transaction's marker is moot.
                tracing::warn!(
                    topic = %topic,
                    partition,
                    producer_id = plan.producer_id,
                    got,
                    current,
                    "not writing a transaction marker with an old producer epoch"
                );
            }
            Err(e) => {
                tracing::error!(
                    topic = %topic,
                    partition,
                    transactional_id = %plan.transactional_id,
                    error = %e,
                    "writing a transaction marker failed; the end of the transaction will be retried"
                );
                ok = false;
            }
        }
    }
    for group in &plan.groups {
        if let Err(e) = broker
            .groups()
            .complete_txn(group, plan.producer_id, plan.commit)
        {
            tracing::error!(
                group = %group,
                transactional_id = %plan.transactional_id,
                error = %e,
                "applying transactional offsets failed; the end of the transaction will be retried"
            );
            ok = false;
        }
    }
    if let Err(e) = broker.durable().await {
        tracing::error!(error = %e, transactional_id = %plan.transactional_id, "flushing transaction markers failed");
        ok = false;
    } else {
        for (log, end) in written {
            log.publish(end);
        }
    }
    broker.transactions().complete(plan, ok);
    if ok {
        tracing::debug!(
            transactional_id = %plan.transactional_id,
            producer_id = plan.producer_id,
            commit = plan.commit,
            partitions = plan.partitions.len(),
            "transaction ended"
        );
    }
    ok
}

/// Aborts transactions past their timeout and completes prepared ones (at once at start-up: the
/// recovery of transactions a crash left prepared), until the broker shuts down.
pub async fn run(broker: Broker) {
    let interval = Duration::from_millis(
        broker
            .config()
            .transaction_abort_timed_out_transaction_cleanup_interval_ms,
    );
    let mut shutdown = broker.shutdown_signal();
    loop {
        for (plan, resumed) in broker.transactions().expired(crate::now_ms()) {
            carry_out(&broker, &plan, resumed).await;
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stopping(&mut shutdown) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::broker::tests::test_broker;
    use crate::config::Config;
    use crate::coordinator::txn::{End, Init};
    use crate::log::batch::{self, tests as batches};
    use crate::store::{CommittedOffset, TxnState};

    /// A transactional id with an open transaction over partition t-0 and group g: 3 records
    /// written and an offset committed in the transaction. Returns the producer id.
    fn open_transaction(b: &Broker) -> i64 {
        b.create_topic("t", 1, BTreeMap::new(), false).unwrap();
        let txns = b.transactions();
        let Init::Ready { producer_id, epoch } = txns
            .init_producer_id("x", 60_000, None, || b.next_producer_id())
            .unwrap()
        else {
            panic!("expected a producer id");
        };
        txns.add_partitions("x", producer_id, epoch, &[("t".to_string(), 0)], false)
            .unwrap();
        txns.add_offsets("x", producer_id, epoch, "g", false)
            .unwrap();
        let log = b.topic("t").unwrap().partition(0).unwrap().clone();
        let data = batches::with_txn(
            &batches::make_batch(3, crate::now_ms()),
            producer_id,
            epoch,
            0,
        );
        let at = log
            .append(&batch::validate(&data, 1 << 20).unwrap())
            .unwrap();
        log.publish(at.end);
        let offset = CommittedOffset {
            offset: 3,
            leader_epoch: -1,
            metadata: None,
            commit_timestamp_ms: 0,
        };
        b.groups()
            .txn_commit(
                "g",
                producer_id,
                -1,
                "",
                None,
                vec![("t".to_string(), 0, offset)],
                |_, _| true,
            )
            .unwrap();
        assert_eq!(log.last_stable_offset(), 0);
        producer_id
    }

    fn committed(b: &Broker) -> Option<i64> {
        let found = b
            .groups()
            .fetch_offsets("g", Some(vec![("t".to_string(), vec![0])]));
        found[0].1[0].1.as_ref().map(|c| c.offset)
    }

    /// A commit or abort whose decision was stored but whose markers were not written when the
    /// broker stopped is carried out after the restart, once, with its group offsets.
    #[tokio::test]
    async fn a_prepared_end_is_completed_after_a_restart() {
        for commit in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let pid = {
                let b = test_broker(dir.path(), Config::default());
                let pid = open_transaction(&b);
                let End::Markers(_) = b
                    .transactions()
                    .end("x", pid, 0, commit, false, || b.next_producer_id())
                    .unwrap()
                else {
                    panic!("expected markers");
                };
                b.durable().await.unwrap();
                b.close_store().unwrap();
                pid
            };
            let b = test_broker(dir.path(), Config::default());
            assert_eq!(
                b.transactions().describe("x").unwrap().state,
                if commit {
                    TxnState::PrepareCommit
                } else {
                    TxnState::PrepareAbort
                }
            );
            assert_eq!(committed(&b), None);
            for round in 0..2 {
                for (plan, resumed) in b.transactions().expired(crate::now_ms()) {
                    assert_eq!(round, 0, "completed once");
                    assert!(resumed);
                    assert!(carry_out(&b, &plan, resumed).await);
                }
            }
            let log = b.topic("t").unwrap().partition(0).unwrap().clone();
            // Three records and one marker, all stable now.
            assert_eq!(log.offsets().high_watermark, 4);
            assert_eq!(log.last_stable_offset(), 4);
            let aborted = log.aborted_transactions(0, 4).unwrap();
            if commit {
                assert!(aborted.is_empty());
                assert_eq!(committed(&b), Some(3));
                assert_eq!(
                    b.transactions().describe("x").unwrap().state,
                    TxnState::CompleteCommit
                );
            } else {
                assert_eq!(aborted, vec![(pid, 0)]);
                assert_eq!(committed(&b), None);
            }
        }
    }

    /// An open transaction past its timeout is aborted, its producer fenced, and the partition's
    /// last stable offset moves past it.
    #[tokio::test]
    async fn a_timed_out_transaction_is_aborted() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        let pid = open_transaction(&b);
        let plans = b.transactions().expired(crate::now_ms() + 60_001);
        assert_eq!(plans.len(), 1);
        assert!(carry_out(&b, &plans[0].0, plans[0].1).await);
        let log = b.topic("t").unwrap().partition(0).unwrap().clone();
        assert_eq!(log.last_stable_offset(), 4);
        assert_eq!(log.aborted_transactions(0, 4).unwrap(), vec![(pid, 0)]);
        assert_eq!(committed(&b), None);
        assert_eq!(
            b.transactions()
                .add_partitions("x", pid, 0, &[("t".to_string(), 0)], false)
                .unwrap_err(),
            kafka_protocol::error::ResponseError::ProducerFenced.code()
        );
    }
}
