//! ConsumerGroupHeartbeat (KIP-848): a consumer-group member joins, leaves, or reports what it
//! owns, and learns its member epoch and (when it changed) its assignment. An answer that stands
//! on a changed group record waits for the flush that makes it durable.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::consumer_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};

use crate::api::{self, authz, error, str_bytes as s, Ctx, Outcome};
use crate::coordinator::group::consumer::{self, HeartbeatInput, HeartbeatOutput, TopicView};
use crate::security::acl::{AclOperation, ResourceType};

/// The broker's topics as a consumer group sees them (internal ones left out).
pub fn topic_view(broker: &crate::broker::Broker) -> TopicView {
    TopicView {
        topics: broker
            .topics()
            .iter()
            .filter(|t| !crate::broker::is_internal(&t.name))
            .map(|t| (t.name.clone(), (t.id, t.partitions.len() as i32)))
            .collect(),
    }
}

pub fn handle(ctx: &Ctx, req: ConsumerGroupHeartbeatRequest) -> Outcome {
    let broker = ctx.broker;
    if !ctx.authorize(AclOperation::Read, ResourceType::Group, &req.group_id) {
        return Outcome::now(
            ConsumerGroupHeartbeatResponse::default()
                .with_error_code(authz::GROUP_DENIED)
                .with_error_message(Some(s("Group authorization failed.".to_string()))),
        );
    }
    let input = HeartbeatInput {
        version: ctx.version,
        group_id: req.group_id.to_string(),
        member_id: req.member_id.to_string(),
        member_epoch: req.member_epoch,
        instance_id: req.instance_id.map(|s| s.to_string()),
        rack_id: req.rack_id.map(|s| s.to_string()),
        rebalance_timeout_ms: req.rebalance_timeout_ms,
        topic_names: req
            .subscribed_topic_names
            .map(|ts| ts.into_iter().map(|t| t.to_string()).collect()),
        topic_regex: req.subscribed_topic_regex.map(|s| s.to_string()),
        server_assignor: req.server_assignor.map(|s| s.to_string()),
        owned: req.topic_partitions.map(|tps| {
            let mut a = consumer::Assignment::new();
            for tp in tps {
                a.entry(tp.topic_id).or_default().extend(tp.partitions);
            }
            a
        }),
        client_id: ctx.client_id.to_string(),
        client_host: format!("/{}", ctx.peer.ip()),
    };
    // One id names one group: Kafka refuses a share group's id as "not a consumer group".
    if broker.share_groups().has_group(&input.group_id) {
        return Outcome::now(
            ConsumerGroupHeartbeatResponse::default()
                .with_error_code(ResponseError::GroupIdNotFound.code())
                .with_error_message(Some(s(format!(
                    "Group {} is not a consumer group.",
                    input.group_id
                )))),
        );
    }
    let out = broker
        .groups()
        .consumer_heartbeat(input, &topic_view(broker));
    let flush = out.flush;
    let response = response(out);
    if !flush {
        return Outcome::now(response);
    }
    api::after_flush(
        broker,
        response,
        |r: &mut ConsumerGroupHeartbeatResponse| {
            r.error_code = error::STORAGE_ERROR;
            r.assignment = None;
        },
    )
}

fn response(out: HeartbeatOutput) -> ConsumerGroupHeartbeatResponse {
    let r = ConsumerGroupHeartbeatResponse::default()
        .with_error_code(out.error)
        .with_error_message(out.message.map(s));
    if out.error != 0 {
        // As Kafka: an error carries no member id, epoch or interval.
        return r;
    }
    r.with_member_id(Some(s(out.member_id)))
        .with_member_epoch(out.member_epoch)
        .with_heartbeat_interval_ms(out.heartbeat_interval_ms)
        .with_assignment(out.assignment.map(assignment))
}

fn assignment(a: BTreeMap<uuid::Uuid, std::collections::BTreeSet<i32>>) -> Assignment {
    Assignment::default().with_topic_partitions(
        a.into_iter()
            .map(|(id, ps)| {
                TopicPartitions::default()
                    .with_topic_id(id)
                    .with_partitions(ps.into_iter().collect())
            })
            .collect(),
    )
}
