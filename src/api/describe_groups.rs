//! DescribeGroups: state, protocol and members with their metadata and assignments. A group needs
//! DESCRIBE, else it is answered GROUP_AUTHORIZATION_FAILED and nothing else.

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};

use crate::api::{authz, str_bytes as s, Ctx, NO_OPERATIONS};
use crate::security::acl::{AclOperation, ResourceType};

pub fn handle(ctx: &Ctx, req: DescribeGroupsRequest) -> DescribeGroupsResponse {
    let (broker, version) = (ctx.broker, ctx.version);
    let include_ops = req.include_authorized_operations;
    let groups = req
        .groups
        .into_iter()
        .map(|id| {
            if !ctx.authorize(AclOperation::Describe, ResourceType::Group, &id) {
                return DescribedGroup::default()
                    .with_group_id(id)
                    .with_error_code(authz::GROUP_DENIED);
            }
            let d = broker.groups().describe(id.as_str());
            let members = d
                .members
                .into_iter()
                .map(|m| {
                    let dm = DescribedGroupMember::default()
                        .with_member_id(s(m.member_id))
                        .with_client_id(s(m.client_id))
                        .with_client_host(s(m.client_host))
                        .with_member_metadata(m.metadata)
                        .with_member_assignment(m.assignment);
                    if version >= 4 {
                        dm.with_group_instance_id(m.group_instance_id.map(s))
                    } else {
                        dm
                    }
                })
                .collect();
            let g = DescribedGroup::default()
                .with_group_id(id)
                .with_group_state(s(d.state.name()))
                .with_protocol_type(s(d.protocol_type))
                .with_protocol_data(s(d.protocol_name))
                .with_members(members);
            if version >= 3 {
                let ops = if include_ops {
                    ctx.group_operations(&g.group_id)
                } else {
                    NO_OPERATIONS
                };
                g.with_authorized_operations(ops)
            } else {
                g
            }
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}
