//! ShareGroupDescribe (KIP-932) v1: a share group's state, epochs, assignor and members with
//! their subscriptions and assignments.

use kafka_protocol::messages::share_group_describe_response::{
    Assignment, DescribedGroup, Member, TopicPartitions,
};
use kafka_protocol::messages::{
    GroupId, ShareGroupDescribeRequest, ShareGroupDescribeResponse, TopicName,
};

use crate::api::{authz, error, str_bytes as s, Ctx, NO_OPERATIONS};
use crate::coordinator::share_group::{self, ASSIGNOR};
use crate::security::acl::{AclOperation, ResourceType};

/// What Kafka 4.4 answers for a share group when asked: READ, DELETE, DESCRIBE, and since group
/// configs (KIP-848) DESCRIBE_CONFIGS and ALTER_CONFIGS.
const SHARE_GROUP_OPERATIONS: i32 = 0x0D48;

pub fn handle(ctx: &Ctx, req: ShareGroupDescribeRequest) -> ShareGroupDescribeResponse {
    let broker = ctx.broker;
    let lookup = |name: &str| broker.topic_shape(name);
    // Topic names for the assignment's ids, as Kafka fills them from its metadata image.
    let name_of = |id| {
        broker
            .topic_by_id(id)
            .map(|t| t.name.clone())
            .unwrap_or_default()
    };
    let include_ops = req.include_authorized_operations;
    let groups = req
        .group_ids
        .into_iter()
        .map(|id| {
            if !ctx.authorize(AclOperation::Describe, ResourceType::Group, &id) {
                return DescribedGroup::default()
                    .with_group_id(id)
                    .with_error_code(authz::GROUP_DENIED)
                    .with_error_message(Some(s("Group authorization failed.".to_string())))
                    .with_authorized_operations(NO_OPERATIONS);
            }
            let ops = if include_ops {
                ctx.group_with_configs_operations(&id, SHARE_GROUP_OPERATIONS)
            } else {
                NO_OPERATIONS
            };
            match broker.share_groups().describe(id.as_str(), &lookup) {
                Err(e) => DescribedGroup::default()
                    .with_group_id(id)
                    .with_error_code(error::code(&e, "describing a share group"))
                    .with_error_message(Some(s(e.to_string())))
                    // Kafka leaves a failed group's operations unset.
                    .with_authorized_operations(NO_OPERATIONS),
                Ok(d) => DescribedGroup::default()
                    .with_group_id(GroupId(s(d.group_id)))
                    .with_group_state(s(d.state.name()))
                    .with_group_epoch(d.group_epoch)
                    .with_assignment_epoch(d.assignment_epoch)
                    .with_assignor_name(s(ASSIGNOR))
                    .with_authorized_operations(ops)
                    .with_members(
                        d.members
                            .into_iter()
                            .map(|m| {
                                Member::default()
                                    .with_member_id(s(m.member_id))
                                    .with_rack_id(m.rack_id.map(s))
                                    .with_member_epoch(m.member_epoch)
                                    .with_client_id(s(m.client_id))
                                    .with_client_host(s(m.client_host))
                                    .with_subscribed_topic_names(
                                        m.subscribed_topic_names
                                            .into_iter()
                                            .map(|n| TopicName(s(n)))
                                            .collect(),
                                    )
                                    .with_assignment(assignment(m.assignment, &name_of))
                            })
                            .collect(),
                    ),
            }
        })
        .collect();
    ShareGroupDescribeResponse::default().with_groups(groups)
}

fn assignment(a: share_group::Assignment, name_of: &dyn Fn(uuid::Uuid) -> String) -> Assignment {
    Assignment::default().with_topic_partitions(
        a.into_iter()
            .filter(|(_, ps)| !ps.is_empty())
            .map(|(topic_id, ps)| {
                TopicPartitions::default()
                    .with_topic_id(topic_id)
                    .with_topic_name(TopicName(s(name_of(topic_id))))
                    .with_partitions(ps.into_iter().collect())
            })
            .collect(),
    )
}
