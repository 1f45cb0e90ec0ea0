//! DeleteGroups: removes empty groups (classic or share) and their committed offsets. Each group
//! needs DELETE, else it gets GROUP_AUTHORIZATION_FAILED.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use crate::api::{authz, error, Ctx};
use crate::security::acl::{AclOperation, ResourceType};

pub fn handle(ctx: &Ctx, req: DeleteGroupsRequest) -> DeleteGroupsResponse {
    let broker = ctx.broker;
    DeleteGroupsResponse::default().with_results(
        req.groups_names
            .into_iter()
            .map(|id| {
                let code = if !ctx.authorize(AclOperation::Delete, ResourceType::Group, &id) {
                    authz::GROUP_DENIED
                } else {
                    match broker.share_groups().delete_group(id.as_str()) {
                        Some(Ok(())) => 0,
                        Some(Err(e)) => error::code(&e, "deleting a share group"),
                        None => broker.groups().delete_group(id.as_str()),
                    }
                };
                DeletableGroupResult::default()
                    .with_group_id(id)
                    .with_error_code(code)
            })
            .collect(),
    )
}
