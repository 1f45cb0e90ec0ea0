//! OffsetCommit: a group's committed positions. The answer waits for the store's flush (shared
//! with concurrent requests), so an acknowledged commit survives a crash.
//!
//! Needs READ on the group (else every partition gets GROUP_AUTHORIZATION_FAILED) and READ on each
//! topic (else its partitions get TOPIC_AUTHORIZATION_FAILED and the rest are still committed).

use kafka_protocol::messages::offset_commit_request::OffsetCommitRequestTopic;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use kafka_protocol::error::ResponseError;

use crate::api::{self, authz, error, Ctx, Outcome};
use crate::security::acl::{AclOperation, ResourceType};
use crate::store::CommittedOffset;

pub fn handle(ctx: &Ctx, mut req: OffsetCommitRequest) -> Outcome {
    let (broker, version) = (ctx.broker, ctx.version);
    if !ctx.authorize(AclOperation::Read, ResourceType::Group, &req.group_id) {
        return Outcome::now(
            OffsetCommitResponse::default().with_topics(refused(req.topics, authz::GROUP_DENIED)),
        );
    }
    let (allowed, denied) = ctx.split_authorized(
        AclOperation::Read,
        ResourceType::Topic,
        std::mem::take(&mut req.topics),
        |t| t.name.as_str(),
    );
    req.topics = allowed;
    let now = crate::now_ms();
    let offsets: Vec<(String, i32, CommittedOffset)> = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(move |p| {
                (
                    t.name.to_string(),
                    p.partition_index,
                    CommittedOffset {
                        offset: p.committed_offset,
                        leader_epoch: if version >= 6 {
                            p.committed_leader_epoch
                        } else {
                            -1
                        },
                        metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                        commit_timestamp_ms: now,
                    },
                )
            })
        })
        .collect();
    let exists = |topic: &str, p: i32| {
        broker
            .topic(topic)
            .is_some_and(|t| t.partition(p).is_some())
    };
    // Members of KIP-848 consumer groups must commit with v9+, which carries their member epoch.
    let result = if version < 9
        && broker
            .groups()
            .commit_needs_v9(req.group_id.as_str(), req.member_id.as_str())
    {
        Err(ResponseError::UnsupportedVersion.code())
    } else {
        broker.groups().commit(
            req.group_id.as_str(),
            req.generation_id_or_member_epoch,
            req.member_id.as_str(),
            req.group_instance_id.as_deref(),
            offsets,
            exists,
        )
    };
    let any_written = matches!(&result, Ok(codes) if codes.contains(&0));
    let mut codes = match result {
        Ok(codes) => codes.into_iter(),
        Err(code) => vec![code; req.topics.iter().map(|t| t.partitions.len()).sum()].into_iter(),
    };
    let mut response = OffsetCommitResponse::default().with_topics(
        req.topics
            .into_iter()
            .map(|t| {
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        OffsetCommitResponsePartition::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(codes.next().unwrap_or_default())
                    })
                    .collect();
                OffsetCommitResponseTopic::default()
                    .with_name(t.name)
                    .with_partitions(partitions)
            })
            .collect(),
    );
    response.topics.extend(refused(denied, authz::TOPIC_DENIED));
    if !any_written {
        return Outcome::now(response);
    }
    api::after_flush(broker, response, |r: &mut OffsetCommitResponse| {
        for p in r.topics.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
            if p.error_code == 0 {
                p.error_code = error::STORAGE_ERROR;
            }
        }
    })
}

/// Every partition of `topics` answered with `code`.
fn refused(topics: Vec<OffsetCommitRequestTopic>, code: i16) -> Vec<OffsetCommitResponseTopic> {
    topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect()
}
