//! ConsumerGroupDescribe (KIP-848): consumer groups with their epochs, assignor and members, each
//! member with its current and target assignment. A classic or unknown group answers
//! GROUP_ID_NOT_FOUND, as Kafka does.

use kafka_protocol::messages::consumer_group_describe_response::{
    Assignment, DescribedGroup, Member, TopicPartitions,
};
use kafka_protocol::messages::{ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse};

use crate::api::{authz, str_bytes as s, Ctx, NO_OPERATIONS};
use crate::coordinator::group::consumer::{self, TopicNames};
use crate::security::acl::{AclOperation, ResourceType};

pub fn handle(ctx: &Ctx, req: ConsumerGroupDescribeRequest) -> ConsumerGroupDescribeResponse {
    let (broker, version) = (ctx.broker, ctx.version);
    let include_ops = req.include_authorized_operations;
    let groups = req
        .group_ids
        .into_iter()
        .map(|id| {
            if !ctx.authorize(AclOperation::Describe, ResourceType::Group, &id) {
                return DescribedGroup::default()
                    .with_group_id(id)
                    .with_error_code(authz::GROUP_DENIED)
                    .with_error_message(Some(s("Group authorization failed.".to_string())));
            }
            let ops = if include_ops {
                ctx.group_operations(&id)
            } else {
                NO_OPERATIONS
            };
            match broker.groups().consumer_describe(id.as_str()) {
                Err((code, message)) => DescribedGroup::default()
                    .with_group_id(id)
                    .with_error_code(code)
                    .with_error_message(Some(s(message)))
                    .with_authorized_operations(ops),
                Ok((d, names)) => DescribedGroup::default()
                    .with_group_id(id)
                    .with_group_state(s(d.state))
                    .with_group_epoch(d.group_epoch)
                    .with_assignment_epoch(d.assignment_epoch)
                    .with_assignor_name(s(d.assignor))
                    .with_authorized_operations(ops)
                    .with_members(
                        d.members
                            .into_iter()
                            .map(|m| {
                                let mm = m.member;
                                let member = Member::default()
                                    .with_member_id(s(mm.id))
                                    .with_instance_id(mm.instance_id.map(s))
                                    .with_rack_id(mm.rack_id.map(s))
                                    .with_member_epoch(mm.member_epoch)
                                    .with_client_id(s(mm.client_id))
                                    .with_client_host(s(mm.client_host))
                                    .with_subscribed_topic_names(
                                        mm.topic_names.into_iter().map(|t| s(t).into()).collect(),
                                    )
                                    .with_subscribed_topic_regex(Some(s(mm
                                        .topic_regex
                                        .unwrap_or_default())))
                                    // Kafka sends an empty regex, not null, for a member without one.
                                    .with_assignment(assignment(&mm.assigned, &names))
                                    .with_target_assignment(assignment(&m.target, &names));
                                // v1 tells the member's protocol: 1 is the consumer protocol.
                                if version >= 1 {
                                    member.with_member_type(1)
                                } else {
                                    member
                                }
                            })
                            .collect(),
                    ),
            }
        })
        .collect();
    ConsumerGroupDescribeResponse::default().with_groups(groups)
}

fn assignment(a: &consumer::Assignment, names: &TopicNames) -> Assignment {
    Assignment::default().with_topic_partitions(
        a.iter()
            .filter(|(_, ps)| !ps.is_empty())
            .map(|(id, ps)| {
                TopicPartitions::default()
                    .with_topic_id(*id)
                    .with_topic_name(s(names.get(id).cloned().unwrap_or_default()).into())
                    .with_partitions(ps.iter().copied().collect())
            })
            .collect(),
    )
}
