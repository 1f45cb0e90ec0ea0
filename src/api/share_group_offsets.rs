//! The share-group state APIs the admin tools use (KIP-932): DescribeShareGroupOffsets (each
//! partition's start offset), AlterShareGroupOffsets (set it) and DeleteShareGroupOffsets
//! (forget a topic's state). Altering and deleting need the group to have no members, as in
//! Kafka; whether it has is the share-group coordinator's answer (`ShareCoordinator::group_status`).
//!
//! Authorization as Kafka's: DESCRIBE, READ or DELETE on the group, and DESCRIBE (describe) or READ
//! (alter, delete) on each topic, else TOPIC_AUTHORIZATION_FAILED for it; describing all of a
//! group's topics leaves out those the client may not describe.

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
                        if !ctx.authorize(AclOperation::Describe, ResourceType::Topic, &t.name) {
                            continue;
                        }
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
                    let readable =
                        ctx.authorize(AclOperation::Describe, ResourceType::Topic, &name);
                    let partitions = partitions
                        .into_iter()
                        .map(|p| {
                            let out = DescribeShareGroupOffsetsResponsePartition::default()
                                .with_partition_index(p)
                                .with_leader_epoch(0);
                            match &topic {
                                _ if !readable => out
                                    .with_start_offset(-1)
                                    .with_error_code(authz::TOPIC_DENIED),
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
            let readable = ctx.authorize(AclOperation::Read, ResourceType::Topic, &t.topic_name);
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let out = AlterShareGroupOffsetsResponsePartition::default()
                        .with_partition_index(p.partition_index);
                    let code = match &topic {
                        _ if !readable => authz::TOPIC_DENIED,
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
            let readable = ctx.authorize(AclOperation::Read, ResourceType::Topic, &t.topic_name);
            let code = match &topic {
                _ if !readable => authz::TOPIC_DENIED,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::authz::tests::{allow, secured_broker};
    use crate::protocol::ResponseBody;
    use kafka_protocol::messages::alter_share_group_offsets_request::{
        AlterShareGroupOffsetsRequestPartition, AlterShareGroupOffsetsRequestTopic,
    };
    use kafka_protocol::messages::describe_share_group_offsets_request::{
        DescribeShareGroupOffsetsRequestGroup, DescribeShareGroupOffsetsRequestTopic,
    };
    use kafka_protocol::messages::{GroupId, ResponseKind};

    /// Besides the group's ACL, each topic needs DESCRIBE (describe) or READ (alter), as Kafka's
    /// handlers check: TOPIC_AUTHORIZATION_FAILED for its partitions otherwise.
    #[tokio::test]
    async fn topics_need_their_own_acls() {
        let dir = tempfile::tempdir().unwrap();
        let b = secured_broker(dir.path());
        b.create_topic("t", 1, Default::default(), false).unwrap();
        allow(&b, ResourceType::Group, "g", AclOperation::Describe);
        allow(&b, ResourceType::Group, "g", AclOperation::Read);
        let ctx = Ctx::test(&b, 0);
        let describe = |ctx: &Ctx| {
            let req = DescribeShareGroupOffsetsRequest::default().with_groups(vec![
                DescribeShareGroupOffsetsRequestGroup::default()
                    .with_group_id(GroupId(str_bytes("g")))
                    .with_topics(Some(vec![DescribeShareGroupOffsetsRequestTopic::default()
                        .with_topic_name(str_bytes("t").into())
                        .with_partitions(vec![0])])),
            ]);
            describe(ctx, req).groups[0].topics[0].partitions[0].error_code
        };
        let alter = |ctx: &Ctx| {
            let req = AlterShareGroupOffsetsRequest::default()
                .with_group_id(GroupId(str_bytes("g")))
                .with_topics(vec![AlterShareGroupOffsetsRequestTopic::default()
                    .with_topic_name(str_bytes("t").into())
                    .with_partitions(vec![
                        AlterShareGroupOffsetsRequestPartition::default()
                            .with_partition_index(0)
                            .with_start_offset(0),
                    ])]);
            alter(ctx, req)
        };
        let altered = |outcome: Outcome| async move {
            let body = match outcome {
                Outcome::Now(b) => b,
                Outcome::Later(f) => f.await,
                _ => panic!("no answer"),
            };
            let ResponseBody::Kind(ResponseKind::AlterShareGroupOffsets(r)) = body else {
                panic!("not an AlterShareGroupOffsets response")
            };
            (r.error_code, r.responses[0].partitions[0].error_code)
        };
        assert_eq!(describe(&ctx), authz::TOPIC_DENIED);
        assert_eq!(altered(alter(&ctx)).await, (0, authz::TOPIC_DENIED));
        allow(&b, ResourceType::Topic, "t", AclOperation::Read);
        assert_eq!(describe(&ctx), 0, "READ implies DESCRIBE");
        assert_eq!(altered(alter(&ctx)).await, (0, 0));
    }
}
