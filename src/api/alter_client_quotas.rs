//! AlterClientQuotas (KIP-546): sets and removes quota values per entity (`user`, `client-id`,
//! `ip`; a null name is the type's default entity), durably (the answer waits for the flush, as
//! for other metadata). Validation follows Kafka's controller (ClientQuotaControlManager), with
//! its error codes and messages: the entity types and their combinations, the keys each allows,
//! and their values. `validate_only` checks and changes nothing. A change applies to running
//! clients at once ([`crate::quota`] enforces the user and client-id quotas; `ip` entities'
//! `connection_creation_rate` is stored and described, not enforced).
//!
//! One difference: Kafka accepts for `ip` any name that resolves as a host; Sluice accepts IP
//! addresses only, because resolving a name here would block the connection's task.
//!
//! Needs ALTER_CONFIGS on the cluster (else every entity gets CLUSTER_AUTHORIZATION_FAILED).

use std::collections::BTreeMap;
use std::net::IpAddr;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_client_quotas_response::{EntityData, EntryData};
use kafka_protocol::messages::{AlterClientQuotasRequest, AlterClientQuotasResponse};

use crate::api::{self, error, str_bytes, Ctx, Outcome};
use crate::security::acl::AclOperation;

use crate::store::QuotaEntity;

pub const USER: &str = "user";
pub const CLIENT_ID: &str = "client-id";
pub const IP: &str = "ip";

/// How a quota key's value is checked: Kafka's ConfigDef type of the key.
#[derive(Clone, Copy)]
enum QuotaType {
    Long,
    Int,
    Double,
}

/// The keys a `user` and/or `client-id` entity takes (Kafka's QuotaConfig).
const USER_AND_CLIENT_KEYS: &[(&str, QuotaType)] = &[
    ("producer_byte_rate", QuotaType::Long),
    ("consumer_byte_rate", QuotaType::Long),
    ("request_percentage", QuotaType::Double),
    ("controller_mutation_rate", QuotaType::Double),
];
/// The keys an `ip` entity takes.
const IP_KEYS: &[(&str, QuotaType)] = &[("connection_creation_rate", QuotaType::Int)];

type Refusal = (ResponseError, String);

/// An entity as the request names it: entity type -> name (`None`: the default entity).
type Entity = BTreeMap<String, Option<String>>;

pub fn handle(ctx: &Ctx, req: AlterClientQuotasRequest) -> Outcome {
    let broker = ctx.broker;
    let may_alter = ctx.authorize_cluster(AclOperation::AlterConfigs);
    // One result per distinct entity, in the order entities first appear.
    let mut results: Vec<(Entity, Result<(), Refusal>)> = Vec::new();
    let mut changed = false;
    for entry in req.entries {
        // As Kafka reads the request: a later component of the same type replaces an earlier one.
        let entity: Entity = entry
            .entity
            .iter()
            .map(|e| {
                (
                    e.entity_type.to_string(),
                    e.entity_name.as_ref().map(|n| n.to_string()),
                )
            })
            .collect();
        let mut ops: Vec<(String, Option<f64>)> = Vec::new();
        let mut duplicate_key = false;
        for op in &entry.ops {
            if ops.iter().any(|(k, _)| k == op.key.as_str()) {
                duplicate_key = true;
            } else {
                ops.push((op.key.to_string(), (!op.remove).then_some(op.value)));
            }
        }
        let seen = results.iter().position(|(e, _)| *e == entity);
        if duplicate_key || seen.is_some() {
            // Kafka reports a repeated entity, and an entity with a repeated key, this way
            // (its duplicate-key message is overwritten by this one), changing nothing more.
            let refusal = Err((
                ResponseError::InvalidRequest,
                format!("Ignoring duplicate entity {}", describe(&entity)),
            ));
            match seen {
                Some(i) => results[i].1 = refusal,
                None => results.push((entity, refusal)),
            }
            continue;
        }
        let authorized = if may_alter {
            Ok(())
        } else {
            Err((
                ResponseError::ClusterAuthorizationFailed,
                "Cluster authorization failed.".to_string(),
            ))
        };
        let outcome = authorized
            .and_then(|()| validate(&entity))
            .and_then(|keys| {
                let stored: QuotaEntity = entity.clone().into_iter().collect();
                let current = broker.client_quota(&stored);
                let mut changes = Vec::new();
                for (key, value) in &ops {
                    match value {
                        // Removing a value not set is no change, and is not validated.
                        None if current.contains_key(key) => changes.push((key.clone(), None)),
                        None => {}
                        Some(v) => {
                            check_value(keys, key, *v)?;
                            if current.get(key) != Some(v) {
                                changes.push((key.clone(), Some(*v)));
                            }
                        }
                    }
                }
                if req.validate_only || changes.is_empty() {
                    return Ok(());
                }
                broker.alter_client_quotas(&stored, &changes).map_err(|e| {
                    let code = error::code(&e, "AlterClientQuotas");
                    let error = ResponseError::try_from_code(code)
                        .unwrap_or(ResponseError::UnknownServerError);
                    (error, e.to_string())
                })?;
                changed = true;
                Ok(())
            });
        results.push((entity, outcome));
    }
    let entries = results
        .into_iter()
        .map(|(entity, outcome)| {
            // Kafka sets the message of a success to null (the codec's default is "").
            let r = EntryData::default().with_error_message(None).with_entity(
                entity
                    .into_iter()
                    .map(|(t, n)| {
                        EntityData::default()
                            .with_entity_type(str_bytes(t))
                            .with_entity_name(n.map(str_bytes))
                    })
                    .collect(),
            );
            match outcome {
                Ok(()) => r,
                Err((error, message)) => r
                    .with_error_code(error.code())
                    .with_error_message(Some(str_bytes(message))),
            }
        })
        .collect();
    let response = AlterClientQuotasResponse::default().with_entries(entries);
    if !changed {
        return Outcome::now(response);
    }
    api::after_flush(broker, response, |r: &mut AlterClientQuotasResponse| {
        for e in r.entries.iter_mut().filter(|e| e.error_code == 0) {
            e.error_code = error::STORAGE_ERROR;
        }
    })
}

/// Kafka's `ClientQuotaEntity.toString`, near enough for a message.
fn describe(entity: &Entity) -> String {
    let parts: Vec<String> = entity
        .iter()
        .map(|(t, n)| format!("{t}={}", n.as_deref().unwrap_or("null")))
        .collect();
    format!("ClientQuotaEntity(entries={{{}}})", parts.join(", "))
}

/// The entity's types, names and combination, as Kafka's `validateEntity` and
/// `configKeysForEntityType` check them; the keys the entity takes.
fn validate(entity: &Entity) -> Result<&'static [(&'static str, QuotaType)], Refusal> {
    let invalid = |m: String| Err((ResponseError::InvalidRequest, m));
    if entity.is_empty() {
        return invalid("Invalid empty client quota entity".to_string());
    }
    for (entity_type, name) in entity {
        if ![USER, CLIENT_ID, IP].contains(&entity_type.as_str()) {
            return invalid(format!("Unhandled client quota entity type: {entity_type}"));
        }
        if name.as_deref() == Some("") {
            return invalid(format!("Empty {entity_type} not supported"));
        }
    }
    match entity.get(IP) {
        Some(_) if entity.len() > 1 => invalid(
            // Kafka's message, missing space included.
            "Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId"
                .to_string(),
        ),
        Some(Some(ip)) if ip.parse::<IpAddr>().is_err() => {
            invalid(format!("{ip} is not a valid IP or resolvable host."))
        }
        Some(_) => Ok(IP_KEYS),
        None => Ok(USER_AND_CLIENT_KEYS),
    }
}

/// A value for `key`, as Kafka's `validateQuotaKeyValue` checks it.
fn check_value(keys: &[(&str, QuotaType)], key: &str, value: f64) -> Result<(), Refusal> {
    let invalid = |m: String| Err((ResponseError::InvalidRequest, m));
    let Some(&(_, kind)) = keys.iter().find(|(k, _)| *k == key) else {
        return invalid(format!("Invalid configuration key {key}"));
    };
    if !value.is_finite() {
        return invalid(format!("Quota {key} must be a finite number"));
    }
    if value <= 0.0 {
        return invalid(format!("Quota {key} must be greater than 0"));
    }
    let (max, name) = match kind {
        QuotaType::Double => return Ok(()),
        QuotaType::Int => (f64::from(i32::MAX), "an INT"),
        QuotaType::Long => (i64::MAX as f64, "a LONG"),
    };
    if value > max {
        return invalid(format!("Proposed value for {key} is too large for {name}."));
    }
    if (value % 1.0).abs() > 1e-6 {
        return invalid(format!("{key} cannot be a fractional value."));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::broker::tests::test_broker;
    use crate::config::Config;
    use kafka_protocol::messages::alter_client_quotas_request as req;

    pub fn entry(entity: &[(&str, Option<&str>)], ops: &[(&str, Option<f64>)]) -> req::EntryData {
        req::EntryData::default()
            .with_entity(
                entity
                    .iter()
                    .map(|(t, n)| {
                        req::EntityData::default()
                            .with_entity_type(str_bytes(*t))
                            .with_entity_name(n.map(str_bytes))
                    })
                    .collect(),
            )
            .with_ops(
                ops.iter()
                    .map(|(k, v)| {
                        req::OpData::default()
                            .with_key(str_bytes(*k))
                            .with_value(v.unwrap_or(0.0))
                            .with_remove(v.is_none())
                    })
                    .collect(),
            )
    }

    /// Runs the handler to its answer (waiting for the flush if it changed something).
    pub fn alter(
        b: &crate::broker::Broker,
        entries: Vec<req::EntryData>,
        validate_only: bool,
    ) -> AlterClientQuotasResponse {
        let request = AlterClientQuotasRequest::default()
            .with_entries(entries)
            .with_validate_only(validate_only);
        let outcome = handle(&Ctx::test(b, 1), request);
        let body = match outcome {
            Outcome::Now(body) => body,
            Outcome::Later(fut) => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(fut),
            _ => panic!("no response"),
        };
        match body {
            crate::protocol::ResponseBody::Kind(
                kafka_protocol::messages::ResponseKind::AlterClientQuotas(r),
            ) => r,
            _ => panic!("not an AlterClientQuotas response"),
        }
    }

    fn errors(resp: &AlterClientQuotasResponse) -> Vec<(i16, Option<String>)> {
        resp.entries
            .iter()
            .map(|e| {
                (
                    e.error_code,
                    e.error_message.as_ref().map(|m| m.to_string()),
                )
            })
            .collect()
    }

    fn user(name: Option<&str>) -> QuotaEntity {
        vec![(USER.to_string(), name.map(String::from))]
    }

    #[test]
    fn sets_removes_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        {
            let b = test_broker(dir.path(), Config::default());
            let resp = alter(
                &b,
                vec![
                    entry(
                        &[(USER, Some("alice"))],
                        &[("producer_byte_rate", Some(1024.0))],
                    ),
                    entry(&[(USER, None)], &[("request_percentage", Some(12.5))]),
                    entry(
                        &[(IP, Some("10.0.0.1"))],
                        &[("connection_creation_rate", Some(3.0))],
                    ),
                ],
                false,
            );
            assert_eq!(errors(&resp), vec![(0, None); 3]);
            let resp = alter(
                &b,
                vec![entry(&[(USER, None)], &[("request_percentage", None)])],
                false,
            );
            assert_eq!(errors(&resp), vec![(0, None)]);
            assert!(b.client_quota(&user(None)).is_empty());
            b.close_store().unwrap();
        }
        let b = test_broker(dir.path(), Config::default());
        let all = b.client_quotas();
        assert_eq!(all.len(), 2);
        assert_eq!(
            b.client_quota(&user(Some("alice")))["producer_byte_rate"],
            1024.0
        );
    }

    #[test]
    fn validate_only_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        let resp = alter(
            &b,
            vec![entry(
                &[(USER, Some("a"))],
                &[("consumer_byte_rate", Some(5.0))],
            )],
            true,
        );
        assert_eq!(errors(&resp), vec![(0, None)]);
        assert!(b.client_quotas().is_empty());
    }

    #[test]
    fn refuses_as_kafka_does() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        let cases: Vec<(req::EntryData, &str)> = vec![
            (entry(&[], &[("producer_byte_rate", Some(1.0))]), "Invalid empty client quota entity"),
            (entry(&[("group", Some("g"))], &[]), "Unhandled client quota entity type: group"),
            (entry(&[(USER, Some(""))], &[]), "Empty user not supported"),
            (
                entry(&[(IP, Some("1.2.3.4")), (USER, Some("u"))], &[]),
                "Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId",
            ),
            (entry(&[(IP, Some("not an ip"))], &[]), "not an ip is not a valid IP or resolvable host."),
            (entry(&[(USER, Some("u1"))], &[("bogus", Some(1.0))]), "Invalid configuration key bogus"),
            (
                entry(&[(CLIENT_ID, Some("c"))], &[("producer_byte_rate", Some(0.0))]),
                "Quota producer_byte_rate must be greater than 0",
            ),
            (
                entry(&[(CLIENT_ID, Some("c2"))], &[("producer_byte_rate", Some(1.5))]),
                "producer_byte_rate cannot be a fractional value.",
            ),
            (
                entry(&[(IP, None)], &[("connection_creation_rate", Some(3e9))]),
                "Proposed value for connection_creation_rate is too large for an INT.",
            ),
            (
                entry(&[(IP, Some("::1"))], &[("producer_byte_rate", Some(1.0))]),
                "Invalid configuration key producer_byte_rate",
            ),
            (
                entry(&[(USER, Some("u2"))], &[("request_percentage", Some(f64::NAN))]),
                "Quota request_percentage must be a finite number",
            ),
            (
                entry(&[(USER, Some("u3"))], &[("request_percentage", Some(f64::NEG_INFINITY))]),
                "Quota request_percentage must be a finite number",
            ),
        ];
        for (e, message) in cases {
            let resp = alter(&b, vec![e], false);
            assert_eq!(
                errors(&resp),
                vec![(
                    ResponseError::InvalidRequest.code(),
                    Some(message.to_string())
                )]
            );
        }
        let dup = alter(
            &b,
            vec![entry(
                &[(USER, Some("d"))],
                &[
                    ("producer_byte_rate", Some(1.0)),
                    ("producer_byte_rate", Some(2.0)),
                ],
            )],
            false,
        );
        assert_eq!(
            dup.entries[0].error_code,
            ResponseError::InvalidRequest.code()
        );
        assert!(b.client_quotas().is_empty());
    }
}
