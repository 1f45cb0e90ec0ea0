//! TxnOffsetCommit: offsets committed inside a transaction (after AddOffsetsToTxn). They are held
//! apart and take effect only when the transaction commits. v3+ name the consumer's member and
//! generation (KIP-447), so a zombie of a member that left the group cannot commit.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::txn_offset_commit_request::TxnOffsetCommitRequestTopic;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use crate::api::authz;
use crate::api::{self, error, Ctx, Outcome};
use crate::security::acl::{AclOperation, ResourceType};
use crate::store::CommittedOffset;

pub fn handle(ctx: &Ctx, mut req: TxnOffsetCommitRequest) -> Outcome {
    let (broker, version) = (ctx.broker, ctx.version);
    // As Kafka: WRITE on the transactional id, READ on the group, then READ on each topic.
    let whole = if !ctx.authorize(
        AclOperation::Write,
        ResourceType::TransactionalId,
        &req.transactional_id,
    ) {
        Some(authz::TRANSACTIONAL_ID_DENIED)
    } else if !ctx.authorize(AclOperation::Read, ResourceType::Group, &req.group_id) {
        Some(authz::GROUP_DENIED)
    } else {
        None
    };
    if let Some(code) = whole {
        return Outcome::now(
            TxnOffsetCommitResponse::default().with_topics(refused(req.topics, code)),
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
    let group = req.group_id.as_str();
    // Transaction version 2 (KIP-890, v5+): no AddOffsetsToTxn; the commit adds the group.
    let added = if version >= 5 {
        broker
            .transactions()
            .add_offsets(
                req.transactional_id.as_str(),
                req.producer_id.0,
                req.producer_epoch,
                group,
                true,
            )
            .map(|_| ())
    } else {
        Ok(())
    };
    let verified = added.and_then(|()| {
        broker.transactions().verify_group(
            req.transactional_id.as_str(),
            req.producer_id.0,
            req.producer_epoch,
            group,
        )
    });
    let result = verified.and_then(|()| {
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
                            leader_epoch: if version >= 2 {
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
        let (generation, member, instance) = if version >= 3 {
            (
                req.generation_id,
                req.member_id.as_str(),
                req.group_instance_id.as_deref(),
            )
        } else {
            (-1, "", None)
        };
        broker.groups().txn_commit(
            group,
            req.producer_id.0,
            generation,
            member,
            instance,
            offsets,
            exists,
        )
    });
    let any_written = matches!(&result, Ok(codes) if codes.contains(&0));
    let mut codes = match result {
        Ok(codes) => codes.into_iter(),
        Err(code) => {
            // Kafka's coordinator fences with PRODUCER_FENCED; clients before v3 (KIP-447's
            // bump) know it only as INVALID_PRODUCER_EPOCH.
            let code = if code == ResponseError::ProducerFenced.code() && version < 3 {
                ResponseError::InvalidProducerEpoch.code()
            } else {
                code
            };
            vec![code; req.topics.iter().map(|t| t.partitions.len()).sum()].into_iter()
        }
    };
    let mut response = TxnOffsetCommitResponse::default().with_topics(
        req.topics
            .into_iter()
            .map(|t| {
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        TxnOffsetCommitResponsePartition::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(codes.next().unwrap_or_default())
                    })
                    .collect();
                TxnOffsetCommitResponseTopic::default()
                    .with_name(t.name)
                    .with_partitions(partitions)
            })
            .collect(),
    );
    response.topics.extend(refused(denied, authz::TOPIC_DENIED));
    if !any_written {
        return Outcome::now(response);
    }
    api::after_flush(broker, response, |r: &mut TxnOffsetCommitResponse| {
        for p in r.topics.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
            if p.error_code == 0 {
                p.error_code = error::STORAGE_ERROR;
            }
        }
    })
}

/// Every partition of `topics` answered with `code`.
fn refused(
    topics: Vec<TxnOffsetCommitRequestTopic>,
    code: i16,
) -> Vec<TxnOffsetCommitResponseTopic> {
    topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                })
                .collect();
            TxnOffsetCommitResponseTopic::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect()
}
