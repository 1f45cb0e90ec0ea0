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
