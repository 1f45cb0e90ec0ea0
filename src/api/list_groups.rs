//! ListGroups: every group with its protocol type and, from v4, its state (filterable, KIP-518);
//! from v5 its type, classic, consumer (KIP-848) or share (KIP-932), filterable.
//! A client with DESCRIBE on the cluster sees every group; any other only those it may describe.

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

use crate::api::{str_bytes as s, Ctx};
use crate::coordinator::share_group;
use crate::security::acl::{AclOperation, ResourceType};

pub fn handle(ctx: &Ctx, req: ListGroupsRequest) -> ListGroupsResponse {
    let (broker, version) = (ctx.broker, ctx.version);
    let states: Vec<String> = req.states_filter.iter().map(|s| s.to_string()).collect();
    let types: Vec<String> = req.types_filter.iter().map(|s| s.to_string()).collect();
    let mut groups: Vec<(String, String, &str, &str)> = broker
        .groups()
        .list(&states, &types)
        .into_iter()
        .map(|l| (l.group_id, l.protocol_type, l.state, l.group_type))
        .collect();
    let wants_share = types.is_empty()
        || types
            .iter()
            .any(|t| t.eq_ignore_ascii_case(share_group::PROTOCOL_TYPE));
    if wants_share {
        let t = share_group::PROTOCOL_TYPE;
        groups.extend(
            broker
                .share_groups()
                .list(&states)
                .into_iter()
                .map(|(id, state)| (id, t.to_string(), state.name(), t)),
        );
    }
    if !ctx.authorize_cluster(AclOperation::Describe) {
        groups.retain(|g| ctx.authorize(AclOperation::Describe, ResourceType::Group, &g.0));
    }
    ListGroupsResponse::default().with_groups(
        groups
            .into_iter()
            .map(|(id, protocol_type, state, group_type)| {
                let mut g = ListedGroup::default()
                    .with_group_id(GroupId(s(id)))
                    .with_protocol_type(s(protocol_type));
                if version >= 4 {
                    g = g.with_group_state(s(state));
                }
                if version >= 5 {
                    g = g.with_group_type(s(group_type));
                }
                g
            })
            .collect(),
    )
}
