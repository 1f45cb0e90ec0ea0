//! CreateTopics and DeleteTopics.
//!
//! Errors are per topic, as Kafka reports them. With one broker, the only replication factor that
//! can be honoured is 1 (or -1, "the default"), and a manual replica assignment may name only us.

use std::collections::{BTreeMap, HashMap, HashSet};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{
    CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use crate::api::{authz, error, Ctx, Outcome};
use crate::broker::Broker;
use crate::security::acl::{AclOperation, ResourceType};

/// CreateTopics. Creating partitions is blocking store work (seconds for thousands of them), so it
/// runs on the blocking pool: on a runtime worker it held up other connections' requests.
///
/// Authorization as Kafka's: CREATE on the cluster, or else on each topic (TOPIC_AUTHORIZATION_FAILED
/// for the others); a created topic's configs are answered only with DESCRIBE_CONFIGS on it (else
/// its config error is TOPIC_AUTHORIZATION_FAILED).
pub fn create(ctx: &Ctx, mut req: CreateTopicsRequest) -> Outcome {
    let (broker, version) = (ctx.broker.clone(), ctx.version);
    let names: Vec<TopicName> = req.topics.iter().map(|t| t.name.clone()).collect();
    let denied = if ctx.authorize_cluster(AclOperation::Create) {
        Vec::new()
    } else {
        let (allowed, denied) = ctx.split_authorized(
            AclOperation::Create,
            ResourceType::Topic,
            std::mem::take(&mut req.topics),
            |t| t.name.as_str(),
        );
        req.topics = allowed;
        denied
    };
    let no_configs: HashSet<TopicName> = names
        .iter()
        .filter(|n| !ctx.authorize(AclOperation::DescribeConfigs, ResourceType::Topic, n))
        .cloned()
        .collect();
    let hide_configs = move |mut r: CreatableTopicResult| {
        // A topic whose creation failed otherwise answers no configs and no config error.
        let answered = r.error_code == 0 || r.error_code == authz::TOPIC_DENIED;
        if version >= 5 && answered && no_configs.contains(&r.name) {
            r.topic_config_error_code = authz::TOPIC_DENIED;
            r.configs = Some(Vec::new());
        }
        r
    };
    let denied: Vec<CreatableTopicResult> = denied
        .into_iter()
        .map(|t| {
            CreatableTopicResult::default()
                .with_name(t.name)
                .with_error_code(authz::TOPIC_DENIED)
                .with_error_message(Some(StrBytes::from_static_str("Authorization failed.")))
        })
        .collect();
    Outcome::later(async move {
        match tokio::task::spawn_blocking(move || create_now(&broker, version, req)).await {
            Ok(mut response) => {
                response.topics.extend(denied);
                response.topics = response.topics.into_iter().map(hide_configs).collect();
                response
            }
            Err(e) => {
                tracing::error!(error = %e, "creating topics failed");
                CreateTopicsResponse::default().with_topics(
                    names
                        .into_iter()
                        .map(|name| {
                            CreatableTopicResult::default()
                                .with_name(name)
                                .with_error_code(ResponseError::UnknownServerError.code())
                                .with_error_message(None)
                        })
                        .collect(),
                )
            }
        }
    })
}

/// CreateTopics, on the calling thread.
pub fn create_now(broker: &Broker, version: i16, req: CreateTopicsRequest) -> CreateTopicsResponse {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for t in &req.topics {
        *seen.entry(t.name.to_string()).or_default() += 1;
    }
    let default_partitions = broker.config().num_partitions;
    let requested: i64 = req
        .topics
        .iter()
        .filter(|t| seen[t.name.as_str()] == 1)
        .map(|t| requested_partitions(t, default_partitions))
        .sum();
    let limit = i64::from(broker.config().max_partitions_per_request);
    if requested > limit {
        tracing::debug!(requested, "create topics refused: too many partitions");
        return refuse_all(req, TOO_MANY_PARTITIONS);
    }
    // Kafka's controller also bounds the metadata records one request writes: per topic that
    // would be created, one for the topic, one per partition and one per config.
    let records: i64 = req
        .topics
        .iter()
        .filter(|t| seen[t.name.as_str()] == 1)
        // Sluice's own broker-wide limit (POLICY_VIOLATION too) comes after Kafka's checks.
        .filter(|t| match create_one(broker, (*t).clone(), true) {
            Ok(_) => true,
            Err((code, _)) => code == ResponseError::PolicyViolation.code(),
        })
        .map(|t| 1 + requested_partitions(t, default_partitions) + t.configs.len() as i64)
        .sum();
    if records > limit {
        tracing::debug!(records, "create topics refused: too many records");
        return refuse_all(req, TOO_MANY_RECORDS);
    }
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let name = t.name.clone();
            // Kafka answers a success with a null message (kafka-protocol's default is "").
            let result = CreatableTopicResult::default()
                .with_name(name.clone())
                .with_error_message(None);
            let outcome = if seen[name.as_str()] > 1 {
                Err((
                    ResponseError::InvalidRequest.code(),
                    format!("topic {} is listed more than once", name.as_str()),
                ))
            } else {
                create_one(broker, t, req.validate_only)
            };
            match outcome {
                Ok((id, partitions, configs)) => {
                    let mut r = result.with_topic_id(id);
                    if version >= 5 {
                        let rows = crate::config::topic::describe_topic(
                            &configs,
                            &broker.topic_defaults(),
                        );
                        r = r
                            .with_num_partitions(partitions)
                            .with_replication_factor(1)
                            .with_configs(Some(
                                rows.into_iter()
                                    .map(|c| {
                                        CreatableTopicConfigs::default()
                                            .with_name(StrBytes::from_string(c.name))
                                            .with_value(c.value.map(StrBytes::from_string))
                                            .with_read_only(c.read_only)
                                            .with_config_source(c.source.code())
                                            .with_is_sensitive(c.sensitive)
                                    })
                                    .collect(),
                            ));
                    }
                    r
                }
                Err((code, message)) => {
                    tracing::debug!(topic = %name.as_str(), code, %message, "create topic refused");
                    result
                        .with_error_code(code)
                        .with_error_message(Some(StrBytes::from_string(message)))
                }
            }
        })
        .collect();
    CreateTopicsResponse::default().with_topics(topics)
}

/// What Kafka's controller answers when one request asks for more than 10,000 partitions.
const TOO_MANY_PARTITIONS: &str = "Excessively large number of partitions per request.";

/// The partitions a topic of a CreateTopics asks for, counted as Kafka's controller counts them
/// against its per-request limit: an assignment's length, the default for -1, and nothing for a
/// count that is invalid anyway.
fn requested_partitions(t: &CreatableTopic, default_partitions: i32) -> i64 {
    if !t.assignments.is_empty() {
        t.assignments.len() as i64
    } else if t.num_partitions == -1 {
        i64::from(default_partitions)
    } else {
        i64::from(t.num_partitions.max(0))
    }
}

/// What Kafka's controller answers when one request would write more than 10,000 metadata records.
const TOO_MANY_RECORDS: &str = "Unable to perform excessively large batch operation.";

/// Kafka's controller fails a request that is too large as a whole, so every topic in it gets
/// the error.
fn refuse_all(req: CreateTopicsRequest, message: &'static str) -> CreateTopicsResponse {
    CreateTopicsResponse::default().with_topics(
        req.topics
            .into_iter()
            .map(|t| {
                CreatableTopicResult::default()
                    .with_name(t.name)
                    .with_error_code(ResponseError::PolicyViolation.code())
                    .with_error_message(Some(StrBytes::from_static_str(message)))
            })
            .collect(),
    )
}

type Created = (Uuid, i32, BTreeMap<String, String>);

fn create_one(
    broker: &Broker,
    t: CreatableTopic,
    validate_only: bool,
) -> Result<Created, (i16, String)> {
    let node = broker.node().node_id;
    let mut partitions = t.num_partitions;
    if !t.assignments.is_empty() {
        if t.num_partitions != -1 || t.replication_factor != -1 {
            return Err((
                ResponseError::InvalidRequest.code(),
                "both a replica assignment and a partition count or replication factor were given"
                    .into(),
            ));
        }
        let mut indexes: Vec<i32> = t.assignments.iter().map(|a| a.partition_index).collect();
        indexes.sort_unstable();
        let contiguous = indexes.iter().enumerate().all(|(i, &p)| p == i as i32);
        let only_us = t
            .assignments
            .iter()
            .all(|a| a.broker_ids.len() == 1 && a.broker_ids[0].0 == node);
        if !contiguous || !only_us {
            return Err((
                ResponseError::InvalidReplicaAssignment.code(),
                format!(
                    "replica assignments must place each of partitions 0..n on broker {node} alone"
                ),
            ));
        }
        partitions = indexes.len() as i32;
    } else {
        if t.replication_factor != -1 && t.replication_factor != 1 {
            return Err((
                ResponseError::InvalidReplicationFactor.code(),
                format!(
                    "Replication factor: {} larger than available brokers: 1.",
                    t.replication_factor
                ),
            ));
        }
        if partitions == -1 {
            partitions = broker.config().num_partitions;
        }
    }
    let mut configs = BTreeMap::new();
    for c in t.configs {
        match c.value {
            Some(v) => {
                configs.insert(c.name.to_string(), v.to_string());
            }
            None => {
                return Err((
                    ResponseError::InvalidConfig.code(),
                    format!("config {} has a null value", c.name.as_str()),
                ))
            }
        }
    }
    let topic = broker
        .create_topic(t.name.as_str(), partitions, configs, validate_only)
        .map_err(|e| (error::code(&e, "CreateTopics"), e.to_string()))?;
    Ok((topic.id, partitions, topic.configs.clone()))
}

pub fn delete(ctx: &Ctx, req: DeleteTopicsRequest) -> DeleteTopicsResponse {
    let (broker, version) = (ctx.broker, ctx.version);
    // v6 names topics by name or id in `topics`; older versions list names only.
    let wanted: Vec<(Option<TopicName>, Uuid)> = if version >= 6 {
        req.topics
            .into_iter()
            .map(|t| (t.name, t.topic_id))
            .collect()
    } else {
        req.topic_names
            .into_iter()
            .map(|n| (Some(n), Uuid::nil()))
            .collect()
    };
    let responses = wanted
        .into_iter()
        .map(|(name, id)| {
            let resolved = match (&name, id) {
                (Some(n), _) => Ok(n.to_string()),
                (None, id) => broker.topic_by_id(id).map(|t| t.name.clone()).ok_or((
                    ResponseError::UnknownTopicId.code(),
                    format!("unknown topic id {id}"),
                )),
            };
            let outcome = resolved.and_then(|n| {
                if !ctx.authorize(AclOperation::Delete, ResourceType::Topic, &n) {
                    return Err((authz::TOPIC_DENIED, "Authorization failed.".to_string()));
                }
                broker
                    .delete_topic(&n)
                    .map_err(|e| (error::code(&e, "DeleteTopics"), e.to_string()))
            });
            let mut r = DeletableTopicResult::default()
                .with_name(name.clone())
                .with_topic_id(id);
            match outcome {
                Ok(t) => {
                    if version >= 6 {
                        r = r
                            .with_topic_id(t.id)
                            .with_name(Some(StrBytes::from_string(t.name.clone()).into()));
                    }
                }
                Err((code, message)) => {
                    r = r.with_error_code(code);
                    if version >= 5 {
                        r = r.with_error_message(Some(StrBytes::from_string(message)));
                    }
                }
            }
            r
        })
        .collect();
    DeleteTopicsResponse::default().with_responses(responses)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::tests::test_broker;
    use crate::config::Config;
    use kafka_protocol::messages::create_topics_request::{
        CreatableReplicaAssignment, CreatableTopicConfig,
    };
    use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
    use kafka_protocol::messages::BrokerId;

    fn topic(name: &str, partitions: i32, rf: i16) -> CreatableTopic {
        CreatableTopic::default()
            .with_name(StrBytes::from_string(name.into()).into())
            .with_num_partitions(partitions)
            .with_replication_factor(rf)
    }

    #[test]
    fn create_errors_per_topic() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        let req = CreateTopicsRequest::default().with_topics(vec![
            topic("ok", 3, 1),
            topic("rf", 1, 3),
            topic("zero", 0, 1),
            topic("bad name", 1, 1),
            topic("dup", 1, 1),
            topic("dup", 1, 1),
            topic("assigned", -1, -1).with_assignments(vec![CreatableReplicaAssignment::default()
                .with_partition_index(0)
                .with_broker_ids(vec![BrokerId(99)])]),
        ]);
        let response = create_now(&b, 7, req);
        // Kafka sends a null message with success, not an empty one.
        assert_eq!(response.topics[0].error_message, None);
        let codes: Vec<i16> = response.topics.iter().map(|t| t.error_code).collect();
        assert_eq!(
            codes,
            vec![
                0,
                ResponseError::InvalidReplicationFactor.code(),
                ResponseError::InvalidPartitions.code(),
                ResponseError::InvalidTopicException.code(),
                ResponseError::InvalidRequest.code(),
                ResponseError::InvalidRequest.code(),
                ResponseError::InvalidReplicaAssignment.code(),
            ]
        );
        assert_eq!(b.topic("ok").unwrap().partitions.len(), 3);
        let again = create_now(
            &b,
            7,
            CreateTopicsRequest::default().with_topics(vec![topic("ok", 1, 1)]),
        );
        assert_eq!(
            again.topics[0].error_code,
            ResponseError::TopicAlreadyExists.code()
        );
        let dry = CreateTopicsRequest::default()
            .with_topics(vec![topic("dry", 1, 1)])
            .with_validate_only(true);
        assert_eq!(create_now(&b, 7, dry).topics[0].error_code, 0);
        assert!(b.topic("dry").is_none());
    }

    #[test]
    fn too_many_partitions_in_one_request_fail_it_whole() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            max_partitions_per_request: 10,
            ..Config::default()
        };
        let b = test_broker(dir.path(), config);
        let codes = |topics: Vec<CreatableTopic>, validate_only: bool| -> Vec<(i16, String)> {
            let req = CreateTopicsRequest::default()
                .with_topics(topics)
                .with_validate_only(validate_only);
            create_now(&b, 7, req)
                .topics
                .into_iter()
                .map(|t| {
                    (
                        t.error_code,
                        t.error_message.unwrap_or_default().to_string(),
                    )
                })
                .collect()
        };
        let refused = (
            ResponseError::PolicyViolation.code(),
            TOO_MANY_PARTITIONS.to_string(),
        );
        for huge in [11, 2_000_000_000, i32::MAX] {
            let got = codes(vec![topic("huge", huge, 1), topic("small", 1, 1)], false);
            assert_eq!(got, vec![refused.clone(), refused.clone()], "{huge}");
            assert_eq!(
                codes(vec![topic("huge", huge, 1)], true),
                vec![refused.clone()]
            );
        }
        // Records: a topic, its partitions and its configs, for the topics that would be created.
        let many = TOO_MANY_RECORDS.to_string();
        let refused_records = (ResponseError::PolicyViolation.code(), many);
        let got = codes(vec![topic("a", 9, 1), topic("b", 1, 1)], true);
        assert_eq!(got, vec![refused_records.clone(), refused_records.clone()]);
        let with_config = topic("a", 8, 1).with_configs(vec![CreatableTopicConfig::default()
            .with_name(StrBytes::from_static_str("retention.ms"))
            .with_value(Some(StrBytes::from_static_str("1000")))]);
        let got = codes(vec![with_config.clone(), topic("b", 1, 1)], true);
        assert_eq!(got, vec![refused_records.clone(), refused_records]);
        // A topic that fails anyway writes no records.
        let got = codes(vec![with_config, topic("bad name", 1, 1)], true);
        assert_eq!(got.iter().map(|c| c.0).collect::<Vec<_>>(), vec![0, 17]);
        // Summed over the topics; a duplicated name does not count (it fails on its own).
        let got = codes(vec![topic("a", 6, 1), topic("b", 5, 1)], false);
        assert_eq!(got, vec![refused.clone(), refused.clone()]);
        assert!(b.topics().is_empty());
        let got = codes(
            vec![
                // 8 partitions and 2 topics: 10 records, the limit.
                topic("a", 4, 1),
                topic("b", 4, 1),
                topic("d", 9, 1),
                topic("d", 9, 1),
            ],
            false,
        );
        assert_eq!(
            got.iter().map(|c| c.0).collect::<Vec<_>>(),
            vec![0, 0, 42, 42]
        );
        assert_eq!(b.topics().len(), 2);
    }

    #[test]
    fn delete_by_name_and_id() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        let a = b.create_topic("a", 1, Default::default(), false).unwrap();
        b.create_topic("b", 1, Default::default(), false).unwrap();
        let req = DeleteTopicsRequest::default().with_topics(vec![
            DeleteTopicState::default().with_topic_id(a.id),
            DeleteTopicState::default().with_name(Some(StrBytes::from_string("b".into()).into())),
            DeleteTopicState::default().with_name(Some(StrBytes::from_string("c".into()).into())),
        ]);
        let codes: Vec<i16> = delete(&Ctx::test(&b, 6), req)
            .responses
            .iter()
            .map(|r| r.error_code)
            .collect();
        assert_eq!(
            codes,
            vec![0, 0, ResponseError::UnknownTopicOrPartition.code()]
        );
        assert!(b.topics().is_empty());
        let old = DeleteTopicsRequest::default()
            .with_topic_names(vec![StrBytes::from_string("a".into()).into()]);
        assert_eq!(
            delete(&Ctx::test(&b, 4), old).responses[0].error_code,
            ResponseError::UnknownTopicOrPartition.code()
        );
    }
}
