//! The log lifecycle task: retention (`cleanup.policy=delete`), compaction (`compact`), and expiry
//! of idle idempotent-producer state.
//!
//! Every `log_cleanup_interval_ms` one pass runs on the blocking pool, so it never stalls the
//! request path; within a pass each partition does a bounded amount of work, and appends and reads
//! only wait for the short moments a partition's offsets are swapped.

use std::time::Duration;

use crate::broker::{stopping, Broker};
use crate::config::topic::EffectiveConfig;
use crate::log::compaction::Policy;
use crate::log::PartitionLog;

/// At most this many batches leave one partition per pass.
const MAX_BATCHES_PER_PASS: usize = 10_000;

/// What one pass did, for logs and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PassStats {
    pub partitions_trimmed: usize,
    pub batches_compacted: usize,
    pub producers_expired: usize,
}

/// Runs passes until the broker shuts down.
pub async fn run(broker: Broker) {
    let interval = Duration::from_millis(broker.config().log_cleanup_interval_ms);
    let mut shutdown = broker.shutdown_signal();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stopping(&mut shutdown) => return,
        }
        let b = broker.clone();
        match tokio::task::spawn_blocking(move || pass(&b, crate::now_ms())).await {
            Ok(stats) if stats != PassStats::default() => {
                tracing::info!(?stats, "log cleanup pass")
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "log cleanup pass panicked"),
        }
    }
}

/// One pass over every partition.
pub fn pass(broker: &Broker, now: i64) -> PassStats {
    let mut stats = PassStats::default();
    let expiration = broker.config().producer_id_expiration_ms;
    for topic in broker.topics() {
        let eff = &topic.effective;
        for (p, log) in topic.partitions.iter().enumerate() {
            let outcome = (|| -> Result<(), crate::log::CompactError> {
                if eff.cleanup_delete && retention(log, eff, now)? {
                    stats.partitions_trimmed += 1;
                }
                if eff.cleanup_compact {
                    let policy = Policy {
                        now_ms: now,
                        delete_retention_ms: eff.delete_retention_ms,
                        decode_cap: broker.config().max_decompressed_batch_bytes,
                    };
                    stats.batches_compacted += log.compact(policy, eff.min_compaction_lag_ms)?;
                }
                stats.producers_expired += log.expire_producers(now, expiration)?;
                Ok(())
            })();
            if let Err(e) = outcome {
                tracing::error!(topic = %topic.name, partition = p, error = %e, "log cleanup failed");
            }
        }
    }
    stats
}

/// Drops batches from the head that are past `retention.ms`, or that keep the partition over
/// `retention.bytes`; returns whether the log start moved.
fn retention(
    log: &PartitionLog,
    eff: &EffectiveConfig,
    now: i64,
) -> Result<bool, crate::store::StoreError> {
    if eff.retention_ms < 0 && eff.retention_bytes < 0 {
        return Ok(false);
    }
    let mut size = if eff.retention_bytes >= 0 {
        log.size_bytes()? as i64
    } else {
        0
    };
    let mut new_start = None;
    for h in log.headers()?.take(MAX_BATCHES_PER_PASS) {
        let h = h?;
        let expired =
            eff.retention_ms >= 0 && h.max_timestamp < now.saturating_sub(eff.retention_ms);
        let oversize = eff.retention_bytes >= 0 && size - h.size as i64 >= eff.retention_bytes;
        if !expired && !oversize {
            break;
        }
        size -= h.size as i64;
        new_start = Some(h.next_offset());
    }
    match new_start {
        Some(offset) if offset > log.offsets().log_start => {
            log.advance_log_start(offset)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::tests::test_broker;
    use crate::config::Config;
    use crate::log::batch::{self, tests::make_batch};
    use std::collections::BTreeMap;

    #[test]
    fn retention_by_time_and_size() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        let by_time = b
            .create_topic(
                "old",
                1,
                BTreeMap::from([("retention.ms".into(), "1000".into())]),
                false,
            )
            .unwrap();
        for ts in [1_000, 2_000, 50_000] {
            by_time.partitions[0]
                .append_visible(&batch::validate(&make_batch(2, ts), 1 << 20).unwrap())
                .unwrap();
        }
        let one = make_batch(2, 0).len();
        let by_size = b
            .create_topic(
                "big",
                1,
                BTreeMap::from([("retention.bytes".into(), (2 * one).to_string())]),
                false,
            )
            .unwrap();
        for _ in 0..5 {
            by_size.partitions[0]
                .append_visible(&batch::validate(&make_batch(2, 0), 1 << 20).unwrap())
                .unwrap();
        }
        let stats = pass(&b, 10_000);
        assert_eq!(stats.partitions_trimmed, 2);
        // Batches at 1000 and 2000 are older than 10000 - 1000; the one at 50000 stays.
        assert_eq!(by_time.partitions[0].offsets().log_start, 4);
        // Two batches' worth is kept.
        assert_eq!(by_size.partitions[0].offsets().log_start, 6);
        assert_eq!(by_size.partitions[0].size_bytes().unwrap(), 2 * one as u64);
        assert_eq!(pass(&b, 10_000).partitions_trimmed, 0);
    }

    /// A batch that cannot be decoded within `max_decompressed_batch_bytes` ends the compactable
    /// section: a key's later record in it is unknown, so nothing before it may be dropped for it.
    #[test]
    fn compaction_stops_before_a_batch_past_the_decode_cap() {
        use crate::log::compaction::Policy;
        use crate::log::records::tests::{raw_batch, record};
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        let t = b
            .create_topic(
                "c",
                1,
                BTreeMap::from([("cleanup.policy".into(), "compact".into())]),
                false,
            )
            .unwrap();
        let log = &t.partitions[0];
        let big = vec![7u8; 8 * 1024];
        for (i, value) in [&b"1"[..], &big, b"3", b"tail"].into_iter().enumerate() {
            let batch = raw_batch(1, 1, &record(0, false, value));
            log.append_visible(&batch::validate(&batch, 1 << 20).unwrap())
                .unwrap();
            assert_eq!(log.offsets().high_watermark, i as u64 + 1);
        }
        let policy = |decode_cap| Policy {
            now_ms: crate::now_ms() + 1000,
            delete_retention_ms: 0,
            decode_cap,
        };
        // The 8 KiB batch is past a 4 KiB cap: only batch 0 is compactable, and it is the latest
        // of its key in that section.
        assert_eq!(log.compact(policy(4096), 0).unwrap(), 0);
        assert!(log.batch_at(0).unwrap().is_some());
        // Within the cap, batches 0 and 1 are superseded by batch 2.
        assert_eq!(log.compact(policy(1 << 20), 0).unwrap(), 2);
        assert!(log.batch_at(0).unwrap().is_none());
    }
}
