//! SyncGroup (classic protocol): the leader's assignment in, each member's assignment out; a
//! follower that syncs before the leader waits for it. Assignments are answered once the group
//! record that holds them is flushed. Needs READ on the group.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

use crate::api::{authz, str_bytes as s, Ctx, Outcome};
use crate::coordinator::group::{Pending, SyncRequest, SyncResult};
use crate::security::acl::{AclOperation, ResourceType};

pub fn handle(ctx: &Ctx, req: SyncGroupRequest) -> Outcome {
    let (broker, version) = (ctx.broker, ctx.version);
    if !ctx.authorize(AclOperation::Read, ResourceType::Group, &req.group_id) {
        let refused = SyncResult {
            error: authz::GROUP_DENIED,
            ..Default::default()
        };
        return Outcome::now(sync_response(refused, version));
    }
    let sync = SyncRequest {
        group_id: req.group_id.to_string(),
        generation_id: req.generation_id,
        member_id: req.member_id.to_string(),
        instance_id: req.group_instance_id.map(|s| s.to_string()),
        protocol_type: req.protocol_type.map(|s| s.to_string()),
        protocol_name: req.protocol_name.map(|s| s.to_string()),
        assignments: req
            .assignments
            .into_iter()
            .map(|a| (a.member_id.to_string(), a.assignment))
            .collect(),
    };
    let pending = match broker.groups().sync(sync) {
        Pending::Ready(r) if !r.flush => return Outcome::now(sync_response(r, version)),
        pending => pending,
    };
    // An assignment is answered only once the group record holding it is durable.
    let durable = broker.durable();
    Outcome::later(async move {
        let mut r = match pending {
            Pending::Ready(r) => r,
            Pending::Wait(rx) => rx.await.unwrap_or_else(|_| SyncResult {
                error: ResponseError::UnknownServerError.code(),
                ..Default::default()
            }),
        };
        if r.flush {
            if let Err(e) = durable.await {
                tracing::error!(error = %e, "could not make the group's assignments durable");
                r = SyncResult {
                    // Kafka's answer when the group record cannot be written (a storage error).
                    error: ResponseError::NotCoordinator.code(),
                    ..Default::default()
                };
            }
        }
        sync_response(r, version)
    })
}

fn sync_response(r: SyncResult, version: i16) -> SyncGroupResponse {
    let resp = SyncGroupResponse::default()
        .with_error_code(r.error)
        .with_assignment(r.assignment);
    if version >= 5 {
        resp.with_protocol_type(r.protocol_type.map(s))
            .with_protocol_name(r.protocol_name.map(s))
    } else {
        resp
    }
}
