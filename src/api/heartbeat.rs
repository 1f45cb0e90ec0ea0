//! Heartbeat (classic protocol): keeps a member's session alive and tells it when to rejoin.

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use crate::api::Ctx;

pub fn handle(ctx: &Ctx, req: HeartbeatRequest) -> HeartbeatResponse {
    let broker = ctx.broker;
    let code = broker.groups().heartbeat(
        req.group_id.as_str(),
        req.generation_id,
        req.member_id.as_str(),
        req.group_instance_id.as_deref(),
    );
    HeartbeatResponse::default().with_error_code(code)
}
