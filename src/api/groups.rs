//! The group membership APIs: FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
//! ListGroups, DescribeGroups, DeleteGroups. The state machine is in `crate::coordinator::group`; these
//! functions translate requests and responses per version.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{
    BrokerId, DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest,
    DescribeGroupsResponse, FindCoordinatorRequest, FindCoordinatorResponse, GroupId,
    HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest,
    LeaveGroupResponse, ListGroupsRequest, ListGroupsResponse, ResponseKind, SyncGroupRequest,
    SyncGroupResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::api::{Ctx, Outcome};
use crate::coordinator::group::{JoinRequest, JoinResult, Pending, SyncRequest, SyncResult};

fn s(v: impl Into<String>) -> StrBytes {
    StrBytes::from_string(v.into())
}

use crate::api::{GROUP_OPERATIONS, NO_OPERATIONS};

pub fn find_coordinator(ctx: &Ctx, req: FindCoordinatorRequest) -> FindCoordinatorResponse {
    let (broker, version) = (ctx.broker, ctx.version);
    let node = broker.node();
    // Only group coordinators (key type 0) exist: without transactions there is no transaction
    // coordinator, and Kafka answers COORDINATOR_NOT_AVAILABLE while it has none.
    let key_error = match req.key_type {
        0 => None,
        1 => Some((
            ResponseError::CoordinatorNotAvailable.code(),
            "transactions are not supported",
        )),
        _ => Some((
            ResponseError::InvalidRequest.code(),
            "unsupported coordinator key type",
        )),
    };
    if version >= 4 {
        let coordinators = req
            .coordinator_keys
            .into_iter()
            .map(|key| {
                let c = Coordinator::default().with_key(key);
                match key_error {
                    None => c
                        .with_node_id(BrokerId(node.node_id))
                        .with_host(s(node.host.clone()))
                        .with_port(node.port),
                    Some((code, message)) => c
                        .with_node_id(BrokerId(-1))
                        .with_error_code(code)
                        .with_error_message(Some(s(message))),
                }
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    if let Some((code, message)) = key_error {
        let r = FindCoordinatorResponse::default()
            .with_error_code(code)
            .with_node_id(BrokerId(-1));
        return if version >= 1 {
            r.with_error_message(Some(s(message)))
        } else {
            r
        };
    }
    FindCoordinatorResponse::default()
        .with_node_id(BrokerId(node.node_id))
        .with_host(s(node.host.clone()))
        .with_port(node.port)
}

pub fn join(ctx: &Ctx, req: JoinGroupRequest) -> Outcome {
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
    match broker.groups().join(join) {
        Pending::Ready(r) => Outcome::now(ResponseKind::JoinGroup(join_response(r, version))),
        Pending::Wait(rx) => Outcome::Later(Box::pin(async move {
            let r = rx.await.unwrap_or_else(|_| JoinResult {
                error: ResponseError::UnknownServerError.code(),
                generation_id: -1,
                ..Default::default()
            });
            ResponseKind::JoinGroup(join_response(r, version)).into()
        })),
    }
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

pub fn sync(ctx: &Ctx, req: SyncGroupRequest) -> Outcome {
    let (broker, version) = (ctx.broker, ctx.version);
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
    match broker.groups().sync(sync) {
        Pending::Ready(r) => Outcome::now(ResponseKind::SyncGroup(sync_response(r, version))),
        Pending::Wait(rx) => Outcome::Later(Box::pin(async move {
            let r = rx.await.unwrap_or_else(|_| SyncResult {
                error: ResponseError::UnknownServerError.code(),
                ..Default::default()
            });
            ResponseKind::SyncGroup(sync_response(r, version)).into()
        })),
    }
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

pub fn heartbeat(ctx: &Ctx, req: HeartbeatRequest) -> HeartbeatResponse {
    let broker = ctx.broker;
    let code = broker.groups().heartbeat(
        req.group_id.as_str(),
        req.generation_id,
        req.member_id.as_str(),
        req.group_instance_id.as_deref(),
    );
    HeartbeatResponse::default().with_error_code(code)
}

pub fn leave(ctx: &Ctx, req: LeaveGroupRequest) -> LeaveGroupResponse {
    let (broker, version) = (ctx.broker, ctx.version);
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

pub fn list(ctx: &Ctx, req: ListGroupsRequest) -> ListGroupsResponse {
    let (broker, version) = (ctx.broker, ctx.version);
    let states: Vec<String> = req.states_filter.iter().map(|s| s.to_string()).collect();
    // Every group here is a classic group; a filter for other types matches none of them.
    let types_ok = req.types_filter.is_empty()
        || req
            .types_filter
            .iter()
            .any(|t| t.eq_ignore_ascii_case("classic"));
    let groups = if types_ok {
        broker.groups().list(&states)
    } else {
        Vec::new()
    };
    ListGroupsResponse::default().with_groups(
        groups
            .into_iter()
            .map(|(id, protocol_type, state)| {
                let mut g = ListedGroup::default()
                    .with_group_id(GroupId(s(id)))
                    .with_protocol_type(s(protocol_type));
                if version >= 4 {
                    g = g.with_group_state(s(state.name()));
                }
                if version >= 5 {
                    g = g.with_group_type(s("classic"));
                }
                g
            })
            .collect(),
    )
}

pub fn describe(ctx: &Ctx, req: DescribeGroupsRequest) -> DescribeGroupsResponse {
    let (broker, version) = (ctx.broker, ctx.version);
    let include_ops = req.include_authorized_operations;
    let groups = req
        .groups
        .into_iter()
        .map(|id| {
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
                    GROUP_OPERATIONS
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

pub fn delete(ctx: &Ctx, req: DeleteGroupsRequest) -> DeleteGroupsResponse {
    let broker = ctx.broker;
    DeleteGroupsResponse::default().with_results(
        req.groups_names
            .into_iter()
            .map(|id| {
                let code = broker.groups().delete_group(id.as_str());
                DeletableGroupResult::default()
                    .with_group_id(id)
                    .with_error_code(code)
            })
            .collect(),
    )
}
