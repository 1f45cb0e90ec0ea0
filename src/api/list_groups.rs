//! ListGroups: every group with its protocol type and, from v4, its state (filterable, KIP-518);
//! from v5 its type, classic or consumer (filterable, KIP-848).

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

use crate::api::{str_bytes as s, Ctx};

pub fn handle(ctx: &Ctx, req: ListGroupsRequest) -> ListGroupsResponse {
    let (broker, version) = (ctx.broker, ctx.version);
    let states: Vec<String> = req.states_filter.iter().map(|s| s.to_string()).collect();
    let types: Vec<String> = req.types_filter.iter().map(|s| s.to_string()).collect();
    ListGroupsResponse::default().with_groups(
        broker
            .groups()
            .list(&states, &types)
            .into_iter()
            .map(|l| {
                let mut g = ListedGroup::default()
                    .with_group_id(GroupId(s(l.group_id)))
                    .with_protocol_type(s(l.protocol_type));
                if version >= 4 {
                    g = g.with_group_state(s(l.state));
                }
                if version >= 5 {
                    g = g.with_group_type(s(l.group_type));
                }
                g
            })
            .collect(),
    )
}
