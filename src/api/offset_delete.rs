//! OffsetDelete: removes a group's committed offsets for partitions it no longer consumes. Needs
//! DELETE on the group (else the request fails whole) and READ on each topic (else its partitions
//! get TOPIC_AUTHORIZATION_FAILED), as Kafka.

use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use crate::api::{authz, Ctx};
use crate::security::acl::{AclOperation, ResourceType};

pub fn handle(ctx: &Ctx, req: OffsetDeleteRequest) -> OffsetDeleteResponse {
    let broker = ctx.broker;
    if !ctx.authorize(AclOperation::Delete, ResourceType::Group, &req.group_id) {
        return OffsetDeleteResponse::default().with_error_code(authz::GROUP_DENIED);
    }
    let may_read = |topic: &str| ctx.authorize(AclOperation::Read, ResourceType::Topic, topic);
    let wanted: Vec<(String, i32)> = req
        .topics
        .iter()
        .filter(|t| may_read(&t.name))
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| (t.name.to_string(), p.partition_index))
        })
        .collect();
    match broker
        .groups()
        .delete_offsets(req.group_id.as_str(), &wanted)
    {
        Err(code) => OffsetDeleteResponse::default().with_error_code(code),
        Ok(codes) => {
            let mut codes = codes.into_iter();
            OffsetDeleteResponse::default().with_topics(
                req.topics
                    .into_iter()
                    .map(|t| {
                        let allowed = may_read(&t.name);
                        let partitions = t
                            .partitions
                            .iter()
                            .map(|p| {
                                let code = if allowed {
                                    codes.next().unwrap_or_default()
                                } else {
                                    authz::TOPIC_DENIED
                                };
                                OffsetDeleteResponsePartition::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(code)
                            })
                            .collect();
                        OffsetDeleteResponseTopic::default()
                            .with_name(t.name)
                            .with_partitions(partitions)
                    })
                    .collect(),
            )
        }
    }
}
