//! Heartbeat (classic protocol): keeps a member's session alive and tells it when to rejoin.
//! Needs READ on the group, as every classic group API.

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use crate::api::{authz, Ctx};
use crate::security::acl::{AclOperation, ResourceType};

pub fn handle(ctx: &Ctx, req: HeartbeatRequest) -> HeartbeatResponse {
    let broker = ctx.broker;
    if !ctx.authorize(AclOperation::Read, ResourceType::Group, &req.group_id) {
        return HeartbeatResponse::default().with_error_code(authz::GROUP_DENIED);
    }
    let code = broker.groups().heartbeat(
        req.group_id.as_str(),
        req.generation_id,
        req.member_id.as_str(),
        req.group_instance_id.as_deref(),
    );
    HeartbeatResponse::default().with_error_code(code)
}
