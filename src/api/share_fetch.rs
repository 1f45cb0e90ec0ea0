//! ShareFetch (KIP-932): a share-group member acknowledges what it processed and acquires more
//! records of its share session's partitions (`coordinator::share`).
//!
//! Acknowledgements piggy-backed on the request are applied first, all or nothing per partition,
//! and made durable before the answer. Then records are acquired, up to `max_records` over all
//! partitions and about `max_bytes`, and served as the stored batches holding them: the client
//! keeps only the `acquired_records` ranges. With nothing to acquire, the request long-polls up
//! to `max_wait_ms`, woken by an append to one of its partitions or by records becoming
//! available again (released, lock expired), as Fetch does: no polling loop.
//!
//! v2 (KIP-1206, KIP-1222): `share_acquire_mode` 1 (record_limit) asks for at most `max_records`
//! records exactly; batch_optimized (0, and every v1 request) acquires whole batches, so
//! `max_records` is rounded up to the end of the last batch begun, as Kafka does: a fetch then
//! serves each stored batch once instead of the same batch again for every `max_records`. A request
//! with `is_renew_ack` only acknowledges, RENEW among them, and fetches nothing: Kafka wants its
//! fetch limits all 0.
//!
//! Authorization as Kafka's: READ on the group for the request, and READ on each topic, a topic the
//! client may not read answering TOPIC_AUTHORIZATION_FAILED for its partitions (acknowledgements
//! included) while an unknown topic id stays UNKNOWN_TOPIC_ID.
//!
//! As in Kafka, any member id the group coordinator could have given (non-empty, at most 36
//! characters) may fetch: membership is the share-group coordinator's business, and a member
//! it removes has its records released through `ShareCoordinator::member_left`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::share_fetch_response::{
    AcquiredRecords, LeaderIdAndEpoch, PartitionData, ShareFetchableTopicResponse,
};
use kafka_protocol::messages::{ShareFetchRequest, ShareFetchResponse};
use tokio::sync::Notify;

use crate::api::{authz, Ctx, Outcome, ResponseRoom};
use crate::broker::{stopping, Broker};
use crate::coordinator::share::partition::RENEW;
use crate::coordinator::share::{Delivered, Plan, SessionPartition, ShareKey, ShareSettings};
use crate::log::{PartitionLog, LEADER_EPOCH};
use crate::security::acl::{AclOperation, ResourceType};

/// Acknowledgement batches of one partition: (first offset, last offset, types).
pub type AckBatches = Vec<(i64, i64, Vec<i8>)>;

/// Kafka's check of a member id: what its group coordinator hands out fits in 36 characters.
pub fn valid_member(member: &str) -> bool {
    !member.is_empty() && member.len() <= 36
}

/// The group and member of a share request, or the INVALID_REQUEST Kafka answers: for a null
/// group id (an empty one is a group like any other there) or an invalid member id. Kafka's
/// error response for these carries no message.
pub fn group_and_member(
    group: Option<&kafka_protocol::messages::GroupId>,
    member: Option<&kafka_protocol::protocol::StrBytes>,
) -> Result<(String, String), i16> {
    let Some(group) = group else {
        return Err(ResponseError::InvalidRequest.code());
    };
    let member = member.map(|m| m.to_string()).unwrap_or_default();
    if !valid_member(&member) {
        return Err(ResponseError::InvalidRequest.code());
    }
    Ok((group.to_string(), member))
}

/// Whether a request may carry RENEW acknowledgements: only v2 ones that say so (`is_renew_ack`).
/// Kafka answers INVALID_REQUEST for the partition otherwise, as for any unknown type.
pub fn renew_allowed(version: i16, is_renew_ack: bool) -> bool {
    version >= 2 && is_renew_ack
}

/// Whether the client may READ the topic of a share partition; an unknown topic id passes, to be
/// answered UNKNOWN_TOPIC_ID where it is looked up.
pub fn topic_readable(ctx: &Ctx, topic_id: uuid::Uuid) -> bool {
    ctx.broker
        .topic_by_id(topic_id)
        .is_none_or(|t| ctx.authorize(AclOperation::Read, ResourceType::Topic, &t.name))
}

/// Applies one partition's acknowledgements; the partition's acknowledge error code.
pub fn acknowledge(
    broker: &Broker,
    group: &str,
    member: &str,
    p: SessionPartition,
    batches: &AckBatches,
    renew: bool,
) -> i16 {
    if !renew && batches.iter().any(|(_, _, types)| types.contains(&RENEW)) {
        return ResponseError::InvalidRequest.code();
    }
    let Some(topic) = broker.topic_by_id(p.0) else {
        return ResponseError::UnknownTopicId.code();
    };
    if topic.partition(p.1).is_none() {
        return ResponseError::UnknownTopicOrPartition.code();
    }
    let key = ShareKey {
        group: group.to_string(),
        topic_id: p.0,
        partition: p.1,
    };
    match broker.share().acknowledge(&key, member, batches) {
        Ok(()) => 0,
        Err(code) => code,
    }
}

fn leader(broker: &Broker) -> LeaderIdAndEpoch {
    LeaderIdAndEpoch::default()
        .with_leader_id(broker.config().node_id)
        .with_leader_epoch(LEADER_EPOCH)
}

/// What one request reads, owned so a long poll can read it again.
struct Fetching {
    broker: Broker,
    group: String,
    member: Arc<str>,
    settings: ShareSettings,
    partitions: Vec<(SessionPartition, Result<Arc<PartitionLog>, i16>)>,
    max_records: usize,
    max_bytes: usize,
    /// What responses waiting to be written leave (as Fetch: shrinks, never below one batch).
    room: ResponseRoom,
    /// A later request of a session answers only partitions with something to say.
    incremental: bool,
    /// Acknowledge error codes of the partitions that carried acknowledgements.
    acks: HashMap<SessionPartition, i16>,
    /// A renew request (v2 `is_renew_ack`) acknowledges and acquires nothing.
    renew_only: bool,
    /// batch_optimized acquisition (v1, and v2's `share_acquire_mode` 0): whole batches.
    whole_batches: bool,
}

/// `share_acquire_mode` 1: exactly `max_records`.
const RECORD_LIMIT: i8 = 1;

pub fn handle(ctx: &Ctx, req: ShareFetchRequest) -> Outcome {
    let broker = ctx.broker;
    let (group, member) = match group_and_member(req.group_id.as_ref(), req.member_id.as_ref()) {
        Ok(gm) => gm,
        Err(code) => return Outcome::now(ShareFetchResponse::default().with_error_code(code)),
    };
    if !ctx.authorize(AclOperation::Read, ResourceType::Group, &group) {
        return Outcome::now(ShareFetchResponse::default().with_error_code(authz::GROUP_DENIED));
    }
    let renew = renew_allowed(ctx.version, req.is_renew_ack);
    // Kafka refuses a renew request that would also fetch, with no message.
    if renew
        && (req.max_bytes != 0
            || req.min_bytes != 0
            || req.max_records != 0
            || req.max_wait_ms != 0)
    {
        let code = ResponseError::InvalidRequest.code();
        return Outcome::now(ShareFetchResponse::default().with_error_code(code));
    }
    let mut add = Vec::new();
    let mut acks: Vec<(SessionPartition, AckBatches)> = Vec::new();
    for t in &req.topics {
        for p in &t.partitions {
            let key = (t.topic_id, p.partition_index);
            add.push(key);
            if !p.acknowledgement_batches.is_empty() {
                let batches = p
                    .acknowledgement_batches
                    .iter()
                    .map(|b| (b.first_offset, b.last_offset, b.acknowledge_types.clone()))
                    .collect();
                acks.push((key, batches));
            }
        }
    }
    let forget: Vec<SessionPartition> = req
        .forgotten_topics_data
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |&p| (t.topic_id, p)))
        .collect();
    let share = broker.share();
    let plan = share.sessions().fetch(
        ctx.peer,
        &group,
        &member,
        req.share_session_epoch,
        add,
        &forget,
        !acks.is_empty(),
    );
    let plan = match plan {
        Ok(plan) => plan,
        Err(code) => return Outcome::now(ShareFetchResponse::default().with_error_code(code)),
    };
    let acks: HashMap<SessionPartition, i16> = acks
        .into_iter()
        .map(|(p, batches)| {
            let code = if topic_readable(ctx, p.0) {
                acknowledge(broker, &group, &member, p, &batches, renew)
            } else {
                authz::TOPIC_DENIED
            };
            (p, code)
        })
        .collect();
    let settings = share.settings(&group);
    let (partitions, incremental) = match plan {
        Plan::Full(parts) => (parts, false),
        Plan::Incremental(parts) => (parts, true),
        Plan::Final => {
            // The session is over: what the member still holds goes back to the others.
            share.release_member(&group, &member);
            (Vec::new(), true)
        }
    };
    let partitions = partitions
        .into_iter()
        .map(|p| {
            let log = match broker.topic_by_id(p.0) {
                None => Err(ResponseError::UnknownTopicId.code()),
                Some(t) if !ctx.authorize(AclOperation::Read, ResourceType::Topic, &t.name) => {
                    Err(authz::TOPIC_DENIED)
                }
                Some(t) => crate::api::partition(Some(&t), p.1).cloned(),
            };
            (p, log)
        })
        .collect();
    let fetching = Fetching {
        broker: broker.clone(),
        group,
        member: Arc::from(member),
        settings,
        partitions,
        max_records: req.max_records.max(1) as usize,
        max_bytes: req.max_bytes.max(0) as usize,
        room: ctx.response_room.clone(),
        incremental,
        acks,
        renew_only: renew,
        whole_batches: ctx.version < 2 || req.share_acquire_mode != RECORD_LIMIT,
    };
    let acknowledged = fetching.acks.values().any(|&c| c == 0);
    let min_bytes = req.min_bytes.max(0) as usize;
    let max_wait_ms = req.max_wait_ms;
    let (response, bytes, done) = fetching.read();
    if !acknowledged && (bytes >= min_bytes.max(1) || done || max_wait_ms <= 0) {
        return Outcome::now(response);
    }
    let mut shutdown = broker.shutdown_signal();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(max_wait_ms.max(0) as u64);
    Outcome::later(async move {
        if acknowledged {
            if let Err(e) = fetching.broker.durable().await {
                tracing::error!(error = %e, "could not make share acknowledgements durable");
                let mut response = response;
                mark_acks_failed(&mut response, &fetching.acks);
                return response;
            }
        }
        if bytes >= min_bytes.max(1) || done || max_wait_ms <= 0 {
            return response;
        }
        loop {
            let waiter = Arc::new(Notify::new());
            for (_, log) in &fetching.partitions {
                if let Ok(log) = log {
                    log.register_waiter(&waiter);
                }
            }
            fetching.broker.share().register_waiter(&waiter);
            // Read after registering: a wake-up in between leaves a permit in the Notify.
            let (response, bytes, done) = fetching.read();
            if bytes >= min_bytes.max(1) || done {
                return response;
            }
            tokio::select! {
                _ = waiter.notified() => continue,
                _ = tokio::time::sleep_until(deadline) => {}
                _ = stopping(&mut shutdown) => {}
            }
            return fetching.read().0;
        }
    })
}

fn mark_acks_failed(response: &mut ShareFetchResponse, acks: &HashMap<SessionPartition, i16>) {
    for t in &mut response.responses {
        for p in &mut t.partitions {
            if acks.get(&(t.topic_id, p.partition_index)) == Some(&0) {
                p.acknowledge_error_code = ResponseError::KafkaStorageError.code();
            }
        }
    }
}

impl Fetching {
    /// Acquires and reads; returns the response, the record bytes in it, and whether it must be
    /// answered at once whatever `min_bytes` says (a partition error, or a closed session). The
    /// request's acknowledgement results are in every read, as whichever read answers carries them.
    fn read(&self) -> (ShareFetchResponse, usize, bool) {
        let share = self.broker.share();
        let mut budget = self.max_records;
        let max_bytes = self.max_bytes.min((self.room)());
        let mut total = 0usize;
        let mut errors = false;
        let mut topics: Vec<ShareFetchableTopicResponse> = Vec::new();
        let mut answered: Vec<SessionPartition> = Vec::new();
        for (p, log) in &self.partitions {
            let key = ShareKey {
                group: self.group.clone(),
                topic_id: p.0,
                partition: p.1,
            };
            let result = log.as_ref().map_err(|c| *c).and_then(|log| {
                if self.renew_only {
                    return Ok(None);
                }
                share.acquire(
                    &key,
                    log,
                    &self.member,
                    &self.settings,
                    &mut budget,
                    max_bytes.saturating_sub(total),
                    total == 0,
                    self.whole_batches,
                )
            });
            let mut data = PartitionData::default()
                .with_partition_index(p.1)
                .with_current_leader(leader(&self.broker));
            let ack = self.acks.get(p).copied();
            if let Some(code) = ack {
                data = data.with_acknowledge_error_code(code);
            }
            let mut say = ack.is_some() || !self.incremental;
            match result {
                // Not initialised by the share-group coordinator: Kafka leaves it out.
                Ok(None) if ack.is_none() => continue,
                Ok(None) => {
                    data = data.with_records(Some(Bytes::new()));
                }
                Ok(Some(Delivered { records, acquired })) => {
                    let records = records.unwrap_or_default();
                    total += records.len();
                    say |= !acquired.is_empty();
                    data = data.with_records(Some(records)).with_acquired_records(
                        acquired
                            .into_iter()
                            .map(|a| {
                                AcquiredRecords::default()
                                    .with_first_offset(a.first)
                                    .with_last_offset(a.last)
                                    .with_delivery_count(a.delivery_count)
                            })
                            .collect(),
                    );
                }
                Err(code) => {
                    errors = true;
                    say = true;
                    data = data.with_error_code(code).with_records(Some(Bytes::new()));
                }
            }
            if !say {
                continue;
            }
            answered.push(*p);
            match topics.iter_mut().find(|t| t.topic_id == p.0) {
                Some(t) => t.partitions.push(data),
                None => topics.push(
                    ShareFetchableTopicResponse::default()
                        .with_topic_id(p.0)
                        .with_partitions(vec![data]),
                ),
            }
        }
        // Acknowledged partitions no longer in the session (or a closed one's) are still
        // answered, in a stable order.
        let mut unanswered: Vec<(&SessionPartition, &i16)> = self
            .acks
            .iter()
            .filter(|(p, _)| !answered.contains(p))
            .collect();
        unanswered.sort();
        for (p, &code) in unanswered {
            let data = PartitionData::default()
                .with_partition_index(p.1)
                .with_acknowledge_error_code(code)
                .with_current_leader(leader(&self.broker))
                .with_records(Some(Bytes::new()));
            match topics.iter_mut().find(|t| t.topic_id == p.0) {
                Some(t) => t.partitions.push(data),
                None => topics.push(
                    ShareFetchableTopicResponse::default()
                        .with_topic_id(p.0)
                        .with_partitions(vec![data]),
                ),
            }
        }
        let response = ShareFetchResponse::default()
            .with_acquisition_lock_timeout_ms(
                self.settings.limits.lock_duration_ms.min(i32::MAX as u64) as i32,
            )
            .with_responses(topics);
        (response, total, errors || self.partitions.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::share_acknowledge;
    use crate::broker::tests::test_broker;
    use crate::config::Config;
    use crate::log::batch::{self, tests::make_batch};
    use crate::protocol::ResponseBody;
    use kafka_protocol::messages::share_acknowledge_request::{
        AcknowledgePartition, AcknowledgeTopic, AcknowledgementBatch,
    };
    use kafka_protocol::messages::share_fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::{GroupId, ResponseKind, ShareAcknowledgeRequest};
    use uuid::Uuid;

    fn fetch(topic: Uuid, member: &str, epoch: i32, max_wait_ms: i32) -> ShareFetchRequest {
        ShareFetchRequest::default()
            .with_group_id(Some(GroupId(crate::api::str_bytes("g"))))
            .with_member_id(Some(crate::api::str_bytes(member)))
            .with_share_session_epoch(epoch)
            .with_max_wait_ms(max_wait_ms)
            .with_min_bytes(1)
            .with_max_bytes(1 << 20)
            .with_max_records(100)
            .with_topics(vec![FetchTopic::default()
                .with_topic_id(topic)
                .with_partitions(vec![FetchPartition::default()])])
    }

    async fn answer(o: Outcome) -> ShareFetchResponse {
        let body = match o {
            Outcome::Now(b) => b,
            Outcome::Later(f) => f.await,
            _ => panic!("no answer"),
        };
        match body {
            ResponseBody::Kind(ResponseKind::ShareFetch(r)) => r,
            _ => panic!("not a share fetch response"),
        }
    }

    fn acquired(r: &ShareFetchResponse) -> Vec<(i64, i64, i16)> {
        r.responses
            .iter()
            .flat_map(|t| t.partitions.iter())
            .flat_map(|p| p.acquired_records.iter())
            .map(|a| (a.first_offset, a.last_offset, a.delivery_count))
            .collect()
    }

    /// A long poll with nothing to acquire sleeps until another member releases records, then
    /// gets them as their second delivery; no polling.
    #[tokio::test]
    async fn long_poll_wakes_when_records_are_released() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        // No share-group coordinator assigns partitions here: every one may start.
        b.share().set_initialized_lookup(|_, _, _| true);
        let t = b.create_topic("t", 1, Default::default(), false).unwrap();
        let ctx = Ctx::test(&b, 1);
        // The first fetch starts the partition at the end of the log (latest).
        assert!(acquired(&answer(handle(&ctx, fetch(t.id, "a", 0, 0))).await).is_empty());
        t.partitions[0]
            .append_visible(&batch::validate(&make_batch(2, 0), 1 << 20).unwrap())
            .unwrap();
        let r = answer(handle(&ctx, fetch(t.id, "a", 1, 0))).await;
        assert_eq!(acquired(&r), vec![(0, 1, 1)]);
        assert!(r.responses[0].partitions[0]
            .records
            .as_ref()
            .is_some_and(|r| !r.is_empty()));
        let Outcome::Later(waiting) = handle(&ctx, fetch(t.id, "b", 0, 30_000)) else {
            panic!("nothing to acquire: must wait")
        };
        let waiting = tokio::spawn(waiting);
        tokio::task::yield_now().await;
        let release = ShareAcknowledgeRequest::default()
            .with_group_id(Some(GroupId(crate::api::str_bytes("g"))))
            .with_member_id(Some(crate::api::str_bytes("a")))
            .with_share_session_epoch(2)
            .with_topics(vec![AcknowledgeTopic::default()
                .with_topic_id(t.id)
                .with_partitions(vec![AcknowledgePartition::default()
                    .with_acknowledgement_batches(vec![
                        AcknowledgementBatch::default()
                            .with_first_offset(0)
                            .with_last_offset(1)
                            .with_acknowledge_types(vec![2]),
                    ])])]);
        let Outcome::Later(acked) = share_acknowledge::handle(&ctx, release) else {
            panic!("acknowledgements wait for durability")
        };
        acked.await;
        let body = tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("the release must wake the long poll")
            .unwrap();
        let ResponseBody::Kind(ResponseKind::ShareFetch(r)) = body else {
            panic!()
        };
        assert_eq!(acquired(&r), vec![(0, 1, 2)]);
    }

    /// READ on the topic is needed besides READ on the group: an unreadable topic's partitions are
    /// TOPIC_AUTHORIZATION_FAILED, in fetches and acknowledgements, and nothing is acquired.
    #[tokio::test]
    async fn an_unreadable_topic_is_topic_authorization_failed() {
        use crate::api::authz::tests::{allow, secured_broker};
        let dir = tempfile::tempdir().unwrap();
        let b = secured_broker(dir.path());
        b.share().set_initialized_lookup(|_, _, _| true);
        let t = b.create_topic("t", 1, Default::default(), false).unwrap();
        allow(&b, ResourceType::Group, "g", AclOperation::Read);
        let ctx = Ctx::test(&b, 1);
        answer(handle(&ctx, fetch(t.id, "a", 0, 0))).await;
        t.partitions[0]
            .append_visible(&batch::validate(&make_batch(2, 0), 1 << 20).unwrap())
            .unwrap();
        let r = answer(handle(&ctx, fetch(t.id, "a", 1, 0))).await;
        assert_eq!(r.responses[0].partitions[0].error_code, authz::TOPIC_DENIED);
        assert!(acquired(&r).is_empty());
        let ack = ShareAcknowledgeRequest::default()
            .with_group_id(Some(GroupId(crate::api::str_bytes("g"))))
            .with_member_id(Some(crate::api::str_bytes("a")))
            .with_share_session_epoch(2)
            .with_topics(vec![AcknowledgeTopic::default()
                .with_topic_id(t.id)
                .with_partitions(vec![AcknowledgePartition::default()
                    .with_acknowledgement_batches(vec![
                        AcknowledgementBatch::default()
                            .with_first_offset(0)
                            .with_last_offset(1)
                            .with_acknowledge_types(vec![1]),
                    ])])]);
        let acked = match share_acknowledge::handle(&ctx, ack) {
            Outcome::Later(f) => f.await,
            Outcome::Now(b) => b,
            _ => panic!("no answer"),
        };
        let ResponseBody::Kind(ResponseKind::ShareAcknowledge(acked)) = acked else {
            panic!("not a share acknowledge response")
        };
        assert_eq!(
            acked.responses[0].partitions[0].error_code,
            authz::TOPIC_DENIED
        );
        // With READ on the topic the member's first read starts the partition (at its end, as
        // every share partition starts), and it acquires what comes after.
        allow(&b, ResourceType::Topic, "t", AclOperation::Read);
        answer(handle(&ctx, fetch(t.id, "a", 3, 0))).await;
        t.partitions[0]
            .append_visible(&batch::validate(&make_batch(2, 2), 1 << 20).unwrap())
            .unwrap();
        let r = answer(handle(&ctx, fetch(t.id, "a", 4, 0))).await;
        assert_eq!(acquired(&r), vec![(2, 3, 1)]);
    }

    /// v2: RENEW keeps records acquired, only with `is_renew_ack` in a request that fetches
    /// nothing (Kafka: INVALID_REQUEST otherwise); record_limit acquires exactly `max_records`.
    #[tokio::test]
    async fn v2_renews_and_limits_records() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        // No share-group coordinator assigns partitions here: every one may start.
        b.share().set_initialized_lookup(|_, _, _| true);
        let t = b.create_topic("t", 1, Default::default(), false).unwrap();
        let (v1, v2) = (Ctx::test(&b, 1), Ctx::test(&b, 2));
        answer(handle(&v2, fetch(t.id, "a", 0, 0))).await;
        t.partitions[0]
            .append_visible(&batch::validate(&make_batch(5, 0), 1 << 20).unwrap())
            .unwrap();
        let limited = fetch(t.id, "a", 1, 0)
            .with_max_records(2)
            .with_share_acquire_mode(1);
        assert_eq!(
            acquired(&answer(handle(&v2, limited)).await),
            vec![(0, 1, 1)]
        );
        let renew = |epoch: i32, is_renew_ack: bool| {
            let mut r = fetch(t.id, "a", epoch, 0)
                .with_min_bytes(0)
                .with_max_bytes(0)
                .with_max_records(0)
                .with_is_renew_ack(is_renew_ack);
            r.topics[0].partitions[0].acknowledgement_batches = vec![
                kafka_protocol::messages::share_fetch_request::AcknowledgementBatch::default()
                    .with_first_offset(0)
                    .with_last_offset(1)
                    .with_acknowledge_types(vec![RENEW]),
            ];
            r
        };
        let invalid = ResponseError::InvalidRequest.code();
        let r = answer(handle(&v2, renew(2, true).with_max_records(1))).await;
        assert_eq!(r.error_code, invalid);
        // v1 has no RENEW; v2 has it only with is_renew_ack.
        for (ctx, epoch, flag) in [(&v1, 2, false), (&v2, 3, false)] {
            let r = answer(handle(ctx, renew(epoch, flag))).await;
            assert_eq!(r.responses[0].partitions[0].acknowledge_error_code, invalid);
        }
        let r = answer(handle(&v2, renew(4, true))).await;
        assert_eq!(r.error_code, 0);
        let p = &r.responses[0].partitions[0];
        assert_eq!(p.acknowledge_error_code, 0);
        assert!(p.acquired_records.is_empty());
        // Still acquired by "a", as are 2 to 4, which the first refused fetch (v1, so
        // batch_optimized) acquired to the end of their batch: another member gets nothing.
        let r = answer(handle(&v2, fetch(t.id, "b", 0, 0))).await;
        assert_eq!(acquired(&r), vec![]);
    }
}
