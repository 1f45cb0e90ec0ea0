//! DeleteGroups: removes empty groups (classic or share) and their committed offsets.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use crate::api::{error, Ctx};

pub fn handle(ctx: &Ctx, req: DeleteGroupsRequest) -> DeleteGroupsResponse {
    let broker = ctx.broker;
    DeleteGroupsResponse::default().with_results(
        req.groups_names
            .into_iter()
            .map(|id| {
                let code = match broker.share_groups().delete_group(id.as_str()) {
                    Some(Ok(())) => 0,
                    Some(Err(e)) => error::code(&e, "deleting a share group"),
                    None => broker.groups().delete_group(id.as_str()),
                };
                DeletableGroupResult::default()
                    .with_group_id(id)
                    .with_error_code(code)
            })
            .collect(),
    )
}
