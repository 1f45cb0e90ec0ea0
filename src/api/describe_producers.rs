//! DescribeProducers: the idempotent producers a partition knows, from its producer state (what
//! `kafka-transactions.sh describe-producers` shows). No transactions yet, so the coordinator
//! epoch and the current transaction's start offset are always -1. Errors as Kafka's KafkaApis
//! and ReplicaManager give them: an invalid topic name INVALID_TOPIC_EXCEPTION (with Kafka's
//! message), an unknown topic or partition UNKNOWN_TOPIC_OR_PARTITION.
//!
//! One difference: Kafka's last timestamp is the last batch's max timestamp; Sluice remembers the
//! broker's clock at the append (what producer expiry is measured against), which equals it for
//! producers whose clocks agree with the broker's.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse, ProducerId};

use crate::api::{self, authz, error, str_bytes, Ctx};
use crate::security::acl::{AclOperation, ResourceType};

pub fn handle(ctx: &Ctx, req: DescribeProducersRequest) -> DescribeProducersResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let name = t.name.as_str();
            // As Kafka: READ on the topic, checked before its name.
            let topic_error = if ctx.authorize(AclOperation::Read, ResourceType::Topic, name) {
                invalid_name(name).map(|m| (ResponseError::InvalidTopicException.code(), Some(m)))
            } else {
                Some((authz::TOPIC_DENIED, None))
            };
            let topic = ctx.broker.topic(name);
            let partitions = t
                .partition_indexes
                .iter()
                .map(|&index| {
                    let r = PartitionResponse::default().with_partition_index(index);
                    if let Some((code, message)) = &topic_error {
                        return r
                            .with_error_code(*code)
                            .with_error_message(message.clone().map(str_bytes));
                    }
                    let log = match api::partition(topic.as_ref(), index) {
                        Ok(log) => log,
                        // Kafka words an unknown topic (not an unknown partition of a known one).
                        Err(code) if topic.is_none() => {
                            return r.with_error_code(code).with_error_message(Some(str_bytes(
                                "This server does not host this topic-partition.".to_string(),
                            )))
                        }
                        Err(code) => return r.with_error_code(code),
                    };
                    match log.active_producers() {
                        Ok(producers) => r.with_active_producers(
                            producers
                                .into_iter()
                                .map(|(id, e)| {
                                    ProducerState::default()
                                        .with_producer_id(ProducerId(id))
                                        .with_producer_epoch(i32::from(e.epoch))
                                        .with_last_sequence(
                                            e.batches.back().map_or(-1, |b| b.last_seq),
                                        )
                                        .with_last_timestamp(e.last_timestamp_ms)
                                        .with_coordinator_epoch(e.coordinator_epoch)
                                        .with_current_txn_start_offset(
                                            e.txn_first_offset.map_or(-1, |o| o as i64),
                                        )
                                })
                                .collect(),
                        ),
                        Err(e) => r.with_error_code(error::code(&e, "DescribeProducers")),
                    }
                })
                .collect();
            TopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    DescribeProducersResponse::default().with_topics(topics)
}

/// Kafka's message for an invalid topic name (its `Topic.validate`), if the name is invalid.
fn invalid_name(name: &str) -> Option<String> {
    let why = if name.is_empty() {
        "the empty string is not allowed".to_string()
    } else if name == "." || name == ".." {
        format!("'{name}' is not allowed")
    } else if name.len() > 249 {
        format!("the length of '{name}' is longer than the max allowed length 249")
    } else if !name
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
    {
        format!(
            "'{name}' contains one or more characters other than ASCII alphanumerics, '.', '_' \
             and '-'"
        )
    } else {
        return None;
    };
    Some(format!("Topic name is invalid: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::tests::test_broker;
    use crate::config::Config;
    use crate::log::batch::{self, tests::make_batch, tests::with_producer};
    use kafka_protocol::messages::describe_producers_request::TopicRequest;
    use kafka_protocol::messages::TopicName;

    fn request(topic: &str, partitions: Vec<i32>) -> DescribeProducersRequest {
        DescribeProducersRequest::default().with_topics(vec![TopicRequest::default()
            .with_name(TopicName(str_bytes(topic)))
            .with_partition_indexes(partitions)])
    }

    #[test]
    fn a_transactional_producer_shows_its_transaction_and_coordinator_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        let t = b.create_topic("t", 1, Default::default(), false).unwrap();
        let log = &t.partitions[0];
        log.append_visible(&batch::validate(&make_batch(2, 0), 1 << 20).unwrap())
            .unwrap();
        let txn = batch::tests::with_txn(&make_batch(1, 0), 42, 0, 0);
        log.append_visible(&batch::validate(&txn, 1 << 20).unwrap())
            .unwrap();
        let current = |b| {
            let resp = handle(&Ctx::test(b, 0), request("t", vec![0]));
            let p = &resp.topics[0].partitions[0].active_producers[0];
            (p.coordinator_epoch, p.current_txn_start_offset)
        };
        assert_eq!(current(&b), (-1, 2));
        let m = log.write_marker(42, 0, true, 6).unwrap();
        log.publish(m.end);
        assert_eq!(current(&b), (6, -1));
    }

    #[test]
    fn lists_idempotent_producers_and_kafkas_errors() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        let t = b.create_topic("t", 2, Default::default(), false).unwrap();
        let idem = with_producer(&make_batch(3, 0), 42, 2, 0);
        t.partitions[0]
            .append_visible(&batch::validate(&idem, 1 << 20).unwrap())
            .unwrap();
        let resp = handle(&Ctx::test(&b, 0), request("t", vec![0, 1, 9]));
        let parts = &resp.topics[0].partitions;
        assert_eq!(parts[0].error_code, 0);
        let p = &parts[0].active_producers[0];
        assert_eq!(
            (p.producer_id.0, p.producer_epoch, p.last_sequence),
            (42, 2, 2)
        );
        assert_eq!((p.coordinator_epoch, p.current_txn_start_offset), (-1, -1));
        assert!(parts[1].active_producers.is_empty());
        assert_eq!(
            parts[2].error_code,
            ResponseError::UnknownTopicOrPartition.code()
        );
        // Kafka words the unknown topic's error (compat-tests/differential.rs, D19), not the
        // unknown partition's.
        assert_eq!(parts[2].error_message, None);
        let unknown = handle(&Ctx::test(&b, 0), request("nope", vec![0]));
        assert_eq!(
            unknown.topics[0].partitions[0].error_code,
            ResponseError::UnknownTopicOrPartition.code()
        );
        assert_eq!(
            unknown.topics[0].partitions[0].error_message.as_deref(),
            Some("This server does not host this topic-partition.")
        );
        let invalid = handle(&Ctx::test(&b, 0), request("bad name", vec![0]));
        let p = &invalid.topics[0].partitions[0];
        assert_eq!(p.error_code, ResponseError::InvalidTopicException.code());
        assert_eq!(
            p.error_message.as_deref(),
            Some(
                "Topic name is invalid: 'bad name' contains one or more characters other than \
                 ASCII alphanumerics, '.', '_' and '-'"
            )
        );
        assert_eq!(
            invalid_name("").as_deref(),
            Some("Topic name is invalid: the empty string is not allowed")
        );
        assert_eq!(invalid_name("a.b_c-D9"), None);
    }
}
