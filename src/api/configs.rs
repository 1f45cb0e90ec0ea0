//! DescribeConfigs, AlterConfigs and IncrementalAlterConfigs for topics, groups and the broker.
//!
//! Topic configs are the full Kafka 4.x table (`crate::config::topic`), each with its value, source
//! and synonyms, not only the ones that were set. The broker resource is read-only: Sluice takes its
//! settings from its config file and has no dynamic broker configs. Group configs (ConfigResource
//! type 32, KIP-848 / KIP-932) are `crate::config::group`'s.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_configs_request::AlterableConfig;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse as IncrementalResourceResponse;
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, DescribeConfigsRequest, DescribeConfigsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::api::{authz, error, str_bytes as s, Ctx};
use crate::broker::{Broker, TopicError};
use crate::config::topic::{self, DescribedConfig};
use crate::security::acl::{AclOperation, ResourceType, CLUSTER_NAME};

/// Kafka's ConfigResource.Type codes.
const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const BROKER_LOGGER: i8 = 8;
const CLIENT_METRICS: i8 = 16;
/// A group's dynamic configs (KIP-848 / KIP-932).
const GROUP: i8 = 32;

/// A refused resource: the error code and the message for the client.
type Refusal = (i16, String);
type Applied = Result<(), Refusal>;

/// The three APIs answer each resource with a generated type of their own, but with the same resource
/// and error fields: one way to fill them.
trait ResourceAnswer {
    fn for_resource(resource_type: i8, resource_name: StrBytes) -> Self;
    fn refused(self, refusal: Refusal) -> Self;
}

/// `$success` is the error message of a resource that succeeded: Kafka leaves DescribeConfigs'
/// unset ("") but answers the two alter APIs with null.
macro_rules! resource_answer {
    ($($answer:ty => $success:expr),*) => {$(
        impl ResourceAnswer for $answer {
            fn for_resource(resource_type: i8, resource_name: StrBytes) -> Self {
                Self::default()
                    .with_resource_type(resource_type)
                    .with_resource_name(resource_name)
                    .with_error_message($success)
            }

            fn refused(self, (code, message): Refusal) -> Self {
                self.with_error_code(code).with_error_message(Some(s(message)))
            }
        }
    )*};
}

resource_answer!(
    DescribeConfigsResult => Some(StrBytes::default()),
    AlterConfigsResourceResponse => None,
    IncrementalResourceResponse => None
);

/// Whether the client may do `operation` (DESCRIBE_CONFIGS or ALTER_CONFIGS) on the resource: a
/// topic's or group's own, the cluster's for the broker-wide types (broker, broker logger, client
/// metrics), as Kafka's handlers check.
fn authorized(ctx: &Ctx, operation: AclOperation, resource_type: i8, name: &str) -> Applied {
    let (kind, name) = match resource_type {
        TOPIC => (ResourceType::Topic, name),
        GROUP => (ResourceType::Group, name),
        BROKER | BROKER_LOGGER | CLIENT_METRICS => (ResourceType::Cluster, CLUSTER_NAME),
        _ => return Ok(()),
    };
    if ctx.authorize(operation, kind, name) {
        Ok(())
    } else {
        Err((authz::denied(kind), "Authorization failed.".to_string()))
    }
}

fn unsupported(resource_type: i8) -> Refusal {
    (
        ResponseError::InvalidRequest.code(),
        format!("unsupported resource type {resource_type}"),
    )
}

pub fn describe(ctx: &Ctx, req: DescribeConfigsRequest) -> DescribeConfigsResponse {
    let (broker, version) = (ctx.broker, ctx.version);
    let results = req
        .resources
        .into_iter()
        .map(|r| {
            let name = r.resource_name.as_str();
            let rows = authorized(ctx, AclOperation::DescribeConfigs, r.resource_type, name)
                .and_then(|()| resource_rows(broker, r.resource_type, name));
            let result = DescribeConfigsResult::for_resource(r.resource_type, r.resource_name);
            match rows {
                Err(refusal) => result.refused(refusal),
                Ok(rows) => {
                    // Null or empty asks for every config, as Kafka's ConfigHelper reads it.
                    let wanted: Option<Vec<String>> = r
                        .configuration_keys
                        .filter(|ks| !ks.is_empty())
                        .map(|ks| ks.iter().map(|k| k.to_string()).collect());
                    let configs = rows
                        .into_iter()
                        .filter(|c| wanted.as_ref().is_none_or(|w| w.contains(&c.name)))
                        .map(|c| {
                            describe_row(
                                c,
                                req.include_synonyms,
                                req.include_documentation,
                                version,
                            )
                        })
                        .collect();
                    result.with_configs(configs)
                }
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

/// Every config of one resource: a topic, or this broker (by its id, or by the empty name).
fn resource_rows(
    broker: &Broker,
    resource_type: i8,
    name: &str,
) -> Result<Vec<DescribedConfig>, Refusal> {
    match resource_type {
        TOPIC => match broker.topic(name) {
            Some(t) => Ok(topic::describe_topic(&t.configs, &broker.topic_defaults())),
            None => Err((
                ResponseError::UnknownTopicOrPartition.code(),
                format!("topic {name} does not exist"),
            )),
        },
        BROKER if name.is_empty() || name == broker.node().node_id.to_string() => {
            let c = broker.config();
            Ok(topic::describe_broker(
                c.node_id,
                c.num_partitions,
                c.auto_create_topics,
                &broker.topic_defaults(),
            ))
        }
        BROKER => Err((
            ResponseError::InvalidRequest.code(),
            format!("this is broker {}, not {name}", broker.node().node_id),
        )),
        // Kafka describes any group id, existing or not: configs are set ahead of a group.
        GROUP if !name.is_empty() => Ok(broker.group_configs().describe(name)),
        GROUP => Err(empty_group_name()),
        other => Err(unsupported(other)),
    }
}

fn empty_group_name() -> Refusal {
    (
        ResponseError::InvalidRequest.code(),
        "Group name must not be empty".into(),
    )
}

/// Changes a group's configs with `change` (validated whole, as Kafka's `GroupConfig.validate`).
fn alter_group(
    broker: &Broker,
    group: &str,
    validate_only: bool,
    change: impl FnOnce(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>, Refusal>,
) -> Applied {
    use crate::config::group::UpdateError;
    if group.is_empty() {
        return Err(empty_group_name());
    }
    broker
        .group_configs()
        .update(group, validate_only, change)
        .map_err(|e| match e {
            UpdateError::Invalid(m) => (ResponseError::InvalidConfig.code(), m),
            UpdateError::Refused(code, m) => (code, m),
            UpdateError::Store(e) => (error::code(&e, "altering group configs"), e.to_string()),
        })
}

fn describe_row(
    c: DescribedConfig,
    synonyms: bool,
    documentation: bool,
    version: i16,
) -> DescribeConfigsResourceResult {
    let mut row = DescribeConfigsResourceResult::default()
        .with_name(s(c.name))
        .with_value(c.value.map(s))
        .with_read_only(c.read_only)
        .with_config_source(c.source.code())
        .with_is_sensitive(c.sensitive);
    if synonyms {
        row = row.with_synonyms(
            c.synonyms
                .into_iter()
                .map(|(name, value, source)| {
                    DescribeConfigsSynonym::default()
                        .with_name(s(name))
                        .with_value(value.map(s))
                        .with_source(source.code())
                })
                .collect(),
        );
    }
    if version >= 3 {
        row = row.with_config_type(c.config_type.code());
        // Null unless asked for, as Kafka (the field's default would write "").
        row = row.with_documentation(documentation.then(|| s(c.doc)));
    }
    row
}

/// One resource's answer to AlterConfigs or IncrementalAlterConfigs. Topics and groups have configs
/// that can change: `alter` changes the named topic's or group's (given the resource type); the
/// broker resource is refused.
fn alter_resource<A: ResourceAnswer>(
    ctx: &Ctx,
    resource_type: i8,
    resource_name: StrBytes,
    alter: impl FnOnce(i8, &str) -> Applied,
) -> A {
    let allowed = authorized(
        ctx,
        AclOperation::AlterConfigs,
        resource_type,
        resource_name.as_str(),
    );
    let outcome = match resource_type {
        _ if allowed.is_err() => allowed,
        TOPIC | GROUP => alter(resource_type, resource_name.as_str()),
        BROKER => Err((
            ResponseError::InvalidRequest.code(),
            "Sluice has no dynamic broker configs: set them in its config file".into(),
        )),
        other => Err(unsupported(other)),
    };
    let answer = A::for_resource(resource_type, resource_name);
    match outcome {
        Ok(()) => answer,
        Err(refusal) => answer.refused(refusal),
    }
}

fn topic_outcome<T>(result: Result<T, TopicError>) -> Applied {
    result
        .map(|_| ())
        .map_err(|e| (error::code(&e, "altering topic configs"), e.to_string()))
}

/// AlterConfigs replaces a topic's whole set of overrides with the given one.
pub fn alter(ctx: &Ctx, req: AlterConfigsRequest) -> AlterConfigsResponse {
    let broker = ctx.broker;
    let responses = req
        .resources
        .into_iter()
        .map(|r| {
            alter_resource(ctx, r.resource_type, r.resource_name, |kind, name| {
                let configs = new_overrides(r.configs)?;
                if kind == GROUP {
                    return alter_group(broker, name, req.validate_only, |_| Ok(configs));
                }
                topic_outcome(broker.set_topic_configs(name, configs, req.validate_only))
            })
        })
        .collect();
    AlterConfigsResponse::default().with_responses(responses)
}

/// AlterConfigs' configs as a set of overrides. A null value is refused: the set replaces the old one,
/// so a config is removed by leaving it out.
fn new_overrides(configs: Vec<AlterableConfig>) -> Result<BTreeMap<String, String>, Refusal> {
    if let Some(c) = configs.iter().rev().find(|c| c.value.is_none()) {
        return Err((
            ResponseError::InvalidConfig.code(),
            format!("config {} has a null value", c.name.as_str()),
        ));
    }
    Ok(configs
        .into_iter()
        .filter_map(|c| Some((c.name.to_string(), c.value?.to_string())))
        .collect())
}

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

/// IncrementalAlterConfigs: SET, DELETE, APPEND and SUBTRACT on individual topic configs.
pub fn incremental_alter(
    ctx: &Ctx,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let broker = ctx.broker;
    let responses = req
        .resources
        .into_iter()
        .map(|r| {
            alter_resource(ctx, r.resource_type, r.resource_name, |kind, name| {
                let ops: Vec<(String, i8, Option<String>)> = r
                    .configs
                    .iter()
                    .map(|c| {
                        (
                            c.name.to_string(),
                            c.config_operation,
                            c.value.as_ref().map(|v| v.to_string()),
                        )
                    })
                    .collect();
                if kind == GROUP {
                    return alter_group(broker, name, req.validate_only, |current| {
                        apply_ops(current, &ops, GROUP)
                    });
                }
                topic_outcome(
                    broker.update_topic_configs(name, req.validate_only, |current| {
                        apply_ops(current, &ops, TOPIC)
                            .map_err(|(code, message)| TopicError::Refused(code, message))
                    }),
                )
            })
        })
        .collect();
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

/// Applies incremental operations to a topic's or a group's overrides.
fn apply_ops(
    current: &BTreeMap<String, String>,
    ops: &[(String, i8, Option<String>)],
    resource_type: i8,
) -> Result<BTreeMap<String, String>, Refusal> {
    let invalid = |m: String| (ResponseError::InvalidConfig.code(), m);
    let mut seen = std::collections::HashSet::new();
    let mut configs = current.clone();
    for (name, op, value) in ops {
        if !seen.insert(name.clone()) {
            return Err((
                ResponseError::InvalidRequest.code(),
                format!("config {name} appears more than once"),
            ));
        }
        if resource_type == GROUP {
            if !crate::config::group::is_group_config(name) {
                return Err(invalid(format!("Unknown group config name: {name}")));
            }
        } else if topic::lookup(name).is_none() {
            return Err(invalid(format!("Unknown topic config name: {name}")));
        }
        match *op {
            SET => {
                let v = value
                    .clone()
                    .ok_or_else(|| invalid(format!("SET {name} needs a value")))?;
                configs.insert(name.clone(), v);
            }
            DELETE => {
                configs.remove(name);
            }
            APPEND | SUBTRACT if resource_type == GROUP => {
                return Err(invalid(format!(
                    "{} is not supported for group config {name}",
                    if *op == APPEND { "APPEND" } else { "SUBTRACT" }
                )));
            }
            APPEND | SUBTRACT => {
                let (opname, list_op): (&str, fn(&str, &str) -> String) = if *op == APPEND {
                    ("APPEND", topic::append_list)
                } else {
                    ("SUBTRACT", topic::subtract_list)
                };
                let base = topic::list_op_base(opname, name, &configs).map_err(invalid)?;
                let next = list_op(&base, value.as_deref().unwrap_or_default());
                configs.insert(name.clone(), next);
            }
            other => {
                return Err((
                    ResponseError::InvalidRequest.code(),
                    format!("unknown config operation {other}"),
                ))
            }
        }
    }
    Ok(configs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::tests::test_broker;
    use crate::config::Config;
    use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
    use kafka_protocol::messages::incremental_alter_configs_request::{
        AlterConfigsResource, AlterableConfig,
    };

    /// A broker with topic `t` (`retention.ms=1000`), and the directory it keeps alive.
    fn broker_with_topic_t() -> (tempfile::TempDir, Broker) {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        b.create_topic(
            "t",
            1,
            BTreeMap::from([("retention.ms".into(), "1000".into())]),
            false,
        )
        .unwrap();
        (dir, b)
    }

    /// Every config of one resource, with synonyms.
    fn describe_request(resource_type: i8, name: &str) -> DescribeConfigsRequest {
        DescribeConfigsRequest::default()
            .with_include_synonyms(true)
            .with_resources(vec![DescribeConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(s(name))
                .with_configuration_keys(None)])
    }

    /// As Kafka (compat-tests/differential.rs, D14): documentation is null unless asked for.
    #[test]
    fn documentation_only_when_asked() {
        let (_dir, b) = broker_with_topic_t();
        for asked in [false, true] {
            let r = describe(
                &Ctx::test(&b, 4),
                describe_request(TOPIC, "t").with_include_documentation(asked),
            );
            let c = &r.results[0].configs[0];
            assert_eq!(c.documentation.is_some(), asked, "{}", c.name.as_str());
        }
    }

    fn describe_topic(b: &Broker, name: &str) -> DescribeConfigsResult {
        describe(&Ctx::test(b, 4), describe_request(TOPIC, name))
            .results
            .remove(0)
    }

    fn value(r: &DescribeConfigsResult, name: &str) -> (Option<String>, i8) {
        let c = r
            .configs
            .iter()
            .find(|c| c.name.as_str() == name)
            .expect("listed");
        (c.value.as_ref().map(|v| v.to_string()), c.config_source)
    }

    fn op(name: &str, op: i8, value: Option<&str>) -> AlterableConfig {
        AlterableConfig::default()
            .with_name(s(name))
            .with_config_operation(op)
            .with_value(value.map(s))
    }

    fn incremental(b: &Broker, topic: &str, ops: Vec<AlterableConfig>) -> i16 {
        let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(TOPIC)
                .with_resource_name(s(topic))
                .with_configs(ops),
        ]);
        incremental_alter(&Ctx::test(b, 0), req).responses[0].error_code
    }

    #[test]
    fn describe_lists_defaults_and_incremental_changes_persist() {
        let (_dir, b) = broker_with_topic_t();
        let r = describe_topic(&b, "t");
        assert_eq!(r.error_code, 0);
        assert!(r.configs.len() > 25, "every topic config is listed");
        assert_eq!(value(&r, "retention.ms"), (Some("1000".into()), 1));
        assert_eq!(value(&r, "cleanup.policy"), (Some("delete".into()), 5));
        assert_eq!(
            incremental(
                &b,
                "t",
                vec![
                    op("cleanup.policy", APPEND, Some("compact")),
                    op("retention.ms", DELETE, None)
                ]
            ),
            0
        );
        let r = describe_topic(&b, "t");
        assert_eq!(
            value(&r, "cleanup.policy"),
            (Some("delete,compact".into()), 1)
        );
        assert_eq!(value(&r, "retention.ms").1, 5);
        assert!(b.topic("t").unwrap().effective.cleanup_compact);
        assert_eq!(
            incremental(
                &b,
                "t",
                vec![op("cleanup.policy", SUBTRACT, Some("delete"))]
            ),
            0
        );
        assert_eq!(
            value(&describe_topic(&b, "t"), "cleanup.policy")
                .0
                .as_deref(),
            Some("compact")
        );
        assert_eq!(
            incremental(&b, "t", vec![op("retention.ms", SET, Some("-5"))]),
            ResponseError::InvalidConfig.code()
        );
        assert_eq!(
            incremental(&b, "t", vec![op("no.such", SET, Some("1"))]),
            ResponseError::InvalidConfig.code()
        );
        assert_eq!(
            incremental(&b, "t", vec![op("retention.ms", APPEND, Some("1"))]),
            ResponseError::InvalidConfig.code()
        );
        assert_eq!(
            incremental(&b, "nope", vec![op("retention.ms", SET, Some("1"))]),
            ResponseError::UnknownTopicOrPartition.code()
        );
        assert_eq!(
            describe_topic(&b, "nope").error_code,
            ResponseError::UnknownTopicOrPartition.code()
        );
    }

    /// One AlterConfigs resource's answer: (error code, error message).
    fn alter_one(
        b: &Broker,
        resource_type: i8,
        name: &str,
        configs: &[(&str, Option<&str>)],
        validate_only: bool,
    ) -> (i16, Option<String>) {
        use kafka_protocol::messages::alter_configs_request::{
            AlterConfigsResource, AlterableConfig,
        };
        let req = AlterConfigsRequest::default()
            .with_validate_only(validate_only)
            .with_resources(vec![AlterConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(s(name))
                .with_configs(
                    configs
                        .iter()
                        .map(|(n, v)| {
                            AlterableConfig::default()
                                .with_name(s(*n))
                                .with_value(v.map(s))
                        })
                        .collect(),
                )]);
        let r = alter(&Ctx::test(b, 0), req).responses.remove(0);
        assert_eq!(
            (r.resource_type, r.resource_name.as_str()),
            (resource_type, name)
        );
        (r.error_code, r.error_message.map(|m| m.to_string()))
    }

    #[test]
    fn alter_replaces_the_whole_set_and_refuses_what_it_cannot_change() {
        let (_dir, b) = broker_with_topic_t();
        let overrides = |b: &Broker| b.topic("t").unwrap().configs.clone();

        // Success answers a null message, as Kafka does.
        let only_compact = [("cleanup.policy", Some("compact"))];
        assert_eq!(alter_one(&b, TOPIC, "t", &only_compact, true), (0, None));
        assert_eq!(
            overrides(&b),
            BTreeMap::from([("retention.ms".into(), "1000".into())])
        );
        assert_eq!(alter_one(&b, TOPIC, "t", &only_compact, false), (0, None));
        assert_eq!(
            overrides(&b),
            BTreeMap::from([("cleanup.policy".into(), "compact".into())])
        );

        let nulls = [
            ("retention.ms", None),
            ("preallocate", Some("true")),
            ("flush.ms", None),
        ];
        assert_eq!(
            alter_one(&b, TOPIC, "nope", &nulls, false),
            (
                ResponseError::InvalidConfig.code(),
                Some("config flush.ms has a null value".into())
            )
        );
        assert_eq!(
            alter_one(&b, TOPIC, "t", &[("retention.ms", Some("-5"))], false).0,
            ResponseError::InvalidConfig.code()
        );
        assert_eq!(
            alter_one(&b, TOPIC, "nope", &only_compact, false).0,
            ResponseError::UnknownTopicOrPartition.code()
        );
        assert_eq!(
            alter_one(&b, BROKER, "1", &[("log.retention.ms", Some("1"))], false),
            (
                ResponseError::InvalidRequest.code(),
                Some("Sluice has no dynamic broker configs: set them in its config file".into())
            )
        );
        assert_eq!(
            alter_one(&b, 99, "x", &[], false),
            (
                ResponseError::InvalidRequest.code(),
                Some("unsupported resource type 99".into())
            )
        );
        assert_eq!(
            overrides(&b),
            BTreeMap::from([("cleanup.policy".into(), "compact".into())])
        );

        for (resource_type, name, message) in [
            (BROKER, "7", "this is broker 1, not 7"),
            (99, "x", "unsupported resource type 99"),
        ] {
            let r = describe(&Ctx::test(&b, 4), describe_request(resource_type, name))
                .results
                .remove(0);
            assert_eq!(
                (r.error_code, r.error_message.as_deref(), r.resource_type),
                (
                    ResponseError::InvalidRequest.code(),
                    Some(message),
                    resource_type
                )
            );
            assert!(r.configs.is_empty());
        }

        let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(BROKER)
                .with_resource_name(s("1"))
                .with_configs(vec![op("log.retention.ms", SET, Some("1"))]),
        ]);
        let r = incremental_alter(&Ctx::test(&b, 0), req)
            .responses
            .remove(0);
        assert_eq!(
            (r.error_code, r.resource_type, r.resource_name.as_str()),
            (ResponseError::InvalidRequest.code(), BROKER, "1")
        );
        assert_eq!(
            r.error_message.as_deref(),
            Some("Sluice has no dynamic broker configs: set them in its config file")
        );
    }

    #[test]
    fn broker_resource_describes_and_refuses_changes() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        let r = describe(&Ctx::test(&b, 4), describe_request(BROKER, "1"))
            .results
            .remove(0);
        assert_eq!(r.error_code, 0);
        assert!(r
            .configs
            .iter()
            .any(|c| c.name.as_str() == "log.retention.ms"));
        use kafka_protocol::protocol::Encodable;
        for v in 1..=4 {
            describe(&Ctx::test(&b, v), describe_request(BROKER, "1"))
                .encode(&mut bytes::BytesMut::new(), v)
                .unwrap();
        }
    }

    #[test]
    fn an_empty_key_list_describes_every_config_as_kafka() {
        let (_dir, b) = broker_with_topic_t();
        let all = describe(&Ctx::test(&b, 4), describe_request(TOPIC, "t"));
        let mut req = describe_request(TOPIC, "t");
        req.resources[0].configuration_keys = Some(Vec::new());
        let empty = describe(&Ctx::test(&b, 4), req);
        assert!(!all.results[0].configs.is_empty());
        assert_eq!(empty.results[0].configs.len(), all.results[0].configs.len());
    }

    #[test]
    fn group_resources_describe_alter_and_validate() {
        let (_dir, b) = broker_with_topic_t();
        let group_op = |name: &str, op: i8, value: Option<&str>, validate_only: bool| {
            let r = incremental_alter(
                &Ctx::test(&b, 1),
                IncrementalAlterConfigsRequest::default()
                    .with_validate_only(validate_only)
                    .with_resources(vec![AlterConfigsResource::default()
                        .with_resource_type(GROUP)
                        .with_resource_name(s("g"))
                        .with_configs(vec![AlterableConfig::default()
                            .with_name(s(name))
                            .with_config_operation(op)
                            .with_value(value.map(s))])]),
            );
            let res = &r.responses[0];
            (
                res.error_code,
                res.error_message.as_ref().map(|m| m.to_string()),
            )
        };
        let described = |b: &Broker| {
            let r = describe(&Ctx::test(b, 4), describe_request(GROUP, "g"));
            let res = &r.results[0];
            assert_eq!(res.error_code, 0);
            let c = res
                .configs
                .iter()
                .find(|c| c.name.as_str() == "share.auto.offset.reset")
                .unwrap();
            (c.value.as_ref().map(|v| v.to_string()), c.config_source)
        };
        assert_eq!(described(&b), (Some("latest".into()), 5));
        assert_eq!(
            group_op("share.auto.offset.reset", SET, Some("earliest"), true),
            (0, None)
        );
        assert_eq!(described(&b), (Some("latest".into()), 5));
        assert_eq!(
            group_op("share.auto.offset.reset", SET, Some("earliest"), false),
            (0, None)
        );
        assert_eq!(described(&b), (Some("earliest".into()), 8));
        assert_eq!(b.group_configs().share("g").auto_offset_reset, "earliest");
        let invalid = ResponseError::InvalidConfig.code();
        assert_eq!(
            group_op("share.session.timeout.ms", SET, Some("1"), false),
            (
                invalid,
                Some(
                    "share.session.timeout.ms must be in the range 45000 to 60000 inclusive."
                        .into()
                )
            )
        );
        assert_eq!(
            group_op("retention.ms", SET, Some("1"), false),
            (
                invalid,
                Some("Unknown group config name: retention.ms".into())
            )
        );
        assert_eq!(
            group_op("share.auto.offset.reset", APPEND, Some("x"), false).0,
            invalid
        );
        assert_eq!(
            group_op("share.auto.offset.reset", DELETE, None, false),
            (0, None)
        );
        assert_eq!(described(&b), (Some("latest".into()), 5));
        let r = describe(&Ctx::test(&b, 4), describe_request(GROUP, ""));
        assert_eq!(
            (
                r.results[0].error_code,
                r.results[0].error_message.as_deref()
            ),
            (
                ResponseError::InvalidRequest.code(),
                Some("Group name must not be empty")
            )
        );
    }
}
