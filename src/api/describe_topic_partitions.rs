//! DescribeTopicPartitions (KIP-966): topics and partitions with a paging cursor, as the Java
//! admin client's describeTopics uses on 3.8+.
//!
//! A topic needs DESCRIBE: listing every topic leaves the others out; a topic asked for by name
//! gets TOPIC_AUTHORIZATION_FAILED after the page, whether or not it exists, as Kafka answers.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse,
};

use crate::api::{authz, str_bytes as s, Ctx};
use crate::log::LEADER_EPOCH;
use crate::security::acl::{AclOperation, ResourceType};

pub fn handle(ctx: &Ctx, req: DescribeTopicPartitionsRequest) -> DescribeTopicPartitionsResponse {
    let broker = ctx.broker;
    let every_topic = req.topics.is_empty();
    let me = BrokerId(broker.node().node_id);
    let limit = req.response_partition_limit.max(1) as usize;
    // An empty topic list means every topic, in name order (the cursor walks that order).
    let mut names: Vec<String> = if req.topics.is_empty() {
        broker.topics().iter().map(|t| t.name.clone()).collect()
    } else {
        let mut n: Vec<String> = req.topics.iter().map(|t| t.name.to_string()).collect();
        n.sort();
        n.dedup();
        n
    };
    let (start_topic, start_partition) = match &req.cursor {
        Some(c) => (Some(c.topic_name.to_string()), c.partition_index.max(0)),
        None => (None, 0),
    };
    if let Some(start) = &start_topic {
        names.retain(|n| n >= start);
    }
    let (names, denied) =
        ctx.split_authorized(AclOperation::Describe, ResourceType::Topic, names, |n| n);
    let denied = denied.into_iter().filter(|_| !every_topic).map(|name| {
        DescribeTopicPartitionsResponseTopic::default()
            .with_error_code(authz::TOPIC_DENIED)
            .with_name(Some(s(name).into()))
    });
    let mut topics = Vec::new();
    let mut budget = limit;
    let mut next_cursor = None;
    for name in names {
        if budget == 0 {
            // The page ended exactly at a topic boundary: the next page starts with this topic.
            next_cursor = Some(
                Cursor::default()
                    .with_topic_name(s(name.clone()).into())
                    .with_partition_index(0),
            );
            break;
        }
        let Some(t) = broker.topic(&name) else {
            topics.push(
                DescribeTopicPartitionsResponseTopic::default()
                    .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                    // Kafka reports a topic's operations even for one it does not have.
                    .with_topic_authorized_operations(ctx.topic_operations(&name))
                    .with_name(Some(s(name).into())),
            );
            continue;
        };
        let first = if start_topic.as_deref() == Some(name.as_str()) {
            start_partition
        } else {
            0
        };
        let mut partitions = Vec::new();
        for p in first..t.partitions.len() as i32 {
            if budget == 0 {
                next_cursor = Some(
                    Cursor::default()
                        .with_topic_name(s(name.clone()).into())
                        .with_partition_index(p),
                );
                break;
            }
            budget -= 1;
            partitions.push(
                DescribeTopicPartitionsResponsePartition::default()
                    .with_partition_index(p)
                    .with_leader_id(me)
                    .with_leader_epoch(LEADER_EPOCH)
                    .with_replica_nodes(vec![me])
                    .with_isr_nodes(vec![me])
                    .with_eligible_leader_replicas(Some(Vec::new()))
                    .with_last_known_elr(Some(Vec::new())),
            );
        }
        topics.push(
            DescribeTopicPartitionsResponseTopic::default()
                .with_is_internal(crate::broker::is_internal(&t.name))
                .with_topic_authorized_operations(ctx.topic_operations(&name))
                .with_name(Some(s(name).into()))
                .with_topic_id(t.id)
                .with_partitions(partitions),
        );
        if next_cursor.is_some() {
            break;
        }
    }
    topics.extend(denied);
    DescribeTopicPartitionsResponse::default()
        .with_topics(topics)
        .with_next_cursor(next_cursor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::TOPIC_OPERATIONS;
    use kafka_protocol::messages::describe_topic_partitions_request::TopicRequest;

    /// As Kafka (compat-tests/differential.rs, D17): an unknown topic still reports a topic's
    /// authorized operations.
    #[test]
    fn unknown_topic_reports_topic_operations() {
        let dir = tempfile::tempdir().unwrap();
        let b = crate::broker::tests::test_broker(dir.path(), crate::config::Config::default());
        let req = DescribeTopicPartitionsRequest::default()
            .with_response_partition_limit(10)
            .with_topics(vec![
                TopicRequest::default().with_name(s("nope".to_string()).into())
            ]);
        let r = handle(&Ctx::test(&b, 0), req);
        let t = &r.topics[0];
        assert_eq!(t.error_code, ResponseError::UnknownTopicOrPartition.code());
        assert_eq!(t.topic_authorized_operations, TOPIC_OPERATIONS);
    }
}
