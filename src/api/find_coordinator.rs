//! FindCoordinator: this broker coordinates every group (key type 0) and every transactional id
//! (key type 1), in the single-key form (v0-3) and the batched form (v4+).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};

use crate::api::{str_bytes as s, Ctx};

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
    if version >= 4 {
        let coordinators = req
            .coordinator_keys
            .into_iter()
            .map(|key| {
                let c = Coordinator::default().with_key(key);
                match key_error {
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
    if let Some((code, message)) = key_error {
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
}
