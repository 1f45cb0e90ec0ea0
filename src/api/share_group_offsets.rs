//! The share-group state APIs the admin tools use (KIP-932): DescribeShareGroupOffsets (each
//! partition's start offset), AlterShareGroupOffsets (set it) and DeleteShareGroupOffsets
//! (forget a topic's state). Altering and deleting need the group to have no members, as in
//! Kafka; whether it has is the share-group coordinator's answer (`ShareCoordinator::group_status`).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_share_group_offsets_response::{
    AlterShareGroupOffsetsResponsePartition, AlterShareGroupOffsetsResponseTopic,
};
use kafka_protocol::messages::delete_share_group_offsets_response::DeleteShareGroupOffsetsResponseTopic;
use kafka_protocol::messages::describe_share_group_offsets_response::{
    DescribeShareGroupOffsetsResponseGroup, DescribeShareGroupOffsetsResponsePartition,
    DescribeShareGroupOffsetsResponseTopic,
};
use kafka_protocol::messages::{
    AlterShareGroupOffsetsRequest, AlterShareGroupOffsetsResponse, DeleteShareGroupOffsetsRequest,
    DeleteShareGroupOffsetsResponse, DescribeShareGroupOffsetsRequest,
    DescribeShareGroupOffsetsResponse,
};
use uuid::Uuid;

use crate::api::{after_flush, authz, str_bytes, Ctx, Outcome};
use crate::broker::Broker;
use crate::coordinator::share::{GroupStatus, ShareKey};
use crate::security::acl::{AclOperation, ResourceType};

/// Whether a group's offsets may be changed: a top-level error code and message if not.
fn changeable(broker: &Broker, group: &str, create: bool) -> Result<(), (i16, String)> {
    if group.is_empty() {
        return Err((
            ResponseError::InvalidGroupId.code(),
            "The group id must not be empty.".to_string(),
        ));
    }
    match broker.share().group_status(group) {
        GroupStatus::Empty => Ok(()),
        GroupStatus::Active => Err((
            ResponseError::NonEmptyGroup.code(),
            format!("The group {group} is not empty."),
        )),
        // AlterShareGroupOffsets creates the group, as Kafka 4.4 does.
        GroupStatus::Missing if create => match broker.share_groups().create_empty(group) {
            Ok(true) => Ok(()),
            Ok(false) => Err((
                ResponseError::GroupIdNotFound.code(),
                format!("Group {group} is not a share group."),
            )),
            Err(e) => Err((
                ResponseError::KafkaStorageError.code(),
                format!("Group {group} could not be created: {e:?}"),
            )),
        },
        GroupStatus::Missing => Err((
            ResponseError::GroupIdNotFound.code(),
            format!("Group {group} not found."),
        )),
        GroupStatus::OtherType => Err((
            ResponseError::GroupIdNotFound.code(),
            format!("Group {group} is not a share group."),
        )),
    }
}

pub fn describe(
    ctx: &Ctx,
    req: DescribeShareGroupOffsetsRequest,
) -> DescribeShareGroupOffsetsResponse {
    let broker = ctx.broker;
    let share = broker.share();
    let groups = req
        .groups
        .into_iter()
        .map(|g| {
            let group = g.group_id.to_string();
            let out = DescribeShareGroupOffsetsResponseGroup::default().with_group_id(g.group_id);
            if group.is_empty() {
                return out.with_error_code(ResponseError::InvalidGroupId.code());
            }
            if !ctx.authorize(AclOperation::Describe, ResourceType::Group, &group) {
                return out.with_error_code(authz::GROUP_DENIED);
            }
            let wanted: Vec<(String, Vec<i32>)> = match g.topics {
                Some(topics) => topics
                    .into_iter()
                    .map(|t| (t.topic_name.to_string(), t.partitions))
                    .collect(),
                // Every partition the group has state for, by topic.
                None => {
                    let mut by_topic: Vec<(String, Vec<i32>)> = Vec::new();
                    for k in share.partitions_of(&group) {
                        let Some(t) = broker.topic_by_id(k.topic_id) else {
                            continue;
                        };
                        match by_topic.iter_mut().find(|(n, _)| *n == t.name) {
                            Some((_, ps)) => ps.push(k.partition),
                            None => by_topic.push((t.name.clone(), vec![k.partition])),
                        }
                    }
                    by_topic
                }
            };
            let topics = wanted
                .into_iter()
                .map(|(name, partitions)| {
                    let topic = broker.topic(&name);
                    let partitions = partitions
                        .into_iter()
                        .map(|p| {
                            let out = DescribeShareGroupOffsetsResponsePartition::default()
                                .with_partition_index(p)
                                .with_leader_epoch(0);
                            match &topic {
                                Some(t) if t.partition(p).is_some() => {
                                    let key = ShareKey {
                                        group: group.clone(),
                                        topic_id: t.id,
                                        partition: p,
                                    };
                                    // -1: the group has not started on this partition.
                                    out.with_start_offset(share.start_offset(&key).unwrap_or(-1))
                                }
                                _ => out
                                    .with_start_offset(-1)
                                    .with_error_code(ResponseError::UnknownTopicOrPartition.code()),
                            }
                        })
                        .collect();
                    DescribeShareGroupOffsetsResponseTopic::default()
                        .with_topic_id(topic.map_or(Uuid::nil(), |t| t.id))
                        .with_topic_name(str_bytes(name).into())
                        .with_partitions(partitions)
                })
                .collect();
            out.with_topics(topics)
        })
        .collect();
    DescribeShareGroupOffsetsResponse::default().with_groups(groups)
}

pub fn alter(ctx: &Ctx, req: AlterShareGroupOffsetsRequest) -> Outcome {
    let broker = ctx.broker;
    let group = req.group_id.to_string();
    let allowed = if ctx.authorize(AclOperation::Read, ResourceType::Group, &group) {
        Ok(())
    } else {
        Err((
            authz::GROUP_DENIED,
            "Group authorization failed.".to_string(),
        ))
    };
    if let Err((code, message)) = allowed.and_then(|()| changeable(broker, &group, true)) {
        return Outcome::now(
            AlterShareGroupOffsetsResponse::default()
                .with_error_code(code)
                .with_error_message(Some(str_bytes(message))),
        );
    }
    let share = broker.share();
    let responses = req
        .topics
        .into_iter()
        .map(|t| {
            let topic = broker.topic(&t.topic_name);
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let out = AlterShareGroupOffsetsResponsePartition::default()
                        .with_partition_index(p.partition_index);
                    let code = match &topic {
                        Some(t) if t.partition(p.partition_index).is_some() => {
                            if p.start_offset < 0 {
                                ResponseError::InvalidRequest.code()
                            } else {
                                let key = ShareKey {
                                    group: group.clone(),
                                    topic_id: t.id,
                                    partition: p.partition_index,
                                };
                                share.alter(&key, p.start_offset).err().unwrap_or(0)
                            }
                        }
                        _ => ResponseError::UnknownTopicOrPartition.code(),
                    };
                    out.with_error_code(code)
                })
                .collect();
            AlterShareGroupOffsetsResponseTopic::default()
                .with_topic_id(topic.as_ref().map_or(Uuid::nil(), |t| t.id))
                .with_topic_name(t.topic_name)
                .with_partitions(partitions)
        })
        .collect();
    // The new start offsets are durable before they are answered.
    let response = AlterShareGroupOffsetsResponse::default().with_responses(responses);
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

pub fn delete(ctx: &Ctx, req: DeleteShareGroupOffsetsRequest) -> Outcome {
    let broker = ctx.broker;
    let group = req.group_id.to_string();
    let allowed = if ctx.authorize(AclOperation::Delete, ResourceType::Group, &group) {
        Ok(())
    } else {
        Err((
            authz::GROUP_DENIED,
            "Group authorization failed.".to_string(),
        ))
    };
    if let Err((code, message)) = allowed.and_then(|()| changeable(broker, &group, false)) {
        return Outcome::now(
            DeleteShareGroupOffsetsResponse::default()
                .with_error_code(code)
                .with_error_message(Some(str_bytes(message))),
        );
    }
    let share = broker.share();
    let responses = req
        .topics
        .into_iter()
        .map(|t| {
            let topic = broker.topic(&t.topic_name);
            let code = match &topic {
                Some(topic) => match share.delete_topic(&group, topic.id) {
                    Ok(_) => 0,
                    Err(e) => crate::api::error::code(&e, "deleting share-group offsets"),
                },
                None => ResponseError::UnknownTopicOrPartition.code(),
            };
            DeleteShareGroupOffsetsResponseTopic::default()
                .with_topic_id(topic.as_ref().map_or(Uuid::nil(), |t| t.id))
                .with_topic_name(t.topic_name)
                .with_error_code(code)
        })
        .collect();
    let response = DeleteShareGroupOffsetsResponse::default().with_responses(responses);
    after_flush(broker, response, |r| {
        for t in &mut r.responses {
            if t.error_code == 0 {
                t.error_code = ResponseError::KafkaStorageError.code();
            }
        }
    })
}
