//! WriteTxnMarkers: a transaction marker written on request. In Kafka the transaction coordinator
//! sends it to partition leaders; clients send it only through the admin API's abortTransaction
//! (`kafka-transactions.sh abort`), to end a hanging transaction whose coordinator state is gone.
//! Needs ALTER or CLUSTER_ACTION on the cluster (else every partition gets
//! CLUSTER_AUTHORIZATION_FAILED).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{WriteTxnMarkersRequest, WriteTxnMarkersResponse};

use crate::api::{self, authz, error, Ctx, Outcome};
use crate::security::acl::AclOperation;

use crate::log::partition::AppendError;

pub fn handle(ctx: &Ctx, req: WriteTxnMarkersRequest) -> Outcome {
    let broker = ctx.broker;
    // As Kafka: ALTER on the cluster (the admin client's abort), else CLUSTER_ACTION (brokers).
    let allowed = if ctx.authorize_cluster(AclOperation::Alter)
        || ctx.authorize_cluster(AclOperation::ClusterAction)
    {
        Ok(())
    } else {
        Err(authz::CLUSTER_DENIED)
    };
    let mut written = Vec::new();
    let mut markers = Vec::with_capacity(req.markers.len());
    for m in req.markers {
        let mut topics = Vec::with_capacity(m.topics.len());
        for t in m.topics {
            let topic = broker.topic(t.name.as_str());
            let partitions = t
                .partition_indexes
                .iter()
                .map(|&p| {
                    let code = match allowed.and_then(|()| api::partition(topic.as_ref(), p)) {
                        Err(code) => code,
                        Ok(log) => match log.write_marker(
                            m.producer_id.0,
                            m.producer_epoch,
                            m.transaction_result,
                            m.coordinator_epoch,
                        ) {
                            Ok(at) => {
                                written.push((log.clone(), at.end));
                                0
                            }
                            Err(AppendError::StaleEpoch { .. }) => {
                                ResponseError::InvalidProducerEpoch.code()
                            }
                            Err(e) => error::code(&e, "a transaction marker"),
                        },
                    };
                    WritableTxnMarkerPartitionResult::default()
                        .with_partition_index(p)
                        .with_error_code(code)
                })
                .collect();
            topics.push(
                WritableTxnMarkerTopicResult::default()
                    .with_name(t.name)
                    .with_partitions(partitions),
            );
        }
        markers.push(
            WritableTxnMarkerResult::default()
                .with_producer_id(m.producer_id)
                .with_topics(topics),
        );
    }
    let response = WriteTxnMarkersResponse::default().with_markers(markers);
    if written.is_empty() {
        return Outcome::now(response);
    }
    let durable = broker.durable();
    Outcome::later(async move {
        let mut response = response;
        match durable.await {
            Ok(()) => {
                for (log, end) in written {
                    log.publish(end);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "flushing transaction markers failed");
                for p in response
                    .markers
                    .iter_mut()
                    .flat_map(|m| m.topics.iter_mut())
                    .flat_map(|t| t.partitions.iter_mut())
                {
                    if p.error_code == 0 {
                        p.error_code = error::STORAGE_ERROR;
                    }
                }
            }
        }
        response
    })
}
