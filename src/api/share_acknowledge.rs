//! ShareAcknowledge (KIP-932): a share-group member accepts, releases or rejects records it
//! acquired, without fetching more. Under its share session: epoch 0 is never valid (nothing was
//! acquired without a session), -1 ends the session and releases whatever the member still holds.
//! Acknowledgements are durable before the answer. v2 adds RENEW (KIP-1222) for requests with
//! `is_renew_ack`, and the group's acquisition lock duration in the answer, as Kafka sends it.

use std::collections::HashMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::share_acknowledge_response::{
    LeaderIdAndEpoch, PartitionData, ShareAcknowledgeTopicResponse,
};
use kafka_protocol::messages::{ShareAcknowledgeRequest, ShareAcknowledgeResponse};

use crate::api::share_fetch::{
    acknowledge, group_and_member, renew_allowed, topic_readable, AckBatches,
};
use crate::api::{after_flush, authz, Ctx, Outcome};
use crate::coordinator::share::session::FINAL_EPOCH;
use crate::log::LEADER_EPOCH;
use crate::security::acl::{AclOperation, ResourceType};

pub fn handle(ctx: &Ctx, req: ShareAcknowledgeRequest) -> Outcome {
    let broker = ctx.broker;
    let (group, member) = match group_and_member(req.group_id.as_ref(), req.member_id.as_ref()) {
        Ok(gm) => gm,
        Err(code) => {
            return Outcome::now(ShareAcknowledgeResponse::default().with_error_code(code))
        }
    };
    if !ctx.authorize(AclOperation::Read, ResourceType::Group, &group) {
        return Outcome::now(
            ShareAcknowledgeResponse::default().with_error_code(authz::GROUP_DENIED),
        );
    }
    let share = broker.share();
    if let Err(code) = share
        .sessions()
        .acknowledge(&group, &member, req.share_session_epoch)
    {
        return Outcome::now(ShareAcknowledgeResponse::default().with_error_code(code));
    }
    let renew = renew_allowed(ctx.version, req.is_renew_ack);
    let leader = LeaderIdAndEpoch::default()
        .with_leader_id(broker.config().node_id)
        .with_leader_epoch(LEADER_EPOCH);
    let mut topics: Vec<ShareAcknowledgeTopicResponse> = Vec::new();
    for t in &req.topics {
        // One answer per partition, even if a client names one twice.
        let mut seen: HashMap<i32, usize> = HashMap::new();
        let mut partitions: Vec<PartitionData> = Vec::new();
        for p in &t.partitions {
            let batches: AckBatches = p
                .acknowledgement_batches
                .iter()
                .map(|b| (b.first_offset, b.last_offset, b.acknowledge_types.clone()))
                .collect();
            let code = if !topic_readable(ctx, t.topic_id) {
                authz::TOPIC_DENIED
            } else if batches.is_empty() {
                0
            } else {
                acknowledge(
                    broker,
                    &group,
                    &member,
                    (t.topic_id, p.partition_index),
                    &batches,
                    renew,
                )
            };
            match seen.get(&p.partition_index) {
                Some(&i) if partitions[i].error_code == 0 => partitions[i].error_code = code,
                Some(_) => {}
                None => {
                    seen.insert(p.partition_index, partitions.len());
                    partitions.push(
                        PartitionData::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(code)
                            .with_current_leader(leader.clone()),
                    );
                }
            }
        }
        match topics.iter_mut().find(|r| r.topic_id == t.topic_id) {
            Some(r) => r.partitions.extend(partitions),
            None => topics.push(
                ShareAcknowledgeTopicResponse::default()
                    .with_topic_id(t.topic_id)
                    .with_partitions(partitions),
            ),
        }
    }
    if req.share_session_epoch == FINAL_EPOCH {
        share.release_member(&group, &member);
    }
    let lock_ms = share.settings(&group).limits.lock_duration_ms;
    let response = ShareAcknowledgeResponse::default()
        .with_acquisition_lock_timeout_ms(lock_ms.min(i32::MAX as u64) as i32)
        .with_responses(topics);
    after_flush(broker, response, |r| {
        for t in &mut r.responses {
            for p in &mut t.partitions {
                if p.error_code == 0 {
                    p.error_code = ResponseError::KafkaStorageError.code();
                }
            }
        }
    })
}
