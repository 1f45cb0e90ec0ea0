//! Fetch: serve stored batches as they are, respecting partition and request `max_bytes`, and
//! long-poll for `min_bytes` up to `max_wait_ms`.
//!
//! The long poll registers one `Notify` on every fetched partition before it reads, then sleeps on
//! it: an append wakes it, the deadline ends it, and broker shutdown cuts it short. There is no
//! polling loop. Fetch sessions (KIP-227) are not kept: every answer says session 0, which tells
//! clients to send full fetch requests.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse, TopicName};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::api::{self, error, Ctx, Outcome};
use crate::broker::{stopping, Broker};
use crate::log::{PartitionLog, LEADER_EPOCH};
use crate::protocol::{FetchBody, ResponseBody};

/// One partition of the request, resolved against the registry.
struct Wanted {
    index: i32,
    log: Result<Arc<PartitionLog>, i16>,
    fetch_offset: i64,
    max_bytes: usize,
}

struct WantedTopic {
    name: TopicName,
    id: Uuid,
    partitions: Vec<Wanted>,
}

struct Plan {
    topics: Vec<WantedTopic>,
    max_bytes: usize,
    read_committed: bool,
}

pub fn handle(ctx: &Ctx, req: FetchRequest) -> Outcome {
    let (broker, version) = (ctx.broker, ctx.version);
    if req.session_id != 0 {
        // We never hand out a session id, so a client naming one is confused; Kafka answers this.
        return Outcome::now(
            FetchResponse::default().with_error_code(ResponseError::FetchSessionIdNotFound.code()),
        );
    }
    let plan = resolve(
        broker,
        req.topics,
        version,
        req.max_bytes,
        req.isolation_level,
    );
    let (response, bytes, errors) = read(&plan);
    let min_bytes = req.min_bytes.max(0) as usize;
    if bytes >= min_bytes || req.max_wait_ms <= 0 || errors || plan.topics.is_empty() {
        return Outcome::Now(ResponseBody::Fetch(response));
    }
    let mut shutdown = broker.shutdown_signal();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(req.max_wait_ms as u64);
    Outcome::Later(Box::pin(async move {
        loop {
            let waiter = Arc::new(Notify::new());
            for t in &plan.topics {
                for p in &t.partitions {
                    if let Ok(log) = &p.log {
                        log.register_waiter(&waiter);
                    }
                }
            }
            // Read after registering: an append in between leaves a permit in the Notify.
            let (response, bytes, errors) = read(&plan);
            if bytes >= min_bytes || errors {
                return ResponseBody::Fetch(response);
            }
            tokio::select! {
                _ = waiter.notified() => continue,
                _ = tokio::time::sleep_until(deadline) => {}
                _ = stopping(&mut shutdown) => {}
            }
            return ResponseBody::Fetch(read(&plan).0);
        }
    }))
}

fn resolve(
    broker: &Broker,
    topics: Vec<kafka_protocol::messages::fetch_request::FetchTopic>,
    version: i16,
    max_bytes: i32,
    isolation_level: i8,
) -> Plan {
    let mut out = Vec::with_capacity(topics.len());
    for ft in topics {
        // v13+ names topics by id only.
        let topic = if version >= 13 {
            broker
                .topic_by_id(ft.topic_id)
                .ok_or(ResponseError::UnknownTopicId.code())
        } else {
            broker
                .topic(ft.topic.as_str())
                .ok_or(ResponseError::UnknownTopicOrPartition.code())
        };
        let partitions = ft
            .partitions
            .into_iter()
            .map(|fp| {
                let log = topic.as_ref().map_err(|c| *c).and_then(|t| {
                    let log = api::partition(Some(t), fp.partition)?.clone();
                    check_epoch(fp.current_leader_epoch)?;
                    Ok(log)
                });
                Wanted {
                    index: fp.partition,
                    log,
                    fetch_offset: fp.fetch_offset,
                    max_bytes: fp.partition_max_bytes.max(0) as usize,
                }
            })
            .collect();
        out.push(WantedTopic {
            name: ft.topic,
            id: ft.topic_id,
            partitions,
        });
    }
    Plan {
        topics: out,
        max_bytes: max_bytes.max(0) as usize,
        read_committed: isolation_level == 1,
    }
}

/// The epoch check of KIP-320: a client ahead of us is confused, one behind is fenced.
pub fn check_epoch(current_leader_epoch: i32) -> Result<(), i16> {
    match current_leader_epoch {
        -1 => Ok(()),
        e if e > LEADER_EPOCH => Err(ResponseError::UnknownLeaderEpoch.code()),
        e if e < LEADER_EPOCH => Err(ResponseError::FencedLeaderEpoch.code()),
        _ => Ok(()),
    }
}

/// Reads every partition of the plan; returns the response, the record bytes in it, and whether
/// any partition carries an error (which ends a long poll at once, as in Kafka).
fn read(plan: &Plan) -> (FetchBody, usize, bool) {
    let mut total = 0usize;
    let mut errors = false;
    let mut records_out = Vec::new();
    let mut topics = Vec::with_capacity(plan.topics.len());
    for t in &plan.topics {
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for p in &t.partitions {
            let mut data = PartitionData::default().with_partition_index(p.index);
            if plan.read_committed {
                data = data.with_aborted_transactions(Some(Vec::new()));
            } else {
                data = data.with_aborted_transactions(None);
            }
            let result = p.log.as_ref().map_err(|c| *c).and_then(|log| {
                let room = plan.max_bytes.saturating_sub(total).min(p.max_bytes);
                log.read(p.fetch_offset, room, total == 0)
                    .map_err(|e| error::code(&e, "a fetch read"))
            });
            match result {
                Ok(r) => {
                    let records = r.records.unwrap_or_default();
                    total += records.len();
                    records_out.push(records.into_parts());
                    data = data
                        .with_high_watermark(r.offsets.high_watermark as i64)
                        .with_last_stable_offset(r.offsets.high_watermark as i64)
                        .with_log_start_offset(r.offsets.log_start as i64)
                        .with_records(Some(Default::default()));
                }
                Err(code) => {
                    errors = true;
                    records_out.push(Vec::new());
                    data = data
                        .with_error_code(code)
                        .with_high_watermark(-1)
                        .with_records(Some(Default::default()));
                }
            }
            partitions.push(data);
        }
        topics.push(
            FetchableTopicResponse::default()
                .with_topic(t.name.clone())
                .with_topic_id(t.id)
                .with_partitions(partitions),
        );
    }
    (
        FetchBody {
            response: FetchResponse::default().with_responses(topics),
            records: records_out,
        },
        total,
        errors,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::tests::test_broker;
    use crate::config::Config;
    use crate::log::batch::{self, tests::make_batch};
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::protocol::StrBytes;

    fn req(topic: &str, offset: i64, max_wait: i32) -> FetchRequest {
        FetchRequest::default()
            .with_max_wait_ms(max_wait)
            .with_min_bytes(1)
            .with_max_bytes(1 << 20)
            .with_topics(vec![FetchTopic::default()
                .with_topic(StrBytes::from_string(topic.into()).into())
                .with_partitions(vec![FetchPartition::default()
                    .with_fetch_offset(offset)
                    .with_partition_max_bytes(1 << 20)])])
    }

    fn part(r: &FetchBody) -> &PartitionData {
        &r.response.responses[0].partitions[0]
    }

    /// What a handler answered, whether at once or after a wait.
    async fn answer(reply: Outcome) -> FetchBody {
        match reply {
            Outcome::Now(ResponseBody::Fetch(f)) => f,
            Outcome::Later(fut) => match fut.await {
                ResponseBody::Fetch(f) => f,
                ResponseBody::Kind(_) => panic!("not a fetch response"),
            },
            _ => panic!("not a fetch reply"),
        }
    }

    #[test]
    fn reads_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        let t = b.create_topic("t", 1, Default::default(), false).unwrap();
        t.partitions[0]
            .append_visible(&batch::validate(&make_batch(3, 0), 1 << 20).unwrap())
            .unwrap();
        let Outcome::Now(ResponseBody::Fetch(r)) = handle(&Ctx::test(&b, 12), req("t", 0, 500))
        else {
            panic!("data is there")
        };
        assert_eq!(part(&r).high_watermark, 3);
        assert!(r.records[0].iter().any(|c| !c.is_empty()));
        let Outcome::Now(ResponseBody::Fetch(r)) = handle(&Ctx::test(&b, 12), req("t", 9, 500))
        else {
            panic!("errors answer at once")
        };
        assert_eq!(part(&r).error_code, ResponseError::OffsetOutOfRange.code());
        let Outcome::Now(ResponseBody::Fetch(r)) = handle(&Ctx::test(&b, 12), req("nope", 0, 500))
        else {
            panic!()
        };
        assert_eq!(
            part(&r).error_code,
            ResponseError::UnknownTopicOrPartition.code()
        );
        for v in 4..=16 {
            let Outcome::Now(ResponseBody::Fetch(r)) = handle(&Ctx::test(&b, v), req("t", 0, 0))
            else {
                panic!()
            };
            crate::protocol::encode_fetch(v, 1, r).unwrap();
        }
    }

    #[tokio::test]
    async fn long_poll_wakes_on_append() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        let t = b.create_topic("t", 1, Default::default(), false).unwrap();
        let Outcome::Later(fut) = handle(&Ctx::test(&b, 12), req("t", 0, 30_000)) else {
            panic!("must wait")
        };
        let waiting = tokio::spawn(fut);
        tokio::task::yield_now().await;
        t.partitions[0]
            .append_visible(&batch::validate(&make_batch(1, 0), 1 << 20).unwrap())
            .unwrap();
        let r = tokio::time::timeout(
            Duration::from_secs(10),
            answer(Outcome::Later(Box::pin(
                async move { waiting.await.unwrap() },
            ))),
        )
        .await
        .expect("woken");
        assert_eq!(part(&r).high_watermark, 1);
    }
}
