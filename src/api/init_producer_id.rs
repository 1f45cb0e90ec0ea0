//! InitProducerId for idempotent producers (the Java producer's default since Kafka 3.0).
//!
//! Every call hands out a fresh producer id with epoch 0, as Kafka does for producers without a
//! transactional id. Transactions are not implemented: a transactional id gets
//! COORDINATOR_NOT_AVAILABLE, what Kafka answers while it has no transaction coordinator.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use crate::api::Ctx;

pub fn handle(ctx: &Ctx, req: InitProducerIdRequest) -> InitProducerIdResponse {
    let broker = ctx.broker;
    let invalid = || {
        InitProducerIdResponse::default()
            .with_error_code(ResponseError::InvalidRequest.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    // v3+ may name the current producer id and epoch (KIP-360); naming only one of them is
    // malformed, as is an empty transactional id.
    if (req.producer_id.0 == -1) != (req.producer_epoch == -1) {
        return invalid();
    }
    if req.transactional_id.as_ref().is_some_and(|t| t.is_empty()) {
        return invalid();
    }
    if req.transactional_id.is_some() {
        return InitProducerIdResponse::default()
            .with_error_code(ResponseError::CoordinatorNotAvailable.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
    }
    match broker.next_producer_id() {
        Ok(id) => {
            tracing::debug!(producer_id = id, "new idempotent producer");
            InitProducerIdResponse::default()
                .with_producer_id(ProducerId(id))
                .with_producer_epoch(0)
        }
        Err(e) => {
            tracing::error!(error = %e, "allocating a producer id failed");
            InitProducerIdResponse::default()
                .with_error_code(ResponseError::KafkaStorageError.code())
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1)
        }
    }
}
