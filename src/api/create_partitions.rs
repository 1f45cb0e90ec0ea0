//! CreatePartitions: adds partitions to existing topics; the count can only grow.

use std::collections::HashMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse, TopicName};

use crate::api::{authz, error, str_bytes as s, Ctx, Outcome};
use crate::broker::Broker;
use crate::security::acl::{AclOperation, ResourceType};

/// What Kafka's controller answers when one request adds more than 10,000 partitions.
const TOO_MANY_ADDED: &str = "Excessively large number of additional partitions per request.";

/// CreatePartitions. Creating partitions is blocking store work, so it runs on the blocking pool
/// (see `topics::create`).
pub fn handle(ctx: &Ctx, mut req: CreatePartitionsRequest) -> Outcome {
    let broker = ctx.broker.clone();
    let names: Vec<TopicName> = req.topics.iter().map(|t| t.name.clone()).collect();
    // As Kafka: ALTER on each topic, else TOPIC_AUTHORIZATION_FAILED for it.
    let (allowed, denied) = ctx.split_authorized(
        AclOperation::Alter,
        ResourceType::Topic,
        std::mem::take(&mut req.topics),
        |t| t.name.as_str(),
    );
    req.topics = allowed;
    let denied: Vec<CreatePartitionsTopicResult> = denied
        .into_iter()
        .map(|t| {
            CreatePartitionsTopicResult::default()
                .with_name(t.name)
                .with_error_code(authz::TOPIC_DENIED)
                .with_error_message(Some(s("The topic authorization is failed.".to_string())))
        })
        .collect();
    Outcome::later(async move {
        match tokio::task::spawn_blocking(move || handle_now(&broker, req)).await {
            Ok(mut response) => {
                response.results.extend(denied);
                response
            }
            Err(e) => {
                tracing::error!(error = %e, "creating partitions failed");
                CreatePartitionsResponse::default().with_results(
                    names
                        .into_iter()
                        .map(|name| {
                            CreatePartitionsTopicResult::default()
                                .with_name(name)
                                .with_error_code(ResponseError::UnknownServerError.code())
                        })
                        .collect(),
                )
            }
        }
    })
}

/// CreatePartitions, on the calling thread.
pub fn handle_now(broker: &Broker, req: CreatePartitionsRequest) -> CreatePartitionsResponse {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for t in &req.topics {
        *seen.entry(t.name.to_string()).or_default() += 1;
    }
    let added: i64 = req
        .topics
        .iter()
        .filter(|t| seen[t.name.as_str()] == 1)
        .filter_map(|t| {
            let current = broker.topic(t.name.as_str())?.partitions.len() as i64;
            Some((i64::from(t.count) - current).max(0))
        })
        .sum();
    if added > i64::from(broker.config().max_partitions_per_request) {
        // Kafka's controller fails the whole request, so every topic in it gets the error.
        tracing::debug!(added, "create partitions refused: too many partitions");
        return CreatePartitionsResponse::default().with_results(
            req.topics
                .into_iter()
                .map(|t| {
                    CreatePartitionsTopicResult::default()
                        .with_name(t.name)
                        .with_error_code(ResponseError::PolicyViolation.code())
                        .with_error_message(Some(s(TOO_MANY_ADDED.to_string())))
                })
                .collect(),
        );
    }
    let node = broker.node().node_id;
    let results = req
        .topics
        .into_iter()
        .map(|t| {
            let outcome = if seen[t.name.as_str()] > 1 {
                Err((
                    ResponseError::InvalidRequest.code(),
                    "topic listed more than once".to_string(),
                ))
            } else if let Some(message) = t.assignments.as_ref().and_then(|a| {
                // As Kafka: a list (even empty) must assign every new partition.
                let current = broker.topic(t.name.as_str())?.partitions.len() as i64;
                let added = i64::from(t.count) - current;
                (added > 0 && a.len() as i64 != added).then(|| {
                    format!(
                        "Attempted to add {added} additional partition(s), but only {} \
                         assignment(s) were specified.",
                        a.len()
                    )
                })
            }) {
                Err((ResponseError::InvalidReplicaAssignment.code(), message))
            } else if t.assignments.as_ref().is_some_and(|a| {
                a.iter()
                    .any(|a| a.broker_ids.len() != 1 || a.broker_ids[0].0 != node)
            }) {
                Err((
                    ResponseError::InvalidReplicaAssignment.code(),
                    format!("every new partition must be assigned to broker {node} alone"),
                ))
            } else {
                broker
                    .add_partitions(t.name.as_str(), t.count, req.validate_only)
                    .map(|_| ())
                    .map_err(|e| (error::code(&e, "CreatePartitions"), e.to_string()))
            };
            let r = CreatePartitionsTopicResult::default().with_name(t.name);
            match outcome {
                Ok(()) => r,
                // Kafka's UNKNOWN_TOPIC_OR_PARTITION carries no message here.
                Err((code, _)) if code == ResponseError::UnknownTopicOrPartition.code() => {
                    r.with_error_code(code).with_error_message(None)
                }
                Err((code, message)) => {
                    r.with_error_code(code).with_error_message(Some(s(message)))
                }
            }
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::tests::test_broker;
    use crate::config::Config;
    use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;

    fn grow(name: &str, count: i32) -> CreatePartitionsTopic {
        CreatePartitionsTopic::default()
            .with_name(s(name.to_string()).into())
            .with_count(count)
            .with_assignments(None)
    }

    /// As Kafka (compat-tests/differential.rs, D16): an assignment list, even empty, must assign
    /// every new partition; an unknown topic's error has no message.
    #[test]
    fn assignments_must_cover_the_new_partitions() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        b.create_topic("a", 1, Default::default(), false).unwrap();
        let answer = |topic: CreatePartitionsTopic| {
            let req = CreatePartitionsRequest::default().with_topics(vec![topic]);
            let r = handle_now(&b, req).results.remove(0);
            (r.error_code, r.error_message.map(|m| m.to_string()))
        };
        assert_eq!(
            answer(grow("a", 3).with_assignments(Some(vec![]))),
            (
                ResponseError::InvalidReplicaAssignment.code(),
                Some(
                    "Attempted to add 2 additional partition(s), but only 0 assignment(s) were \
                     specified."
                        .to_string()
                )
            )
        );
        assert_eq!(b.topic("a").unwrap().partitions.len(), 1);
        assert_eq!(
            answer(grow("nope", 3)),
            (ResponseError::UnknownTopicOrPartition.code(), None)
        );
        assert_eq!(answer(grow("a", 3)), (0, None));
    }

    #[test]
    fn adding_too_many_partitions_in_one_request_fails_it_whole() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            max_partitions_per_request: 10,
            ..Config::default()
        };
        let b = test_broker(dir.path(), config);
        b.create_topic("a", 2, Default::default(), false).unwrap();
        b.create_topic("b", 2, Default::default(), false).unwrap();
        let answer = |topics: Vec<CreatePartitionsTopic>| -> Vec<(i16, Option<String>)> {
            let req = CreatePartitionsRequest::default().with_topics(topics);
            handle_now(&b, req)
                .results
                .into_iter()
                .map(|r| (r.error_code, r.error_message.map(|m| m.to_string())))
                .collect()
        };
        let refused = (
            ResponseError::PolicyViolation.code(),
            Some(TOO_MANY_ADDED.to_string()),
        );
        for count in [13, 2_000_000_000, i32::MAX] {
            assert_eq!(answer(vec![grow("a", count)]), vec![refused.clone()]);
        }
        // Counted as partitions added, summed over the topics.
        let got = answer(vec![grow("a", 8), grow("b", 8)]);
        assert_eq!(got, vec![refused.clone(), refused]);
        assert_eq!(b.topic("a").unwrap().partitions.len(), 2);
        let got = answer(vec![grow("a", 7), grow("b", 7)]);
        assert_eq!(got, vec![(0, None), (0, None)]);
        assert_eq!(b.topic("b").unwrap().partitions.len(), 7);
    }
}
