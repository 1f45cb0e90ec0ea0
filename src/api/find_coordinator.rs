//! FindCoordinator: this broker coordinates every group (key type 0) and every transactional id
//! (key type 1), in the single-key form (v0-3) and the batched form (v4+).
//!
//! A client learns a group's coordinator only with DESCRIBE on the group, a transactional id's only
//! with DESCRIBE on the id (else GROUP_ / TRANSACTIONAL_ID_AUTHORIZATION_FAILED), as in Kafka.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};

use crate::api::{authz, str_bytes as s, Ctx};
use crate::security::acl::{AclOperation, ResourceType};

pub fn handle(ctx: &Ctx, req: FindCoordinatorRequest) -> FindCoordinatorResponse {
    let (broker, version) = (ctx.broker, ctx.version);
    let node = ctx.session.listener.node(broker.node().node_id);
    // This broker coordinates every group (key type 0) and every transactional id (key type 1).
    let key_error = match req.key_type {
        0 => {
            // Kafka lists its offsets topic once a group coordinator exists; clients wait for it.
            if let Err(e) = broker.offsets_topic() {
                tracing::warn!(error = %e, "could not create the __consumer_offsets topic");
            }
            None
        }
        1 => None,
        _ => Some((
            ResponseError::InvalidRequest.code(),
            "unsupported coordinator key type",
        )),
    };
    let key_error = |key: &str| key_error.or_else(|| denied(ctx, req.key_type, key));
    if version >= 4 {
        let coordinators = req
            .coordinator_keys
            .into_iter()
            .map(|key| {
                let error = key_error(&key);
                let c = Coordinator::default().with_key(key);
                match error {
                    None => c
                        .with_node_id(BrokerId(node.node_id))
                        .with_host(s(node.host.clone()))
                        .with_port(node.port),
                    Some((code, message)) => c
                        .with_node_id(BrokerId(-1))
                        .with_error_code(code)
                        .with_error_message(Some(s(message))),
                }
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    if let Some((code, message)) = key_error(&req.key) {
        let r = FindCoordinatorResponse::default()
            .with_error_code(code)
            .with_node_id(BrokerId(-1));
        return if version >= 1 {
            r.with_error_message(Some(s(message)))
        } else {
            r
        };
    }
    // v1-3 name the error even on success ("NONE"), as Kafka does; v4+ leave it unset ("").
    FindCoordinatorResponse::default()
        .with_error_message((version >= 1).then(|| s("NONE")))
        .with_node_id(BrokerId(node.node_id))
        .with_host(s(node.host.clone()))
        .with_port(node.port)
}

/// The refusal for a key the client may not describe, with Kafka's message for it.
fn denied(ctx: &Ctx, key_type: i8, key: &str) -> Option<(i16, &'static str)> {
    let (resource_type, message) = match key_type {
        0 => (ResourceType::Group, "Group authorization failed."),
        _ => (
            ResourceType::TransactionalId,
            "Transactional Id authorization failed.",
        ),
    };
    (!ctx.authorize(AclOperation::Describe, resource_type, key))
        .then(|| (authz::denied(resource_type), message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::tests::test_broker;
    use crate::config::Config;

    /// Transactional ids are coordinated here too, in both forms.
    #[test]
    fn transaction_coordinators_are_this_broker() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        let r = handle(
            &Ctx::test(&b, 4),
            FindCoordinatorRequest::default()
                .with_key_type(1)
                .with_coordinator_keys(vec![s("txn".to_string())]),
        );
        let c = &r.coordinators[0];
        assert_eq!(c.error_code, 0);
        assert_eq!(c.node_id.0, b.node().node_id);
        let r = handle(
            &Ctx::test(&b, 3),
            FindCoordinatorRequest::default()
                .with_key_type(1)
                .with_key(s("txn".to_string())),
        );
        assert_eq!(r.error_code, 0);
        assert_eq!(r.port, b.node().port);
    }

    #[test]
    fn keys_need_describe() {
        use crate::api::authz::tests::{allow, secured_broker};
        let dir = tempfile::tempdir().unwrap();
        let b = secured_broker(dir.path());
        allow(&b, ResourceType::Group, "mine", AclOperation::Read);
        let ask = |key_type, keys: &[&str]| {
            handle(
                &Ctx::test(&b, 4),
                FindCoordinatorRequest::default()
                    .with_key_type(key_type)
                    .with_coordinator_keys(keys.iter().map(|k| s(k.to_string())).collect()),
            )
            .coordinators
            .iter()
            .map(|c| c.error_code)
            .collect::<Vec<_>>()
        };
        assert_eq!(ask(0, &["mine", "theirs"]), vec![0, authz::GROUP_DENIED]);
        assert_eq!(ask(1, &["mine"]), vec![authz::TRANSACTIONAL_ID_DENIED]);
        let r = handle(
            &Ctx::test(&b, 3),
            FindCoordinatorRequest::default().with_key(s("theirs".to_string())),
        );
        assert_eq!(r.error_code, authz::GROUP_DENIED);
        assert_eq!(r.node_id.0, -1);
    }
}
