//! InitProducerId: a fresh producer id with epoch 0 for an idempotent producer (no transactional
//! id), as Kafka hands out; with a transactional id, the transaction coordinator's producer id and
//! a bumped epoch, which fences every older producer of that id (an open transaction of theirs is
//! aborted first).
//!
//! Authorization as Kafka 4: a transactional producer needs WRITE on its transactional id; an
//! idempotent one IDEMPOTENT_WRITE on the cluster or WRITE on some topic.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use crate::api::{authz, Ctx, Outcome};
use crate::coordinator::txn::{markers, Init};
use crate::security::acl::{AclOperation, ResourceType};

fn failed(code: i16) -> InitProducerIdResponse {
    InitProducerIdResponse::default()
        .with_error_code(code)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1)
}

pub fn handle(ctx: &Ctx, req: InitProducerIdRequest) -> Outcome {
    let (broker, version) = (ctx.broker, ctx.version);
    match req.transactional_id.as_deref() {
        Some(id) if !ctx.authorize(AclOperation::Write, ResourceType::TransactionalId, id) => {
            return Outcome::now(failed(authz::TRANSACTIONAL_ID_DENIED));
        }
        None if !ctx.authorize_cluster(AclOperation::IdempotentWrite)
            && !ctx.authorize_any(AclOperation::Write, ResourceType::Topic) =>
        {
            return Outcome::now(failed(authz::CLUSTER_DENIED));
        }
        _ => {}
    }
    // v3+ may name the current producer id and epoch (KIP-360); naming only one of them is
    // malformed, as is an empty transactional id.
    if (req.producer_id.0 == -1) != (req.producer_epoch == -1) {
        return Outcome::now(failed(ResponseError::InvalidRequest.code()));
    }
    let Some(id) = req.transactional_id.as_ref().map(|t| t.to_string()) else {
        return Outcome::now(match broker.next_producer_id() {
            Ok(id) => {
                tracing::debug!(producer_id = id, "new idempotent producer");
                InitProducerIdResponse::default()
                    .with_producer_id(ProducerId(id))
                    .with_producer_epoch(0)
            }
            Err(e) => {
                tracing::error!(error = %e, "allocating a producer id failed");
                failed(ResponseError::KafkaStorageError.code())
            }
        });
    };
    if id.is_empty() {
        return Outcome::now(failed(ResponseError::InvalidRequest.code()));
    }
    let expected = (req.producer_id.0 != -1).then_some((req.producer_id.0, req.producer_epoch));
    let timeout = req.transaction_timeout_ms;
    let broker = broker.clone();
    // Clients before v4 know PRODUCER_FENCED as INVALID_PRODUCER_EPOCH (as Kafka maps it).
    let answer = move |r: Result<(i64, i16), i16>| match r {
        Ok((pid, epoch)) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch),
        Err(code) if code == ResponseError::ProducerFenced.code() && version < 4 => {
            failed(ResponseError::InvalidProducerEpoch.code())
        }
        Err(code) => failed(code),
    };
    Outcome::later(async move {
        // At most two rounds: an open transaction is aborted (fencing its producer), then the
        // epoch is bumped again for the new producer, as Kafka's client retry does.
        for _ in 0..2 {
            let txns = broker.transactions();
            match txns.init_producer_id(&id, timeout, expected, || broker.next_producer_id()) {
                Ok(Init::Ready { producer_id, epoch }) => {
                    if let Err(e) = broker.durable().await {
                        tracing::error!(error = %e, "storing a transactional producer failed");
                        return answer(Err(ResponseError::KafkaStorageError.code()));
                    }
                    tracing::debug!(transactional_id = %id, producer_id, epoch, "transactional producer initialized");
                    return answer(Ok((producer_id, epoch)));
                }
                Ok(Init::AbortFirst(plan)) => {
                    if !markers::carry_out(&broker, &plan, false).await {
                        return answer(Err(ResponseError::ConcurrentTransactions.code()));
                    }
                }
                Err(code) => return answer(Err(code)),
            }
        }
        answer(Err(ResponseError::ConcurrentTransactions.code()))
    })
}
