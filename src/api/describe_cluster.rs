//! DescribeCluster: this one broker, the cluster id and, when asked, the cluster operations.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

use crate::api::{str_bytes as s, Ctx, CLUSTER_OPERATIONS, NO_OPERATIONS};

pub fn handle(ctx: &Ctx, req: DescribeClusterRequest) -> DescribeClusterResponse {
    let (broker, version) = (ctx.broker, ctx.version);
    let node = broker.node();
    let me = BrokerId(node.node_id);
    let resp = DescribeClusterResponse::default()
        .with_cluster_id(s(broker.cluster_id()))
        .with_controller_id(me)
        .with_cluster_authorized_operations(if req.include_cluster_authorized_operations {
            CLUSTER_OPERATIONS
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
            return DescribeClusterResponse::default()
                .with_error_code(ResponseError::UnsupportedEndpointType.code())
                .with_endpoint_type(req.endpoint_type);
        }
        return resp.with_endpoint_type(req.endpoint_type);
    }
    resp
}
