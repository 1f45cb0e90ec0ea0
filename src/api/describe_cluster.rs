//! DescribeCluster: this one broker, the cluster id and, when asked, the cluster operations.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

use crate::api::{str_bytes as s, Ctx, NO_OPERATIONS};
use crate::security::acl::AclOperation;

pub fn handle(ctx: &Ctx, req: DescribeClusterRequest) -> DescribeClusterResponse {
    let (broker, version) = (ctx.broker, ctx.version);
    let node = ctx.session.listener.node(broker.node().node_id);
    let me = BrokerId(node.node_id);
    let resp = DescribeClusterResponse::default()
        .with_cluster_id(s(broker.cluster_id()))
        .with_controller_id(me)
        .with_cluster_authorized_operations(if req.include_cluster_authorized_operations {
            // Kafka answers 0 to a client that may not describe the cluster.
            if ctx.authorize_cluster(AclOperation::Describe) {
                ctx.cluster_operations()
            } else {
                0
            }
        } else {
            NO_OPERATIONS
        })
        .with_brokers(vec![DescribeClusterBroker::default()
            .with_broker_id(me)
            .with_host(s(node.host.clone()))
            .with_port(node.port)]);
    // v1 may ask for controllers (2) instead of brokers (1): we are both, at the same address.
    if version >= 1 {
        if !matches!(req.endpoint_type, 1 | 2) {
            // As Kafka: a message, and the response's endpoint type left at its default (1).
            return DescribeClusterResponse::default()
                .with_error_code(ResponseError::UnsupportedEndpointType.code())
                .with_error_message(Some(s(format!(
                    "Unsupported endpoint type {}",
                    req.endpoint_type
                ))));
        }
        return resp.with_endpoint_type(req.endpoint_type);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As Kafka (compat-tests/differential.rs, D18): an unsupported endpoint type gets a message
    /// and the response's default endpoint type, not the one asked for.
    #[test]
    fn unsupported_endpoint_type() {
        let dir = tempfile::tempdir().unwrap();
        let b = crate::broker::tests::test_broker(dir.path(), crate::config::Config::default());
        let r = handle(
            &Ctx::test(&b, 1),
            DescribeClusterRequest::default().with_endpoint_type(5),
        );
        assert_eq!(r.error_code, ResponseError::UnsupportedEndpointType.code());
        assert_eq!(r.endpoint_type, 1);
        assert_eq!(
            r.error_message.as_deref(),
            Some("Unsupported endpoint type 5")
        );
        let r = handle(
            &Ctx::test(&b, 1),
            DescribeClusterRequest::default().with_endpoint_type(2),
        );
        assert_eq!((r.error_code, r.endpoint_type), (0, 2));
    }
}
