//! EndTxn: commit or abort the producer's open transaction. The decision is stored first, then a
//! marker goes to every partition of the transaction and its group offsets are applied or dropped;
//! the answer comes once all of it is durable, so a client that was told "committed" finds its
//! records readable (Kafka answers after the decision and writes markers after; its client then
//! waits on CONCURRENT_TRANSACTIONS for the next transaction instead).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse};

use crate::api::{Ctx, Outcome};
use crate::coordinator::txn::{markers, End};

pub fn handle(ctx: &Ctx, req: EndTxnRequest) -> Outcome {
    let (broker, version) = (ctx.broker, ctx.version);
    let answer = move |code: i16| {
        // Clients before v2 know PRODUCER_FENCED as INVALID_PRODUCER_EPOCH (as Kafka maps it).
        let code = if code == ResponseError::ProducerFenced.code() && version < 2 {
            ResponseError::InvalidProducerEpoch.code()
        } else {
            code
        };
        EndTxnResponse::default().with_error_code(code)
    };
    let id = req.transactional_id.to_string();
    if id.is_empty() {
        return Outcome::now(answer(ResponseError::InvalidRequest.code()));
    }
    match broker
        .transactions()
        .end(&id, req.producer_id.0, req.producer_epoch, req.committed)
    {
        Err(code) => Outcome::now(answer(code)),
        Ok(End::Done) => Outcome::now(answer(0)),
        Ok(End::Markers(plan)) => {
            let broker = broker.clone();
            Outcome::later(async move {
                if markers::carry_out(&broker, &plan, false).await {
                    answer(0)
                } else {
                    // The decision is durable and the end is retried in the background; the
                    // client retries this on its own and gets CONCURRENT_TRANSACTIONS until then.
                    answer(ResponseError::ConcurrentTransactions.code())
                }
            })
        }
    }
}
