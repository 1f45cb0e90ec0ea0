//! ListOffsets: earliest (-2), latest (-1), and the first offset whose timestamp is >= t.
//!
//! A timestamp lookup scans batch headers (their max timestamp) from the log start and walks only
//! the one batch where the answer lies (`log::records::walk`, bounded by
//! `max_decompressed_batch_bytes`), to find the exact record. There is no time index yet, so the
//! scan is linear in the number of batches; fine for development-sized logs. Being store work of
//! that size, a request with a timestamp lookup runs on tokio's blocking pool; earliest and latest
//! (what every consumer asks at start) are answered at once.
//!
//! With isolation level 1 (read_committed), latest is the last stable offset and a lookup that
//! lands at or above it finds nothing (-1), as Kafka's lastFetchableOffset.

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use crate::api::authz;
use crate::api::fetch::check_epoch;
use crate::api::{self, error, Ctx, Outcome};
use crate::broker::Broker;
use crate::log::batch::StoredHeader;
use crate::log::records;
use crate::log::{PartitionLog, LEADER_EPOCH};
use crate::security::acl::{AclOperation, ResourceType};
use crate::store::StoreError;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
/// KIP-734 (v7+): the record with the largest timestamp.
const MAX_TIMESTAMP: i64 = -3;
/// KIP-405 (v8+): the earliest offset on local storage, which is all storage here.
const EARLIEST_LOCAL: i64 = -4;
/// v9+: the latest offset in tiered storage; there is none, so no such offset.
const LATEST_TIERED: i64 = -5;

pub fn handle(ctx: &Ctx, mut req: ListOffsetsRequest) -> Outcome {
    // Kafka answers a topic the client may not describe before looking it up.
    let (allowed, denied) = ctx.split_authorized(
        AclOperation::Describe,
        ResourceType::Topic,
        std::mem::take(&mut req.topics),
        |t| t.name.as_str(),
    );
    req.topics = allowed;
    let denied = failed(
        ListOffsetsRequest::default().with_topics(denied),
        authz::TOPIC_DENIED,
    )
    .topics;
    let with_denied = move |mut response: ListOffsetsResponse| {
        response.topics.extend(denied);
        response
    };
    let scans = req
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .any(|p| p.timestamp >= 0 || p.timestamp == MAX_TIMESTAMP);
    if !scans {
        return Outcome::now(with_denied(handle_now(ctx.broker, ctx.version, req)));
    }
    let (broker, version) = (ctx.broker.clone(), ctx.version);
    let unanswered = req.clone();
    Outcome::later(async move {
        match tokio::task::spawn_blocking(move || handle_now(&broker, version, req)).await {
            Ok(response) => with_denied(response),
            Err(e) => {
                tracing::error!(error = %e, "listing offsets failed");
                failed(unanswered, ResponseError::UnknownServerError.code())
            }
        }
    })
}

/// Every partition of `req` answered with `code`.
fn failed(req: ListOffsetsRequest, code: i16) -> ListOffsetsResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                        .with_offset(-1)
                        .with_timestamp(-1)
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

/// ListOffsets on the calling thread (blocking for timestamp lookups).
pub fn handle_now(broker: &Broker, version: i16, req: ListOffsetsRequest) -> ListOffsetsResponse {
    let read_committed = req.isolation_level == 1;
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let topic = broker.topic(t.name.as_str());
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let resp = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index);
                    let found = api::partition(topic.as_ref(), p.partition_index).and_then(|log| {
                        check_epoch(p.current_leader_epoch)?;
                        lookup(
                            log,
                            p.timestamp,
                            broker.config().max_decompressed_batch_bytes,
                            read_committed,
                        )
                    });
                    match found {
                        Ok((offset, timestamp)) => {
                            let resp = resp.with_offset(offset).with_timestamp(timestamp);
                            // The field exists from v4; encoding refuses it set below that.
                            if version >= 4 {
                                resp.with_leader_epoch(LEADER_EPOCH)
                            } else {
                                resp
                            }
                        }
                        Err(code) => resp
                            .with_error_code(code)
                            .with_offset(-1)
                            .with_timestamp(-1),
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

/// Returns `(offset, timestamp)`; `(-1, -1)` when no record is at or after the timestamp.
fn lookup(
    log: &PartitionLog,
    timestamp: i64,
    cap: usize,
    read_committed: bool,
) -> Result<(i64, i64), i16> {
    let (offsets, lso) = log.offsets_and_lso();
    let last_fetchable = if read_committed {
        lso
    } else {
        offsets.high_watermark
    };
    if timestamp == LATEST {
        return Ok((last_fetchable as i64, -1));
    }
    let (offset, ts) = lookup_stored(log, timestamp, cap, offsets)?;
    if timestamp >= 0 || timestamp == MAX_TIMESTAMP {
        // Found at or past what this isolation level may read: nothing (Kafka's
        // ReplicaManager.fetchOffsets answers it with offset and timestamp -1).
        if offset >= last_fetchable as i64 {
            return Ok((-1, -1));
        }
    }
    Ok((offset, ts))
}

fn lookup_stored(
    log: &PartitionLog,
    timestamp: i64,
    cap: usize,
    offsets: crate::log::Offsets,
) -> Result<(i64, i64), i16> {
    match timestamp {
        EARLIEST | EARLIEST_LOCAL => Ok((offsets.log_start as i64, -1)),
        LATEST_TIERED => Ok((-1, -1)),
        MAX_TIMESTAMP => {
            let storage = |e: StoreError| error::code(&e, "a max-timestamp lookup");
            let mut best: Option<StoredHeader> = None;
            for h in log.headers().map_err(storage)? {
                let h = h.map_err(storage)?;
                if best.is_none_or(|b| h.max_timestamp > b.max_timestamp) {
                    best = Some(h);
                }
            }
            match best {
                Some(h) => found(log, h, h.max_timestamp, offsets.log_start, cap).map_err(storage),
                None => Ok((-1, -1)),
            }
        }
        t if t < 0 => Err(ResponseError::InvalidRequest.code()),
        t => {
            let storage = |e: StoreError| error::code(&e, "a timestamp lookup");
            for h in log.headers().map_err(storage)? {
                let h = h.map_err(storage)?;
                if h.max_timestamp >= t {
                    return found(log, h, t, offsets.log_start, cap).map_err(storage);
                }
            }
            Ok((-1, -1))
        }
    }
}

/// The first record at or after `t` in the batch `h` heads (only that one batch is read).
fn found(
    log: &PartitionLog,
    h: StoredHeader,
    t: i64,
    log_start: u64,
    cap: usize,
) -> Result<(i64, i64), StoreError> {
    let fallback = (h.base_offset as i64, h.max_timestamp);
    Ok(match log.batch_at(h.base_offset)? {
        Some(b) => first_at_or_after(&b, t, log_start, cap).unwrap_or(fallback),
        None => fallback,
    })
}

/// Walks one batch to find its first record with timestamp >= t (at or above the log start),
/// holding no record in memory and reading at most `cap` decompressed bytes: a batch that cannot
/// be read within that answers with its header's offset and max timestamp, with a warning.
fn first_at_or_after(batch: &Bytes, t: i64, log_start: u64, cap: usize) -> Option<(i64, i64)> {
    let h = StoredHeader::parse(batch)?;
    // In a LogAppendTime batch every record's timestamp is the batch's max timestamp (the append
    // time); the per-record deltas still hold the producer's CreateTime, which must not leak out.
    let log_append_time = h.attributes & (1 << 3) != 0;
    let mut first = None;
    records::walk(batch, h.attributes & 0x07, h.record_count, cap, |r| {
        let offset = h.base_offset as i64 + i64::from(r.offset_delta);
        let ts = if log_append_time {
            h.max_timestamp
        } else {
            h.base_timestamp.wrapping_add(r.timestamp_delta)
        };
        if first.is_none() && ts >= t && offset >= log_start as i64 {
            first = Some((offset, ts));
        }
    })
    .map_err(|e| tracing::warn!(error = %e, base_offset = h.base_offset, "stored batch not read"))
    .ok()?;
    first
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::tests::test_broker;
    use crate::broker::Broker;
    use crate::config::Config;
    use crate::log::batch::{self, tests::make_batch};
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    use kafka_protocol::protocol::StrBytes;

    fn ask(b: &Broker, ts: i64) -> (i16, i64, i64) {
        let req = ListOffsetsRequest::default().with_topics(vec![ListOffsetsTopic::default()
            .with_name(StrBytes::from_string("t".into()).into())
            .with_partitions(vec![ListOffsetsPartition::default().with_timestamp(ts)])]);
        let p = &handle_now(b, 6, req).topics[0].partitions[0];
        (p.error_code, p.offset, p.timestamp)
    }

    fn ask_committed(b: &Broker, ts: i64) -> (i16, i64, i64) {
        let req = ListOffsetsRequest::default()
            .with_isolation_level(1)
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(StrBytes::from_string("t".into()).into())
                .with_partitions(vec![
                    ListOffsetsPartition::default().with_timestamp(ts)
                ])]);
        let p = &handle_now(b, 6, req).topics[0].partitions[0];
        (p.error_code, p.offset, p.timestamp)
    }

    /// read_committed: latest is the last stable offset, and lookups find nothing at or above it.
    #[test]
    fn read_committed_answers_stop_at_the_last_stable_offset() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        let t = b.create_topic("t", 1, Default::default(), false).unwrap();
        let log = &t.partitions[0];
        log.append_visible(&batch::validate(&make_batch(2, 1000), 1 << 20).unwrap())
            .unwrap();
        let txn = batch::tests::with_txn(&make_batch(2, 2000), 7, 0, 0);
        log.append_visible(&batch::validate(&txn, 1 << 20).unwrap())
            .unwrap();
        assert_eq!(ask(&b, LATEST), (0, 4, -1));
        assert_eq!(ask_committed(&b, LATEST), (0, 2, -1));
        assert_eq!(ask(&b, 2000), (0, 2, 2000));
        assert_eq!(ask_committed(&b, 2000), (0, -1, -1));
        assert_eq!(ask_committed(&b, 1001), (0, 1, 1001));
        assert_eq!(ask_committed(&b, MAX_TIMESTAMP), (0, -1, -1));
        assert_eq!(ask_committed(&b, EARLIEST), (0, 0, -1));
        let commit = log.write_marker(7, 0, true, 0).unwrap();
        log.publish(commit.end);
        assert_eq!(ask_committed(&b, LATEST), (0, 5, -1));
        assert_eq!(ask_committed(&b, 2000), (0, 2, 2000));
    }

    /// The one batch is walked, not decoded, and one that decompresses past the cap is not read
    /// at all: the lookup answers with its header.
    #[test]
    fn the_batch_walk_is_bounded() {
        use crate::log::records::tests::{raw_batch, record};
        let b = batch::with_offset(&make_batch(5, 1000), 10, 0);
        assert_eq!(first_at_or_after(&b, 1002, 0, 1024), Some((12, 1002)));
        assert_eq!(first_at_or_after(&b, 1002, 13, 1024), Some((13, 1003)));
        let big = raw_batch(1, 1, &record(0, false, &vec![0u8; 64 * 1024]));
        assert_eq!(
            first_at_or_after(&big, 0, 0, 1 << 20).map(|(o, _)| o),
            Some(0)
        );
        assert_eq!(first_at_or_after(&big, 0, 0, 1024), None);
    }

    #[test]
    fn earliest_latest_and_by_time() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        let t = b.create_topic("t", 1, Default::default(), false).unwrap();
        // Records at timestamps 1000..1003 and 2000..2003 (the helper uses ts + index).
        t.partitions[0]
            .append_visible(&batch::validate(&make_batch(4, 1000), 1 << 20).unwrap())
            .unwrap();
        t.partitions[0]
            .append_visible(&batch::validate(&make_batch(4, 2000), 1 << 20).unwrap())
            .unwrap();
        assert_eq!(ask(&b, EARLIEST), (0, 0, -1));
        assert_eq!(ask(&b, LATEST), (0, 8, -1));
        assert_eq!(ask(&b, 0), (0, 0, 1000));
        assert_eq!(ask(&b, 1002), (0, 2, 1002));
        assert_eq!(ask(&b, 1500), (0, 4, 2000));
        assert_eq!(ask(&b, 2003), (0, 7, 2003));
        assert_eq!(ask(&b, 9999), (0, -1, -1));
        assert_eq!(ask(&b, MAX_TIMESTAMP), (0, 7, 2003));
        assert_eq!(ask(&b, EARLIEST_LOCAL), (0, 0, -1));
        for v in 1..=10 {
            use kafka_protocol::protocol::Encodable;
            let req = ListOffsetsRequest::default().with_topics(vec![ListOffsetsTopic::default()
                .with_name(StrBytes::from_string("t".into()).into())
                .with_partitions(vec![ListOffsetsPartition::default().with_timestamp(-1)])]);
            handle_now(&b, v, req)
                .encode(&mut bytes::BytesMut::new(), v)
                .unwrap();
        }
    }
}
