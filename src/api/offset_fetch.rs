//! OffsetFetch: a group's committed positions, in the single-group form (v1-7) and the
//! multi-group form (v8+). A partition without a commit answers offset -1, as Kafka does.
//!
//! Needs DESCRIBE on the group (else GROUP_AUTHORIZATION_FAILED for it). A topic the client may not
//! describe is left out of "every topic", and a named one gets TOPIC_AUTHORIZATION_FAILED, as Kafka.

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse};
use kafka_protocol::protocol::StrBytes;

use kafka_protocol::error::ResponseError;

use crate::api::{authz, Ctx};
use crate::security::acl::{AclOperation, ResourceType};

/// One partition's committed position; a partition without a commit answers offset -1, leader
/// epoch -1 and empty metadata, as Kafka does.
struct Committed {
    partition: i32,
    offset: i64,
    leader_epoch: i32,
    metadata: StrBytes,
    error_code: i16,
}

impl Committed {
    /// A partition answered with an error and no position.
    fn refused(partition: i32, error_code: i16) -> Committed {
        Committed {
            partition,
            offset: -1,
            leader_epoch: -1,
            metadata: StrBytes::default(),
            error_code,
        }
    }
}

/// A group's committed positions for the named topics and partitions, or for every topic it has
/// committed when `topics` is `None`: what both request forms ask.
/// With `require_stable` (v7+; consumers with isolation.level=read_committed), a partition an open
/// transaction committed an offset for answers UNSTABLE_OFFSET_COMMIT, as Kafka does, so the
/// consumer retries until the transaction ends instead of starting from an offset about to change.
/// `Err` is the group's error: the client may not describe it.
fn committed(
    ctx: &Ctx,
    group: &str,
    topics: Option<Vec<(String, Vec<i32>)>>,
    require_stable: bool,
) -> Result<Vec<(String, Vec<Committed>)>, i16> {
    if !ctx.authorize(AclOperation::Describe, ResourceType::Group, group) {
        return Err(authz::GROUP_DENIED);
    }
    let (topics, denied) = match topics {
        Some(topics) => {
            let (allowed, denied) =
                ctx.split_authorized(AclOperation::Describe, ResourceType::Topic, topics, |t| {
                    t.0.as_str()
                });
            (Some(allowed), denied)
        }
        None => (None, Vec::new()),
    };
    let every_topic = topics.is_none();
    let groups = ctx.broker.groups();
    let mut found: Vec<(String, Vec<Committed>)> = ctx
        .broker
        .groups()
        .fetch_offsets(group, topics)
        .into_iter()
        .filter(|(topic, _)| {
            !every_topic || ctx.authorize(AclOperation::Describe, ResourceType::Topic, topic)
        })
        .map(|(topic, found)| {
            let partitions = found
                .into_iter()
                .map(|(partition, c)| {
                    if require_stable && groups.has_pending_txn_offset(group, &topic, partition) {
                        return Committed::refused(
                            partition,
                            ResponseError::UnstableOffsetCommit.code(),
                        );
                    }
                    let (offset, leader_epoch, metadata) = match c {
                        Some(c) => (c.offset, c.leader_epoch, c.metadata.unwrap_or_default()),
                        None => (-1, -1, String::new()),
                    };
                    Committed {
                        partition,
                        offset,
                        leader_epoch,
                        metadata: StrBytes::from_string(metadata),
                        error_code: 0,
                    }
                })
                .collect();
            (topic, partitions)
        })
        .collect();
    found.extend(denied.into_iter().map(|(topic, partitions)| {
        let refused = partitions
            .into_iter()
            .map(|partition| Committed::refused(partition, authz::TOPIC_DENIED));
        (topic, refused.collect())
    }));
    Ok(found)
}

pub fn handle(ctx: &Ctx, req: OffsetFetchRequest) -> OffsetFetchResponse {
    if ctx.version >= 8 {
        let groups = req
            .groups
            .into_iter()
            .map(|g| {
                // v9: a consumer-group member fetches at its current member epoch (KIP-848).
                let check = ctx.broker.groups().check_offset_fetch(
                    g.group_id.as_str(),
                    g.member_id.as_deref(),
                    g.member_epoch,
                );
                if ctx.version >= 9 && check != 0 {
                    return OffsetFetchResponseGroup::default()
                        .with_group_id(g.group_id)
                        .with_error_code(check);
                }
                let wanted = g.topics.map(|ts| {
                    ts.into_iter()
                        .map(|t| (t.name.to_string(), t.partition_indexes))
                        .collect()
                });
                let found = committed(ctx, g.group_id.as_str(), wanted, req.require_stable);
                let found = match found {
                    Ok(found) => found,
                    Err(code) => {
                        return OffsetFetchResponseGroup::default()
                            .with_group_id(g.group_id)
                            .with_error_code(code)
                    }
                };
                let topics = found
                    .into_iter()
                    .map(|(topic, partitions)| {
                        let partitions = partitions.into_iter().map(|c| {
                            OffsetFetchResponsePartitions::default()
                                .with_partition_index(c.partition)
                                .with_committed_offset(c.offset)
                                .with_committed_leader_epoch(c.leader_epoch)
                                .with_metadata(Some(c.metadata))
                                .with_error_code(c.error_code)
                        });
                        OffsetFetchResponseTopics::default()
                            .with_name(StrBytes::from_string(topic).into())
                            .with_partitions(partitions.collect())
                    })
                    .collect();
                OffsetFetchResponseGroup::default()
                    .with_group_id(g.group_id)
                    .with_topics(topics)
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let wanted: Option<Vec<(String, Vec<i32>)>> = req.topics.map(|ts| {
        ts.into_iter()
            .map(|t| (t.name.to_string(), t.partition_indexes))
            .collect()
    });
    let stable = ctx.version >= 7 && req.require_stable;
    let found = match committed(ctx, req.group_id.as_str(), wanted.clone(), stable) {
        Ok(found) => found,
        // v1 has no group error: Kafka puts it on every partition asked for.
        Err(code) if ctx.version < 2 => wanted
            .unwrap_or_default()
            .into_iter()
            .map(|(topic, partitions)| {
                let refused = partitions
                    .into_iter()
                    .map(|partition| Committed::refused(partition, code));
                (topic, refused.collect())
            })
            .collect(),
        Err(code) => return OffsetFetchResponse::default().with_error_code(code),
    };
    let topics = found
        .into_iter()
        .map(|(topic, partitions)| {
            let partitions = partitions.into_iter().map(|c| {
                let r = OffsetFetchResponsePartition::default()
                    .with_partition_index(c.partition)
                    .with_committed_offset(c.offset)
                    .with_metadata(Some(c.metadata))
                    .with_error_code(c.error_code);
                // The leader epoch field exists from v5.
                if ctx.version >= 5 {
                    r.with_committed_leader_epoch(c.leader_epoch)
                } else {
                    r
                }
            });
            OffsetFetchResponseTopic::default()
                .with_name(StrBytes::from_string(topic).into())
                .with_partitions(partitions.collect())
        })
        .collect();
    OffsetFetchResponse::default().with_topics(topics)
}
