//! Metadata: the one broker, and topics with their partitions (auto-created when allowed).
//!
//! Authorization as Kafka's: a topic needs DESCRIBE. Listing all topics leaves out the others
//! silently; a topic asked for by name gets TOPIC_AUTHORIZATION_FAILED whether or not it exists (so
//! its existence is not disclosed), and auto-creating one also needs CREATE on the cluster or on it.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use crate::api::{authz, error, Ctx};
use crate::broker::{Broker, Topic, TopicError};
use crate::log::LEADER_EPOCH;
use crate::security::acl::{AclOperation, ResourceType};

pub fn handle(ctx: &Ctx, req: MetadataRequest) -> MetadataResponse {
    let (broker, version) = (ctx.broker, ctx.version);
    let node = ctx.session.listener.node(broker.node().node_id);
    let include_topic_ops = version >= 8 && req.include_topic_authorized_operations;
    let include_cluster_ops =
        (8..=10).contains(&version) && req.include_cluster_authorized_operations;
    let topics = match req.topics {
        // v0: an empty list means all topics; v1+: null means all, empty means none.
        None => all_topics(ctx),
        Some(list) if list.is_empty() && version == 0 => all_topics(ctx),
        Some(list) => {
            // Before v4 there is no flag and brokers auto-create as configured.
            let may_create = version < 4 || req.allow_auto_topic_creation;
            list.into_iter()
                .map(|t| match t.name {
                    // v10+ may name a topic by id alone (null or empty name).
                    Some(name) if !name.is_empty() || t.topic_id.is_nil() => {
                        by_name(ctx, name, may_create)
                    }
                    _ => by_id(ctx, t.topic_id),
                })
                .collect()
        }
    };
    let topics = topics
        .into_iter()
        .map(|t| {
            if include_topic_ops && t.error_code == 0 {
                let ops = ctx.topic_operations(t.name.as_deref().map_or("", |n| n.as_str()));
                t.with_topic_authorized_operations(ops)
            } else {
                t
            }
        })
        .collect();
    let response = if include_cluster_ops {
        // Kafka answers 0, not the bitfield, to a client that may not describe the cluster.
        let ops = if ctx.authorize_cluster(AclOperation::Describe) {
            ctx.cluster_operations()
        } else {
            0
        };
        MetadataResponse::default().with_cluster_authorized_operations(ops)
    } else {
        MetadataResponse::default()
    };
    response
        .with_brokers(vec![MetadataResponseBroker::default()
            .with_node_id(BrokerId(node.node_id))
            .with_host(StrBytes::from_string(node.host.clone()))
            .with_port(node.port)])
        .with_cluster_id(Some(StrBytes::from_string(broker.cluster_id().to_string())))
        .with_controller_id(BrokerId(node.node_id))
        .with_topics(topics)
}

fn all_topics(ctx: &Ctx) -> Vec<MetadataResponseTopic> {
    ctx.broker
        .topics()
        .iter()
        .filter(|t| ctx.authorize(AclOperation::Describe, ResourceType::Topic, &t.name))
        .map(|t| describe(ctx.broker, t))
        .collect()
}

fn by_name(ctx: &Ctx, name: TopicName, may_create: bool) -> MetadataResponseTopic {
    let broker = ctx.broker;
    let denied = || {
        MetadataResponseTopic::default()
            .with_name(Some(name.clone()))
            .with_error_code(authz::TOPIC_DENIED)
    };
    if !ctx.authorize(AclOperation::Describe, ResourceType::Topic, &name) {
        return denied();
    }
    // Kafka asks for CREATE only when it would otherwise create the topic.
    let would_create = may_create
        && broker.config().auto_create_topics
        && broker.topic(&name).is_none()
        && crate::broker::validate_topic_name(&name).is_ok();
    if would_create
        && !ctx.authorize_cluster(AclOperation::Create)
        && !ctx.authorize(AclOperation::Create, ResourceType::Topic, &name)
    {
        return denied();
    }
    let found = if may_create {
        broker.get_or_create(name.as_str())
    } else {
        crate::broker::validate_topic_name(name.as_str()).and_then(|_| {
            broker
                .topic(name.as_str())
                .ok_or(TopicError::Unknown(name.to_string()))
        })
    };
    match found {
        Ok(t) => describe(broker, &t),
        Err(e) => {
            tracing::debug!(topic = %name.as_str(), error = %e, "metadata for unavailable topic");
            MetadataResponseTopic::default()
                .with_name(Some(name))
                .with_error_code(error::code(&e, "Metadata"))
        }
    }
}

fn by_id(ctx: &Ctx, id: Uuid) -> MetadataResponseTopic {
    match ctx.broker.topic_by_id(id) {
        // Topic ids are not secret: Kafka answers with the id, and no name (null from v12).
        Some(t) if !ctx.authorize(AclOperation::Describe, ResourceType::Topic, &t.name) => {
            let r = MetadataResponseTopic::default()
                .with_topic_id(id)
                .with_error_code(authz::TOPIC_DENIED);
            if ctx.version >= 12 {
                r.with_name(None)
            } else {
                r
            }
        }
        Some(t) => describe(ctx.broker, &t),
        None => MetadataResponseTopic::default()
            .with_topic_id(id)
            .with_error_code(ResponseError::UnknownTopicId.code()),
    }
}

fn describe(broker: &Broker, t: &Arc<Topic>) -> MetadataResponseTopic {
    let me = BrokerId(broker.node().node_id);
    let partitions = (0..t.partitions.len() as i32)
        .map(|p| {
            MetadataResponsePartition::default()
                .with_partition_index(p)
                .with_leader_id(me)
                .with_leader_epoch(LEADER_EPOCH)
                .with_replica_nodes(vec![me])
                .with_isr_nodes(vec![me])
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(StrBytes::from_string(t.name.clone()).into()))
        .with_is_internal(crate::broker::is_internal(&t.name))
        .with_topic_id(t.id)
        .with_partitions(partitions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::tests::test_broker;
    use crate::config::Config;
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;

    fn named(n: &str) -> MetadataRequestTopic {
        MetadataRequestTopic::default().with_name(Some(StrBytes::from_string(n.into()).into()))
    }

    #[test]
    fn auto_creates_and_reports_errors() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(
            dir.path(),
            Config {
                num_partitions: 2,
                ..Config::default()
            },
        );
        let req = MetadataRequest::default()
            .with_topics(Some(vec![named("new"), named("bad name")]))
            .with_allow_auto_topic_creation(true);
        let resp = handle(&Ctx::test(&b, 12), req);
        assert_eq!(resp.topics[0].error_code, 0);
        assert_eq!(resp.topics[0].partitions.len(), 2);
        assert_ne!(resp.topics[0].topic_id, Uuid::nil());
        assert_eq!(
            resp.topics[1].error_code,
            ResponseError::InvalidTopicException.code()
        );
        // Not allowed to create: unknown.
        let req = MetadataRequest::default()
            .with_topics(Some(vec![named("other")]))
            .with_allow_auto_topic_creation(false);
        let resp = handle(&Ctx::test(&b, 12), req);
        assert_eq!(
            resp.topics[0].error_code,
            ResponseError::UnknownTopicOrPartition.code()
        );
        // All topics.
        assert_eq!(
            handle(
                &Ctx::test(&b, 12),
                MetadataRequest::default().with_topics(None)
            )
            .topics
            .len(),
            1
        );
        // By id.
        let id = b.topic("new").unwrap().id;
        let req = MetadataRequest::default().with_topics(Some(vec![
            MetadataRequestTopic::default().with_topic_id(id),
        ]));
        assert_eq!(
            handle(&Ctx::test(&b, 12), req).topics[0]
                .name
                .as_deref()
                .map(|s| s.as_str()),
            Some("new")
        );
    }

    #[test]
    fn every_version_encodes() {
        use kafka_protocol::protocol::Encodable;
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        b.create_topic("t", 1, Default::default(), false).unwrap();
        for v in 0..=12 {
            let resp = handle(&Ctx::test(&b, v), MetadataRequest::default());
            resp.encode(&mut bytes::BytesMut::new(), v).unwrap();
        }
    }

    /// Kafka's rules: DESCRIBE to see a topic (hidden from a full listing, refused by name whether
    /// or not it exists), CREATE on the cluster or the topic to auto-create it, and the KIP-430
    /// bitfields computed for the client.
    #[test]
    fn authorization() {
        use crate::api::authz::tests::*;
        use AclOperation::*;
        let dir = tempfile::tempdir().unwrap();
        let b = secured_broker(dir.path());
        b.create_topic("seen", 1, Default::default(), false)
            .unwrap();
        b.create_topic("hidden", 1, Default::default(), false)
            .unwrap();
        allow(&b, ResourceType::Topic, "seen", Read);
        allow(&b, ResourceType::Topic, "described", Describe);
        allow(&b, ResourceType::Topic, "made", Create);
        let ctx = Ctx::test(&b, 10);
        let all = handle(
            &ctx,
            MetadataRequest::default()
                .with_topics(None)
                .with_include_cluster_authorized_operations(true)
                .with_include_topic_authorized_operations(true),
        );
        let names: Vec<_> = all.topics.iter().map(|t| t.name.clone().unwrap()).collect();
        assert_eq!(
            names,
            vec![TopicName::from(StrBytes::from_static_str("seen"))]
        );
        assert_eq!(
            all.topics[0].topic_authorized_operations,
            (1 << 3) | (1 << 8)
        );
        assert_eq!(all.cluster_authorized_operations, 0);
        let named = |n: &[&str]| {
            let req = MetadataRequest::default()
                .with_topics(Some(n.iter().map(|n| super::tests::named(n)).collect()))
                .with_allow_auto_topic_creation(true);
            handle(&ctx, req)
                .topics
                .iter()
                .map(|t| (t.error_code, t.topic_id))
                .collect::<Vec<_>>()
        };
        let denied = (authz::TOPIC_DENIED, Uuid::nil());
        assert_eq!(named(&["hidden", "absent", "described"]), vec![denied; 3]);
        assert!(
            b.topic("described").is_none(),
            "DESCRIBE alone creates nothing"
        );
        // CREATE implies nothing else: the new topic is still not the client's to describe.
        assert_eq!(named(&["made"]), vec![denied]);
        allow(&b, ResourceType::Topic, "made", Describe);
        assert_eq!(named(&["made"])[0].0, 0);
        allow(
            &b,
            ResourceType::Cluster,
            crate::security::acl::CLUSTER_NAME,
            Create,
        );
        assert_eq!(named(&["described"])[0].0, 0);
        let by_id = MetadataRequest::default().with_topics(Some(vec![
            MetadataRequestTopic::default().with_topic_id(b.topic("hidden").unwrap().id),
        ]));
        let t = &handle(&Ctx::test(&b, 12), by_id).topics[0];
        assert_eq!(
            (t.error_code, t.name.is_none()),
            (authz::TOPIC_DENIED, true)
        );
    }
}
