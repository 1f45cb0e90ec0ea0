//! Fetch: serve stored batches as they are, respecting partition and request `max_bytes`, and
//! long-poll for `min_bytes` up to `max_wait_ms`.
//!
//! The long poll registers one `Notify` on every fetched partition before it reads, then sleeps on
//! it: a newly visible append wakes it, the deadline ends it, and broker shutdown cuts it short.
//! There is no polling loop. From v7, a fetch may belong to a fetch session (KIP-227,
//! `coordinator::fetch_session`): then the partitions read are the session's, and an incremental
//! answer carries only the partitions with something new.
//!
//! Every partition reports its last stable offset. A read_committed fetch (isolation level 1)
//! returns only batches below it, with the aborted transactions overlapping what it returns; its
//! long poll counts only those bytes, and a marker's publish, which moves the last stable offset,
//! also moves the high watermark and so wakes it.
//!
//! A client with a `consumer_byte_rate` quota has its response bytes counted when the answer is
//! ready; over the quota, it gets an empty response with the throttle time instead (and its bytes
//! are taken back), as Kafka answers; its `max_bytes` is also capped to what the quota allows in a
//! window. The size counted is the records' bytes (Kafka counts the whole response; the rest is a
//! few dozen bytes a partition).
//!
//! Each topic needs READ: a topic the client may not read gets TOPIC_AUTHORIZATION_FAILED, checked
//! before whether it exists, as Kafka does.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{FetchRequest, FetchResponse, TopicName};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::api::{self, authz, error, Ctx, Outcome};
use crate::broker::{stopping, Broker};
use crate::coordinator::fetch_session::{
    Changes, FetchPosition, PartitionAnswer, PartitionKey, Plan as SessionPlan, Reported,
};
use crate::log::{PartitionLog, LEADER_EPOCH};
use crate::protocol::{FetchBody, ResponseBody};
use crate::quota::QuotaKind;
use crate::security::acl::{AclOperation, ResourceType};

/// One partition to read, resolved against the registry.
struct Wanted {
    key: PartitionKey,
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
    /// The fetch session the answer belongs to (0: none), and whether it is incremental.
    session_id: i32,
    incremental: bool,
    /// Who the response's bytes count against: the user and the client id.
    quota: (String, String),
}

/// A partition the request names: where, from which offset, and the leader epoch it believes in.
struct Requested {
    key: PartitionKey,
    position: FetchPosition,
    current_leader_epoch: i32,
}

pub fn handle(ctx: &Ctx, req: FetchRequest) -> Outcome {
    let (broker, version) = (ctx.broker, ctx.version);
    let uses_topic_ids = version >= 13;
    let requested: Vec<Requested> = req
        .topics
        .into_iter()
        .flat_map(|ft| {
            let (name, id) = (ft.topic.to_string(), ft.topic_id);
            ft.partitions.into_iter().map(move |fp| Requested {
                key: key(uses_topic_ids, &name, id, fp.partition),
                position: FetchPosition {
                    fetch_offset: fp.fetch_offset,
                    max_bytes: fp.partition_max_bytes,
                },
                current_leader_epoch: fp.current_leader_epoch,
            })
        })
        .collect();
    let session = if version >= 7 {
        let forget = req
            .forgotten_topics_data
            .iter()
            .flat_map(|ft| {
                let name = ft.topic.to_string();
                ft.partitions
                    .iter()
                    .map(move |&p| key(uses_topic_ids, &name, ft.topic_id, p))
            })
            .collect();
        let upsert = requested
            .iter()
            .map(|r| (r.key.clone(), r.position))
            .collect();
        let full = || {
            requested
                .iter()
                .map(|r| (r.key.clone(), r.position))
                .collect()
        };
        match broker.fetch_sessions().begin(
            req.session_id,
            req.session_epoch,
            uses_topic_ids,
            full,
            Changes { upsert, forget },
        ) {
            Ok(plan) => plan,
            Err(code) => {
                return Outcome::Now(ResponseBody::Fetch(FetchBody {
                    response: FetchResponse::default().with_error_code(code),
                    records: Vec::new(),
                }))
            }
        }
    } else {
        SessionPlan::Full { session_id: 0 }
    };
    let (to_read, session_id, incremental) = match session {
        SessionPlan::Full { session_id } => (
            requested
                .into_iter()
                .map(|r| (r.key, r.position, r.current_leader_epoch))
                .collect(),
            session_id,
            false,
        ),
        SessionPlan::Incremental {
            session_id,
            partitions,
        } => {
            // Partitions the session carries over are read without an epoch check.
            let epochs: HashMap<PartitionKey, i32> = requested
                .into_iter()
                .map(|r| (r.key, r.current_leader_epoch))
                .collect();
            let to_read = partitions
                .into_iter()
                .map(|(k, p)| {
                    let epoch = epochs.get(&k).copied().unwrap_or(-1);
                    (k, p, epoch)
                })
                .collect();
            (to_read, session_id, true)
        }
    };
    let user = ctx.session.principal.name.as_str();
    let quota_bytes = broker
        .quotas()
        .max_in_window(QuotaKind::Fetch, user, ctx.client_id)
        .map_or(usize::MAX, |b| b as usize);
    let plan = Plan {
        topics: resolve(ctx, to_read, uses_topic_ids),
        max_bytes: (req.max_bytes.max(0) as usize).min(quota_bytes),
        read_committed: req.isolation_level == 1,
        session_id,
        incremental,
        quota: (user.to_string(), ctx.client_id.to_string()),
    };
    let room = ctx.response_room.clone();
    let (response, bytes, errors) = read(&plan, room());
    let min_bytes = req.min_bytes.max(0) as usize;
    if bytes >= min_bytes || req.max_wait_ms <= 0 || errors || plan.topics.is_empty() {
        return Outcome::Now(ResponseBody::Fetch(answer(broker, &plan, response)));
    }
    let mut shutdown = broker.shutdown_signal();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(req.max_wait_ms as u64);
    let broker = broker.clone();
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
            let (response, bytes, errors) = read(&plan, room());
            if bytes >= min_bytes || errors {
                return ResponseBody::Fetch(answer(&broker, &plan, response));
            }
            tokio::select! {
                _ = waiter.notified() => continue,
                _ = tokio::time::sleep_until(deadline) => {}
                _ = stopping(&mut shutdown) => {}
            }
            return ResponseBody::Fetch(answer(&broker, &plan, read(&plan, room()).0));
        }
    }))
}

fn key(uses_topic_ids: bool, name: &str, id: Uuid, partition: i32) -> PartitionKey {
    // A session names a topic one way only, so the other half of the key stays blank.
    if uses_topic_ids {
        PartitionKey {
            topic: String::new(),
            topic_id: id,
            partition,
        }
    } else {
        PartitionKey {
            topic: name.to_string(),
            topic_id: Uuid::nil(),
            partition,
        }
    }
}

/// Looks up the partitions to read, grouping consecutive partitions of one topic.
fn resolve(
    ctx: &Ctx,
    partitions: Vec<(PartitionKey, FetchPosition, i32)>,
    uses_topic_ids: bool,
) -> Vec<WantedTopic> {
    let mut out: Vec<WantedTopic> = Vec::new();
    let mut topic = None;
    for (key, position, current_leader_epoch) in partitions {
        let same = out.last().is_some_and(|t: &WantedTopic| {
            if uses_topic_ids {
                t.id == key.topic_id
            } else {
                t.name.as_str() == key.topic
            }
        });
        if !same {
            // v13+ names topics by id only.
            let broker = ctx.broker;
            let may_read =
                |name: &str| ctx.authorize(AclOperation::Read, ResourceType::Topic, name);
            topic = Some(if uses_topic_ids {
                broker
                    .topic_by_id(key.topic_id)
                    .ok_or(ResponseError::UnknownTopicId.code())
                    .and_then(|t| {
                        if may_read(&t.name) {
                            Ok(t)
                        } else {
                            Err(authz::TOPIC_DENIED)
                        }
                    })
            } else if !may_read(&key.topic) {
                Err(authz::TOPIC_DENIED)
            } else {
                broker
                    .topic(&key.topic)
                    .ok_or(ResponseError::UnknownTopicOrPartition.code())
            });
            // A denied topic named by id keeps its name hidden, as an unknown one.
            let name = match (&topic, uses_topic_ids) {
                (Some(Ok(t)), true) => t.name.clone(),
                _ => key.topic.clone(),
            };
            out.push(WantedTopic {
                name: api::str_bytes(name).into(),
                id: key.topic_id,
                partitions: Vec::new(),
            });
        }
        let topic = topic.as_ref().expect("set with the first partition");
        let log = topic.as_ref().map_err(|c| *c).and_then(|t| {
            let log = api::partition(Some(t), key.partition)?.clone();
            check_epoch(current_leader_epoch)?;
            Ok(log)
        });
        out.last_mut()
            .expect("pushed above")
            .partitions
            .push(Wanted {
                key,
                log,
                fetch_offset: position.fetch_offset,
                max_bytes: position.max_bytes.max(0) as usize,
            });
    }
    out
}

/// The answer to send: the read as it is outside a session; in one, recorded in the session and,
/// when incremental, cut down to the partitions with something new.
fn answer(broker: &Broker, plan: &Plan, mut body: FetchBody) -> FetchBody {
    let (user, client_id) = &plan.quota;
    let bytes: usize = body.records.iter().flatten().map(|b| b.len()).sum();
    let quotas = broker.quotas();
    let throttle = quotas.record(QuotaKind::Fetch, user, client_id, bytes as f64);
    if throttle > 0 {
        // Nothing is sent, so nothing counts; the session's positions stay where they were. A
        // full fetch's new session is not confirmed (as Kafka answers), an incremental one stays.
        quotas.record_only(QuotaKind::Fetch, user, client_id, -(bytes as f64));
        let session_id = if plan.incremental { plan.session_id } else { 0 };
        return FetchBody {
            response: FetchResponse::default()
                .with_throttle_time_ms(throttle as i32)
                .with_session_id(session_id),
            records: Vec::new(),
        };
    }
    body.response.session_id = plan.session_id;
    if plan.session_id == 0 {
        return body;
    }
    let answers: Vec<(PartitionKey, PartitionAnswer)> = plan
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .zip(
            body.response
                .responses
                .iter()
                .flat_map(|t| t.partitions.iter()),
        )
        .zip(body.records.iter())
        .map(|((wanted, data), records)| {
            let answer = PartitionAnswer {
                has_records: records.iter().any(|r| !r.is_empty()),
                error: data.error_code != 0,
                reported: Reported {
                    high_watermark: data.high_watermark,
                    last_stable_offset: data.last_stable_offset,
                    log_start_offset: data.log_start_offset,
                },
            };
            (wanted.key.clone(), answer)
        })
        .collect();
    let include = broker
        .fetch_sessions()
        .answered(plan.session_id, plan.incremental, &answers);
    if include.iter().all(|&yes| yes) {
        return body;
    }
    let mut keep = include.into_iter();
    let mut records = std::mem::take(&mut body.records).into_iter();
    let mut kept_records = Vec::new();
    for topic in &mut body.response.responses {
        topic.partitions.retain(|_| {
            let yes = keep.next().unwrap_or(true);
            let r = records.next().unwrap_or_default();
            if yes {
                kept_records.push(r);
            }
            yes
        });
    }
    body.response.responses.retain(|t| !t.partitions.is_empty());
    body.records = kept_records;
    body
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
///
/// `room` is what responses waiting to be written over all connections leave: the request's
/// `max_bytes` shrinks to it when clients are not reading, yet the first partition with data still
/// returns a whole batch (KIP-74), so a consumer makes progress however little room there is.
/// Asked at each read, so long polls that end together share it too.
fn read(plan: &Plan, room: usize) -> (FetchBody, usize, bool) {
    let max_bytes = plan.max_bytes.min(room);
    let mut total = 0usize;
    let mut errors = false;
    let mut records_out = Vec::new();
    let mut topics = Vec::with_capacity(plan.topics.len());
    for t in &plan.topics {
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for p in &t.partitions {
            let mut data = PartitionData::default().with_partition_index(p.key.partition);
            if plan.read_committed {
                data = data.with_aborted_transactions(Some(Vec::new()));
            } else {
                data = data.with_aborted_transactions(None);
            }
            let result = p.log.as_ref().map_err(|c| *c).and_then(|log| {
                let room = max_bytes.saturating_sub(total).min(p.max_bytes);
                let r = log
                    .read_isolated(p.fetch_offset, room, total == 0, plan.read_committed)
                    .map_err(|e| error::code(&e, "a fetch read"))?;
                let aborted = match (&r.records, plan.read_committed) {
                    (Some(_), true) => {
                        // Kafka bounds the search by the end of the data it returns.
                        log.aborted_transactions(p.fetch_offset as u64, r.next_offset)
                            .map_err(|e| error::code(&e, "a fetch of aborted transactions"))?
                    }
                    _ => Vec::new(),
                };
                Ok((r, aborted))
            });
            match result {
                Ok((r, aborted)) => {
                    let records = r.records.unwrap_or_default();
                    total += records.len();
                    records_out.push(records.into_parts());
                    data = data
                        .with_high_watermark(r.offsets.high_watermark as i64)
                        .with_last_stable_offset(r.last_stable_offset as i64)
                        .with_log_start_offset(r.offsets.log_start as i64)
                        .with_records(Some(Default::default()));
                    if plan.read_committed {
                        let aborted = aborted
                            .into_iter()
                            .map(|(producer_id, first_offset)| {
                                AbortedTransaction::default()
                                    .with_producer_id(producer_id.into())
                                    .with_first_offset(first_offset as i64)
                            })
                            .collect();
                        data = data.with_aborted_transactions(Some(aborted));
                    }
                }
                Err(code) => {
                    errors = true;
                    records_out.push(Vec::new());
                    data = data
                        .with_error_code(code)
                        .with_high_watermark(-1)
                        .with_records(Some(Default::default()));
                    // Kafka answers a partition it does not have with an empty aborted-transactions
                    // list, not null, whatever the isolation level (its response for an unknown
                    // partition is built apart from the log read's); a read error keeps null.
                    if p.log.is_err() {
                        data = data.with_aborted_transactions(Some(Vec::new()));
                    }
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
        assert_eq!(part(&r).aborted_transactions, None);
        let Outcome::Now(ResponseBody::Fetch(r)) = handle(&Ctx::test(&b, 12), req("nope", 0, 500))
        else {
            panic!()
        };
        assert_eq!(
            part(&r).error_code,
            ResponseError::UnknownTopicOrPartition.code()
        );
        // As Kafka (compat-tests/differential.rs, D13): empty, not null, for an unknown partition.
        assert_eq!(part(&r).aborted_transactions, Some(vec![]));
        for v in 4..=16 {
            let Outcome::Now(ResponseBody::Fetch(r)) = handle(&Ctx::test(&b, v), req("t", 0, 0))
            else {
                panic!()
            };
            crate::protocol::encode_fetch(v, 1, r).unwrap();
        }
    }

    #[test]
    fn no_response_room_still_returns_one_batch() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        let t = b.create_topic("t", 1, Default::default(), false).unwrap();
        for _ in 0..2 {
            t.partitions[0]
                .append_visible(&batch::validate(&make_batch(3, 0), 1 << 20).unwrap())
                .unwrap();
        }
        let bytes = |room: usize| {
            let ctx = Ctx {
                response_room: Arc::new(move || room),
                ..Ctx::test(&b, 12)
            };
            let Outcome::Now(ResponseBody::Fetch(r)) = handle(&ctx, req("t", 0, 500)) else {
                panic!("data is there")
            };
            r.records[0].iter().map(|c| c.len()).sum::<usize>()
        };
        let (all, squeezed) = (bytes(usize::MAX), bytes(0));
        assert!(
            squeezed > 0 && squeezed * 2 == all,
            "one of two equal batches: {squeezed} of {all}"
        );
    }

    #[test]
    fn over_its_byte_rate_a_consumer_gets_an_empty_answer_with_the_throttle_time() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        let t = b.create_topic("t", 1, Default::default(), false).unwrap();
        for _ in 0..2 {
            t.partitions[0]
                .append_visible(&batch::validate(&make_batch(3, 0), 1 << 20).unwrap())
                .unwrap();
        }
        let fetch = || now_body(handle(&Ctx::test(&b, 12), req("t", 0, 0)));
        let batch_bytes: usize = fetch().records[0].iter().map(|c| c.len()).sum::<usize>() / 2;
        // A quota of a tenth of a batch a second: one batch fits the 10 s window, not two.
        let entity = vec![("client-id".to_string(), Some("test".to_string()))];
        let rate = batch_bytes as f64 / 10.0 + 1.0;
        b.quotas()
            .set(&entity, &[("consumer_byte_rate".to_string(), rate)].into());
        let first = fetch();
        assert_eq!(first.response.throttle_time_ms, 0);
        let fetched: usize = first.records[0].iter().map(|c| c.len()).sum();
        assert_eq!(
            fetched, batch_bytes,
            "max_bytes capped to the quota's window"
        );
        let throttled = fetch();
        assert!(throttled.response.throttle_time_ms > 0);
        assert!(throttled.response.responses.is_empty() && throttled.records.is_empty());
        b.quotas().set(&entity, &Default::default());
        assert_eq!(fetch().response.throttle_time_ms, 0, "the quota removed");
    }

    /// read_committed: nothing at or above the last stable offset, not even to end a long poll;
    /// the marker's publish wakes it, and the answer lists the aborted transaction.
    #[tokio::test]
    async fn read_committed_stops_at_the_last_stable_offset_and_wakes_when_it_moves() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        let t = b.create_topic("t", 1, Default::default(), false).unwrap();
        let log = &t.partitions[0];
        let txn = batch::tests::with_txn(&make_batch(2, 0), 7, 0, 0);
        log.append_visible(&batch::validate(&txn, 1 << 20).unwrap())
            .unwrap();
        log.append_visible(&batch::validate(&make_batch(1, 0), 1 << 20).unwrap())
            .unwrap();
        let committed = |wait| req("t", 0, wait).with_isolation_level(1);
        let r = now_body(handle(&Ctx::test(&b, 12), committed(0)));
        assert_eq!(
            (part(&r).high_watermark, part(&r).last_stable_offset),
            (3, 0)
        );
        assert!(r.records[0].iter().all(|c| c.is_empty()));
        assert_eq!(part(&r).aborted_transactions, Some(vec![]));
        // read_uncommitted sees everything, reports the same LSO, and no aborted list.
        let r = now_body(handle(&Ctx::test(&b, 12), req("t", 0, 0)));
        assert_eq!(part(&r).last_stable_offset, 0);
        assert!(r.records[0].iter().any(|c| !c.is_empty()));
        assert_eq!(part(&r).aborted_transactions, None);

        let Outcome::Later(fut) = handle(&Ctx::test(&b, 12), committed(30_000)) else {
            panic!("data above the LSO must not end the long poll")
        };
        let waiting = tokio::spawn(fut);
        tokio::task::yield_now().await;
        let abort = log.write_marker(7, 0, false, 0).unwrap();
        log.publish(abort.end);
        let r = match tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("the marker must wake the long poll")
            .unwrap()
        {
            ResponseBody::Fetch(f) => f,
            ResponseBody::Kind(_) => panic!("not a fetch response"),
        };
        assert_eq!(part(&r).last_stable_offset, 4);
        let aborted = part(&r).aborted_transactions.clone().unwrap();
        assert_eq!(aborted.len(), 1);
        assert_eq!((aborted[0].producer_id.0, aborted[0].first_offset), (7, 0));
        assert!(r.records[0].iter().any(|c| !c.is_empty()));
        // A fetch from the marker still lists it (Kafka: last offset >= fetch offset).
        let r = now_body(handle(
            &Ctx::test(&b, 12),
            req("t", 3, 0).with_isolation_level(1),
        ));
        assert_eq!(
            part(&r).aborted_transactions.as_ref().map(Vec::len),
            Some(1)
        );
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

    fn session_req(topic: &str, parts: &[(i32, i64)], id: i32, epoch: i32) -> FetchRequest {
        FetchRequest::default()
            .with_max_wait_ms(0)
            .with_max_bytes(1 << 20)
            .with_session_id(id)
            .with_session_epoch(epoch)
            .with_topics(if parts.is_empty() {
                Vec::new()
            } else {
                vec![FetchTopic::default()
                    .with_topic(StrBytes::from_string(topic.into()).into())
                    .with_partitions(
                        parts
                            .iter()
                            .map(|&(p, offset)| {
                                FetchPartition::default()
                                    .with_partition(p)
                                    .with_fetch_offset(offset)
                                    .with_partition_max_bytes(1 << 20)
                            })
                            .collect(),
                    )]
            })
    }

    fn now_body(reply: Outcome) -> FetchBody {
        match reply {
            Outcome::Now(ResponseBody::Fetch(f)) => f,
            _ => panic!("expected an answer at once"),
        }
    }

    fn answered(r: &FetchBody) -> Vec<(i32, i64)> {
        r.response
            .responses
            .iter()
            .flat_map(|t| t.partitions.iter())
            .map(|p| (p.partition_index, p.high_watermark))
            .collect()
    }

    /// KIP-227 end to end through the handler: a session opened with epoch 0, incremental
    /// fetches that answer only what changed, and epoch -1 with a session id (what kafka-go
    /// sends) served as a sessionless full fetch instead of FETCH_SESSION_ID_NOT_FOUND.
    #[test]
    fn fetch_sessions() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        let t = b.create_topic("t", 2, Default::default(), false).unwrap();
        let ctx = Ctx::test(&b, 12);
        let r = now_body(handle(&ctx, session_req("t", &[(0, 0), (1, 0)], 0, 0)));
        let id = r.response.session_id;
        assert_ne!(id, 0);
        assert_eq!(answered(&r), vec![(0, 0), (1, 0)]);
        // Nothing changed: an empty answer.
        let r = now_body(handle(&ctx, session_req("t", &[], id, 1)));
        assert_eq!((r.response.error_code, r.response.session_id), (0, id));
        assert!(answered(&r).is_empty());
        // Partition 1 grows: only it is answered, with its records.
        t.partitions[1]
            .append_visible(&batch::validate(&make_batch(2, 0), 1 << 20).unwrap())
            .unwrap();
        let r = now_body(handle(&ctx, session_req("t", &[], id, 2)));
        assert_eq!(answered(&r), vec![(1, 2)]);
        assert!(r.records[0].iter().any(|c| !c.is_empty()));
        // The client moves its position; the high watermark is as last answered: nothing to say.
        let r = now_body(handle(&ctx, session_req("t", &[(1, 2)], id, 3)));
        assert!(answered(&r).is_empty());
        // Wrong epoch, unknown session.
        let r = now_body(handle(&ctx, session_req("t", &[], id, 3)));
        assert_eq!(
            r.response.error_code,
            ResponseError::InvalidFetchSessionEpoch.code()
        );
        let r = now_body(handle(&ctx, session_req("t", &[], id.wrapping_add(1), 1)));
        assert_eq!(
            r.response.error_code,
            ResponseError::FetchSessionIdNotFound.code()
        );
        // Epoch -1 closes the session and is served in full without one.
        let r = now_body(handle(&ctx, session_req("t", &[(0, 0), (1, 0)], id, -1)));
        assert_eq!((r.response.error_code, r.response.session_id), (0, 0));
        assert_eq!(answered(&r), vec![(0, 0), (1, 2)]);
        let r = now_body(handle(&ctx, session_req("t", &[], id, 4)));
        assert_eq!(
            r.response.error_code,
            ResponseError::FetchSessionIdNotFound.code()
        );
    }

    /// READ on the topic, checked before whether it exists, by name and by id.
    #[tokio::test]
    async fn needs_read() {
        use crate::api::authz::{self, tests::*};
        use crate::security::acl::{AclOperation, ResourceType};
        let dir = tempfile::tempdir().unwrap();
        let b = secured_broker(dir.path());
        let shut = b
            .create_topic("shut", 1, Default::default(), false)
            .unwrap();
        b.create_topic("open", 1, Default::default(), false)
            .unwrap();
        allow(&b, ResourceType::Topic, "open", AclOperation::Read);
        let code = |r: &FetchBody| part(r).error_code;
        let r = answer(handle(&Ctx::test(&b, 12), req("open", 0, 0))).await;
        assert_eq!(code(&r), 0);
        for name in ["shut", "absent"] {
            let r = answer(handle(&Ctx::test(&b, 12), req(name, 0, 500))).await;
            assert_eq!(code(&r), authz::TOPIC_DENIED, "{name}");
        }
        let mut by_id = req("", 0, 500);
        by_id.topics[0].topic_id = shut.id;
        let r = answer(handle(&Ctx::test(&b, 13), by_id)).await;
        assert_eq!(code(&r), authz::TOPIC_DENIED);
    }
}
