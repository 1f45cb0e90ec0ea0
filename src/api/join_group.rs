//! JoinGroup (classic protocol): translates the request per version for the group coordinator
//! (`crate::coordinator::group`) and its result back; a join that waits for the rebalance answers
//! later. Needs READ on the group.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};

use crate::api::{authz, str_bytes as s, Ctx, Outcome};
use crate::coordinator::group::{JoinRequest, JoinResult, Pending};
use crate::security::acl::{AclOperation, ResourceType};

pub fn handle(ctx: &Ctx, req: JoinGroupRequest) -> Outcome {
    let (broker, version, peer, client_id) = (ctx.broker, ctx.version, ctx.peer, ctx.client_id);
    let join = JoinRequest {
        group_id: req.group_id.to_string(),
        member_id: req.member_id.to_string(),
        group_instance_id: req.group_instance_id.map(|s| s.to_string()),
        client_id: client_id.to_string(),
        client_host: format!("/{}", peer.ip()),
        session_timeout_ms: req.session_timeout_ms,
        // v0 has no rebalance timeout: Kafka uses the session timeout.
        rebalance_timeout_ms: if version >= 1 {
            req.rebalance_timeout_ms
        } else {
            req.session_timeout_ms
        },
        protocol_type: req.protocol_type.to_string(),
        protocols: req
            .protocols
            .into_iter()
            .map(|p| (p.name.to_string(), p.metadata))
            .collect(),
        require_known_member_id: version >= 4,
        supports_skip_assignment: version >= 9,
    };
    let refusal = if !ctx.authorize(AclOperation::Read, ResourceType::Group, &join.group_id) {
        Some(authz::GROUP_DENIED)
    } else if broker.share_groups().has_group(&join.group_id) {
        // One id names one group: a share group's id is not a classic group's (Kafka's answer).
        Some(ResponseError::InconsistentGroupProtocol.code())
    } else {
        None
    };
    if let Some(error) = refusal {
        let refused = JoinResult {
            error,
            generation_id: -1,
            ..Default::default()
        };
        return Outcome::now(join_response(refused, version));
    }
    let pending = match broker.groups().join(join) {
        Pending::Ready(r) if !r.flush => return Outcome::now(join_response(r, version)),
        pending => pending,
    };
    // A static member's new member id is answered only once the group record holding it is
    // durable.
    let durable = broker.durable();
    Outcome::later(async move {
        let mut r = match pending {
            Pending::Ready(r) => r,
            Pending::Wait(rx) => rx.await.unwrap_or_else(|_| JoinResult {
                error: ResponseError::UnknownServerError.code(),
                generation_id: -1,
                ..Default::default()
            }),
        };
        if r.flush {
            if let Err(e) = durable.await {
                tracing::error!(error = %e, "could not make the group's membership durable");
                r = JoinResult {
                    // Kafka's answer when the group record cannot be written (a storage error).
                    error: ResponseError::NotCoordinator.code(),
                    generation_id: -1,
                    member_id: r.member_id,
                    ..Default::default()
                };
            }
        }
        join_response(r, version)
    })
}

fn join_response(r: JoinResult, version: i16) -> JoinGroupResponse {
    let members = r
        .members
        .into_iter()
        .map(|(id, instance, metadata)| {
            let m = JoinGroupResponseMember::default()
                .with_member_id(s(id))
                .with_metadata(metadata);
            if version >= 5 {
                m.with_group_instance_id(instance.map(s))
            } else {
                m
            }
        })
        .collect();
    let mut resp = JoinGroupResponse::default()
        .with_error_code(r.error)
        .with_generation_id(r.generation_id)
        .with_leader(s(r.leader_id))
        .with_member_id(s(r.member_id))
        .with_members(members);
    if version >= 7 {
        resp = resp
            .with_protocol_type(r.protocol_type.map(s))
            .with_protocol_name(r.protocol_name.map(s));
    } else {
        // Not nullable before v7.
        resp = resp.with_protocol_name(Some(s(r.protocol_name.unwrap_or_default())));
    }
    if version >= 9 {
        resp = resp.with_skip_assignment(r.skip_assignment);
    }
    resp
}
