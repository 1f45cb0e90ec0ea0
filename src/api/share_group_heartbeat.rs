//! ShareGroupHeartbeat (KIP-932) v1: a share consumer joins (epoch 0), heartbeats and leaves
//! (epoch -1); the answer carries its member epoch and, when it changed, its assignment.

use kafka_protocol::messages::share_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::{ShareGroupHeartbeatRequest, ShareGroupHeartbeatResponse};
use tracing::instrument;

use crate::api::{authz, error, str_bytes as s, Ctx, Outcome};
use crate::coordinator::share_group::{self, Heartbeat};
use crate::security::acl::{AclOperation, ResourceType};

#[instrument(skip_all, fields(client_id = ctx.client_id, group = %req.group_id.as_str()))]
pub fn handle(ctx: &Ctx, req: ShareGroupHeartbeatRequest) -> Outcome {
    let broker = ctx.broker;
    if !ctx.authorize(AclOperation::Read, ResourceType::Group, &req.group_id) {
        return Outcome::now(
            ShareGroupHeartbeatResponse::default()
                .with_error_code(authz::GROUP_DENIED)
                .with_error_message(Some(s("Group authorization failed.".to_string()))),
        );
    }
    let hb = Heartbeat {
        group_id: req.group_id.to_string(),
        member_id: req.member_id.to_string(),
        member_epoch: req.member_epoch,
        rack_id: req.rack_id.map(|r| r.to_string()),
        subscribed_topic_names: req
            .subscribed_topic_names
            .map(|names| names.iter().map(|n| n.to_string()).collect()),
        client_id: ctx.client_id.to_string(),
        client_host: format!("/{}", ctx.peer.ip()),
    };
    let lookup = |name: &str| broker.topic_shape(name);
    match broker.share_groups().heartbeat(hb, &lookup) {
        Err(e) => Outcome::now(
            ShareGroupHeartbeatResponse::default()
                .with_error_code(error::code(&e, "a share group heartbeat"))
                .with_error_message(Some(s(e.to_string()))),
        ),
        Ok(answer) => {
            let response = ShareGroupHeartbeatResponse::default()
                .with_member_id(Some(s(answer.member_id)))
                .with_member_epoch(answer.member_epoch)
                .with_heartbeat_interval_ms(answer.heartbeat_interval_ms)
                .with_assignment(answer.assignment.map(assignment));
            if answer.flush {
                crate::api::after_flush(broker, response, |r| {
                    *r = ShareGroupHeartbeatResponse::default()
                        .with_error_code(
                            kafka_protocol::error::ResponseError::CoordinatorNotAvailable.code(),
                        )
                        .with_error_message(Some(s(
                            "the group's change could not be made durable",
                        )));
                })
            } else {
                Outcome::now(response)
            }
        }
    }
}

fn assignment(a: share_group::Assignment) -> Assignment {
    Assignment::default().with_topic_partitions(
        a.into_iter()
            .filter(|(_, ps)| !ps.is_empty())
            .map(|(topic_id, ps)| {
                TopicPartitions::default()
                    .with_topic_id(topic_id)
                    .with_partitions(ps.into_iter().collect())
            })
            .collect(),
    )
}
