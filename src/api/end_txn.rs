//! EndTxn: commit or abort the producer's open transaction. The decision is stored first, then a
//! marker goes to every partition of the transaction and its group offsets are applied or dropped;
//! the answer comes once all of it is durable, so a client that was told "committed" finds its
//! records readable (Kafka answers after the decision and writes markers after; its client then
//! waits on CONCURRENT_TRANSACTIONS for the next transaction instead).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse, ProducerId};

use crate::api::authz;
use crate::api::{Ctx, Outcome};
use crate::coordinator::txn::{markers, End};
use crate::security::acl::{AclOperation, ResourceType};

pub fn handle(ctx: &Ctx, req: EndTxnRequest) -> Outcome {
    let (broker, version) = (ctx.broker, ctx.version);
    // v5+ answer with the producer id and epoch to go on with (bumped: KIP-890).
    let answer = move |r: Result<(i64, i16), i16>| match r {
        Ok((pid, epoch)) if version >= 5 => EndTxnResponse::default()
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch),
        Ok(_) => EndTxnResponse::default(),
        Err(code) => {
            // Clients before v2 know PRODUCER_FENCED as INVALID_PRODUCER_EPOCH (as Kafka maps it).
            let code = if code == ResponseError::ProducerFenced.code() && version < 2 {
                ResponseError::InvalidProducerEpoch.code()
            } else {
                code
            };
            let r = EndTxnResponse::default().with_error_code(code);
            if version >= 5 {
                r.with_producer_id(ProducerId(-1)).with_producer_epoch(-1)
            } else {
                r
            }
        }
    };
    let id = req.transactional_id.to_string();
    if !ctx.authorize(AclOperation::Write, ResourceType::TransactionalId, &id) {
        return Outcome::now(answer(Err(authz::TRANSACTIONAL_ID_DENIED)));
    }
    if id.is_empty() {
        return Outcome::now(answer(Err(ResponseError::InvalidRequest.code())));
    }
    let ended = broker.transactions().end(
        &id,
        req.producer_id.0,
        req.producer_epoch,
        req.committed,
        version >= 5,
        || broker.next_producer_id(),
    );
    match ended {
        Err(code) => Outcome::now(answer(Err(code))),
        Ok(End::Done { producer_id, epoch }) => Outcome::now(answer(Ok((producer_id, epoch)))),
        Ok(End::Markers(plan)) => {
            let broker = broker.clone();
            Outcome::later(async move {
                if !markers::carry_out(&broker, &plan, false).await {
                    // The decision is durable and the end is retried in the background; the
                    // client retries this on its own and gets CONCURRENT_TRANSACTIONS until then.
                    return answer(Err(ResponseError::ConcurrentTransactions.code()));
                }
                match broker.transactions().producer_of(&plan.transactional_id) {
                    Some(current) => answer(Ok(current)),
                    None => answer(Err(ResponseError::InvalidProducerIdMapping.code())),
                }
            })
        }
    }
}
