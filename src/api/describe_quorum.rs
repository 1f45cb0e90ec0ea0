//! DescribeQuorum: the KRaft quorum as a combined-mode Kafka node shows it, this one node as the
//! leader and only voter of `__cluster_metadata` partition 0, with no observers (what
//! `kafka-metadata-quorum.sh describe --status` prints). Sluice has no metadata log, so the
//! values are stable stand-ins, chosen to read as a healthy, settled quorum:
//! - leader epoch 1 (the epoch a freshly formatted single node elects itself in);
//! - high watermark and the voter's log end offset 0 (no metadata log, nothing to lag behind);
//! - last fetch and last caught-up timestamps: now, as Kafka reports for the leader itself;
//! - v2: the voter's directory id is the broker's metadata directory id (created on first start,
//!   kept in the store), and its one listener is the broker's, named PLAINTEXT (Kafka lists its
//!   controller listeners; Sluice's one listener serves both roles).
//!
//! Anything but exactly that one partition gets UNKNOWN_TOPIC_OR_PARTITION on every partition
//! asked for, as Kafka's raft client answers (`DescribeQuorumRequest.getPartitionLevelErrorResponse`).
//!
//! Needs DESCRIBE on the cluster.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_quorum_response::{
    Listener, Node, PartitionData, ReplicaState, TopicData,
};
use kafka_protocol::messages::{
    BrokerId, DescribeQuorumRequest, DescribeQuorumResponse, TopicName,
};

use crate::api::{authz, str_bytes, Ctx};
use crate::security::acl::AclOperation;

/// The KRaft metadata log's topic.
pub const METADATA_TOPIC: &str = "__cluster_metadata";
pub const LEADER_EPOCH: i32 = 1;
pub const LISTENER_NAME: &str = "PLAINTEXT";

pub fn handle(ctx: &Ctx, req: DescribeQuorumRequest) -> DescribeQuorumResponse {
    if !ctx.authorize_cluster(AclOperation::Describe) {
        return DescribeQuorumResponse::default().with_error_code(authz::CLUSTER_DENIED);
    }
    let valid = matches!(&req.topics[..], [t] if t.topic_name.as_str() == METADATA_TOPIC
        && matches!(&t.partitions[..], [p] if p.partition_index == 0));
    if !valid {
        return unknown_partitions(ctx, req);
    }
    let broker = ctx.broker;
    let node = broker.node();
    let now = crate::now_ms();
    let mut voter = ReplicaState::default()
        .with_replica_id(BrokerId(node.node_id))
        .with_log_end_offset(0)
        .with_last_fetch_timestamp(now)
        .with_last_caught_up_timestamp(now);
    if ctx.version >= 2 {
        voter = voter.with_replica_directory_id(broker.metadata_directory_id());
    }
    let partition = PartitionData::default()
        .with_partition_index(0)
        .with_leader_id(BrokerId(node.node_id))
        .with_leader_epoch(LEADER_EPOCH)
        .with_high_watermark(0)
        .with_current_voters(vec![voter]);
    let resp = DescribeQuorumResponse::default().with_topics(vec![TopicData::default()
        .with_topic_name(TopicName(str_bytes(METADATA_TOPIC)))
        .with_partitions(vec![partition])]);
    if ctx.version < 2 {
        return resp;
    }
    let listener = Listener::default()
        .with_name(str_bytes(LISTENER_NAME))
        .with_host(str_bytes(node.host.clone()))
        .with_port(u16::try_from(node.port).unwrap_or(0));
    resp.with_nodes(vec![Node::default()
        .with_node_id(BrokerId(node.node_id))
        .with_listeners(vec![listener])])
}

fn unknown_partitions(ctx: &Ctx, req: DescribeQuorumRequest) -> DescribeQuorumResponse {
    let error = ResponseError::UnknownTopicOrPartition;
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let r = PartitionData::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(error.code());
                    // The message field exists from v2 on.
                    if ctx.version >= 2 {
                        return r.with_error_message(Some(str_bytes(
                            "This server does not host this topic-partition.",
                        )));
                    }
                    r
                })
                .collect();
            TopicData::default()
                .with_topic_name(t.topic_name)
                .with_partitions(partitions)
        })
        .collect();
    DescribeQuorumResponse::default().with_topics(topics)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::tests::test_broker;
    use crate::config::Config;
    use kafka_protocol::messages::describe_quorum_request;
    use kafka_protocol::protocol::Encodable;

    fn request(topic: &str, partition: i32) -> DescribeQuorumRequest {
        DescribeQuorumRequest::default().with_topics(vec![
            describe_quorum_request::TopicData::default()
                .with_topic_name(TopicName(str_bytes(topic)))
                .with_partitions(vec![describe_quorum_request::PartitionData::default()
                    .with_partition_index(partition)]),
        ])
    }

    #[test]
    fn this_node_leads_and_is_the_only_voter_at_every_version() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        for version in 0..=2 {
            let resp = handle(&Ctx::test(&b, version), request(METADATA_TOPIC, 0));
            let p = &resp.topics[0].partitions[0];
            assert_eq!((p.error_code, p.leader_id.0), (0, b.node().node_id));
            assert_eq!(p.current_voters.len(), 1);
            assert!(p.observers.is_empty());
            assert_eq!(resp.nodes.len(), usize::from(version >= 2));
            let mut buf = bytes::BytesMut::new();
            resp.encode(&mut buf, version).unwrap();
        }
        let v2 = handle(&Ctx::test(&b, 2), request(METADATA_TOPIC, 0));
        let dir_id = v2.topics[0].partitions[0].current_voters[0].replica_directory_id;
        assert_eq!(dir_id, b.metadata_directory_id());
        assert_ne!(dir_id, uuid::Uuid::nil());
    }

    #[test]
    fn other_partitions_are_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        for (topic, partition) in [(METADATA_TOPIC, 1), ("other", 0)] {
            let resp = handle(&Ctx::test(&b, 2), request(topic, partition));
            let p = &resp.topics[0].partitions[0];
            assert_eq!(p.error_code, ResponseError::UnknownTopicOrPartition.code());
        }
    }
}
