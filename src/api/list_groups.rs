//! ListGroups: every group with its protocol type and, from v4, its state (filterable, KIP-518).

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

use crate::api::{str_bytes as s, Ctx};

pub fn handle(ctx: &Ctx, req: ListGroupsRequest) -> ListGroupsResponse {
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
