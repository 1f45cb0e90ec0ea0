//! DescribeClientQuotas (KIP-546): the stored client quotas matching a filter, as Kafka's
//! `ClientQuotasImage.describe` selects them: each component matches one entity type exactly
//! (match type 0, a name), its default entity (1), or any entity that has the type (2); `strict`
//! also requires the entity to have no other types. A malformed filter fails the whole request
//! with Kafka's error and message, and no entries (null).
//!
//! Needs DESCRIBE_CONFIGS on the cluster.

use std::collections::HashSet;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_client_quotas_response::{EntityData, EntryData, ValueData};
use kafka_protocol::messages::{DescribeClientQuotasRequest, DescribeClientQuotasResponse};

use crate::api::alter_client_quotas::{CLIENT_ID, IP, USER};
use crate::api::{authz, str_bytes, Ctx};
use crate::security::acl::AclOperation;

use crate::store::QuotaEntity;

const MATCH_EXACT: i8 = 0;
const MATCH_DEFAULT: i8 = 1;
const MATCH_SPECIFIED: i8 = 2;

/// A filter: types whose name must equal (`Some`) or be the default (`None`), and types that must
/// be present.
struct Filter {
    exact: Vec<(String, Option<String>)>,
    present: HashSet<String>,
    strict: bool,
}

pub fn handle(ctx: &Ctx, req: DescribeClientQuotasRequest) -> DescribeClientQuotasResponse {
    if !ctx.authorize_cluster(AclOperation::DescribeConfigs) {
        return DescribeClientQuotasResponse::default()
            .with_error_code(authz::CLUSTER_DENIED)
            .with_error_message(Some(str_bytes("Cluster authorization failed.".to_string())))
            .with_entries(None);
    }
    let filter = match parse(&req) {
        Ok(f) => f,
        Err((error, message)) => {
            return DescribeClientQuotasResponse::default()
                .with_error_code(error.code())
                .with_error_message(Some(str_bytes(message)))
                .with_entries(None)
        }
    };
    let entries = ctx
        .broker
        .client_quotas()
        .into_iter()
        .filter(|(entity, _)| filter.matches(entity))
        .map(|(entity, values)| {
            EntryData::default()
                .with_entity(
                    entity
                        .into_iter()
                        .map(|(t, n)| {
                            EntityData::default()
                                .with_entity_type(str_bytes(t))
                                .with_entity_name(n.map(str_bytes))
                        })
                        .collect(),
                )
                .with_values(
                    values
                        .into_iter()
                        .map(|(k, v)| ValueData::default().with_key(str_bytes(k)).with_value(v))
                        .collect(),
                )
        })
        .collect();
    DescribeClientQuotasResponse::default().with_entries(Some(entries))
}

fn parse(req: &DescribeClientQuotasRequest) -> Result<Filter, (ResponseError, String)> {
    let invalid = |m: String| Err((ResponseError::InvalidRequest, m));
    let mut filter = Filter {
        exact: Vec::new(),
        present: HashSet::new(),
        strict: req.strict,
    };
    for c in &req.components {
        let t = c.entity_type.as_str();
        if t.is_empty() {
            return invalid("Invalid empty entity type.".to_string());
        }
        if filter.present.contains(t) || filter.exact.iter().any(|(e, _)| e == t) {
            return invalid(format!(
                "Entity type {t} cannot appear more than once in the filter."
            ));
        }
        if ![IP, USER, CLIENT_ID].contains(&t) {
            return Err((
                ResponseError::UnsupportedVersion,
                format!("Unsupported entity type {t}"),
            ));
        }
        let name = c._match.as_ref().map(|m| m.to_string());
        match (c.match_type, name) {
            (MATCH_EXACT, None) => {
                return invalid(
                    "Request specified MATCH_TYPE_EXACT, but set match string to null.".to_string(),
                )
            }
            (MATCH_EXACT, Some(name)) => filter.exact.push((t.to_string(), Some(name))),
            (MATCH_DEFAULT, Some(_)) => {
                return invalid(
                    "Request specified MATCH_TYPE_DEFAULT, but also specified a match string."
                        .to_string(),
                )
            }
            (MATCH_DEFAULT, None) => filter.exact.push((t.to_string(), None)),
            (MATCH_SPECIFIED, Some(_)) => {
                return invalid(
                    "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string."
                        .to_string(),
                )
            }
            (MATCH_SPECIFIED, None) => {
                filter.present.insert(t.to_string());
            }
            (other, _) => return invalid(format!("Unknown match type {other}")),
        }
    }
    let has = |t: &str| filter.present.contains(t) || filter.exact.iter().any(|(e, _)| e == t);
    if has(IP) && (has(USER) || has(CLIENT_ID)) {
        return invalid(
            "Invalid entity filter component combination. IP filter component should not be used \
             with user or clientId filter component."
                .to_string(),
        );
    }
    Ok(filter)
}

impl Filter {
    fn matches(&self, entity: &QuotaEntity) -> bool {
        if self.strict && entity.len() != self.exact.len() + self.present.len() {
            return false;
        }
        let name_of = |t: &str| entity.iter().find(|(e, _)| e == t).map(|(_, n)| n);
        self.exact
            .iter()
            .all(|(t, want)| name_of(t).is_some_and(|n| n == want))
            && self.present.iter().all(|t| name_of(t).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::alter_client_quotas::tests::{alter, entry};
    use crate::broker::tests::test_broker;
    use crate::config::Config;
    use kafka_protocol::messages::describe_client_quotas_request::ComponentData;

    fn component(t: &str, match_type: i8, name: Option<&str>) -> ComponentData {
        ComponentData::default()
            .with_entity_type(str_bytes(t))
            .with_match_type(match_type)
            .with_match(name.map(str_bytes))
    }

    fn describe(
        b: &crate::broker::Broker,
        components: Vec<ComponentData>,
        strict: bool,
    ) -> Vec<String> {
        let resp = handle(
            &Ctx::test(b, 1),
            DescribeClientQuotasRequest::default()
                .with_components(components)
                .with_strict(strict),
        );
        assert_eq!(resp.error_code, 0, "{:?}", resp.error_message);
        resp.entries
            .unwrap()
            .iter()
            .map(|e| {
                e.entity
                    .iter()
                    .map(|d| {
                        format!(
                            "{}={}",
                            d.entity_type.as_str(),
                            d.entity_name.as_deref().unwrap_or("<default>")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect()
    }

    #[test]
    fn filters_exact_default_any_and_strict() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        let rate = [("producer_byte_rate", Some(100.0))];
        alter(
            &b,
            vec![
                entry(&[(USER, Some("alice"))], &rate),
                entry(&[(USER, None)], &rate),
                entry(&[(USER, Some("alice")), (CLIENT_ID, Some("app"))], &rate),
                entry(
                    &[(IP, Some("10.1.1.1"))],
                    &[("connection_creation_rate", Some(5.0))],
                ),
            ],
            false,
        );
        assert_eq!(describe(&b, vec![], false).len(), 4);
        assert_eq!(
            describe(&b, vec![component(USER, MATCH_EXACT, Some("alice"))], false),
            vec!["client-id=app,user=alice", "user=alice"]
        );
        assert_eq!(
            describe(&b, vec![component(USER, MATCH_EXACT, Some("alice"))], true),
            vec!["user=alice"]
        );
        assert_eq!(
            describe(&b, vec![component(USER, MATCH_DEFAULT, None)], false),
            vec!["user=<default>"]
        );
        assert_eq!(
            describe(&b, vec![component(USER, MATCH_SPECIFIED, None)], false).len(),
            3
        );
        assert_eq!(
            describe(&b, vec![component(IP, MATCH_SPECIFIED, None)], true),
            vec!["ip=10.1.1.1"]
        );
    }

    #[test]
    fn a_malformed_filter_fails_the_request() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        let cases = [
            (
                vec![component(USER, MATCH_EXACT, None)],
                ResponseError::InvalidRequest,
            ),
            (
                vec![component(USER, MATCH_DEFAULT, Some("x"))],
                ResponseError::InvalidRequest,
            ),
            (
                vec![component(USER, 9, None)],
                ResponseError::InvalidRequest,
            ),
            (
                vec![component("group", MATCH_SPECIFIED, None)],
                ResponseError::UnsupportedVersion,
            ),
            (
                vec![
                    component(USER, MATCH_SPECIFIED, None),
                    component(USER, MATCH_DEFAULT, None),
                ],
                ResponseError::InvalidRequest,
            ),
            (
                vec![
                    component(IP, MATCH_SPECIFIED, None),
                    component(USER, MATCH_DEFAULT, None),
                ],
                ResponseError::InvalidRequest,
            ),
        ];
        for (components, error) in cases {
            let resp = handle(
                &Ctx::test(&b, 0),
                DescribeClientQuotasRequest::default().with_components(components),
            );
            assert_eq!(resp.error_code, error.code());
            assert!(resp.entries.is_none());
        }
    }
}
