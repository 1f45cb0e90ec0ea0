//! LeaveGroup (classic protocol): one member (v0-2) or a batch of members by id or instance id
//! (v3+, KIP-345). Needs READ on the group.

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use crate::api::{authz, Ctx};
use crate::security::acl::{AclOperation, ResourceType};

pub fn handle(ctx: &Ctx, req: LeaveGroupRequest) -> LeaveGroupResponse {
    let (broker, version) = (ctx.broker, ctx.version);
    if !ctx.authorize(AclOperation::Read, ResourceType::Group, &req.group_id) {
        return LeaveGroupResponse::default().with_error_code(authz::GROUP_DENIED);
    }
    if version < 3 {
        let result = broker
            .groups()
            .leave(req.group_id.as_str(), &[(req.member_id.to_string(), None)]);
        let code = match result {
            Ok(codes) => codes[0],
            Err(code) => code,
        };
        return LeaveGroupResponse::default().with_error_code(code);
    }
    let members: Vec<(String, Option<String>)> = req
        .members
        .iter()
        .map(|m| {
            (
                m.member_id.to_string(),
                m.group_instance_id.as_ref().map(|s| s.to_string()),
            )
        })
        .collect();
    match broker.groups().leave(req.group_id.as_str(), &members) {
        Ok(codes) => LeaveGroupResponse::default().with_members(
            req.members
                .into_iter()
                .zip(codes)
                .map(|(m, code)| {
                    MemberResponse::default()
                        .with_member_id(m.member_id)
                        .with_group_instance_id(m.group_instance_id)
                        .with_error_code(code)
                })
                .collect(),
        ),
        Err(code) => LeaveGroupResponse::default().with_error_code(code),
    }
}
