//! AddOffsetsToTxn: the producer's transaction will commit offsets for a consumer group (then
//! sent with TxnOffsetCommit), so they take effect only if the transaction commits.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};

use crate::api::authz;
use crate::api::{self, error, Ctx, Outcome};
use crate::security::acl::{AclOperation, ResourceType};

pub fn handle(ctx: &Ctx, req: AddOffsetsToTxnRequest) -> Outcome {
    let (broker, version) = (ctx.broker, ctx.version);
    let answer = |code: i16| {
        let code = if code == ResponseError::ProducerFenced.code() && version < 2 {
            ResponseError::InvalidProducerEpoch.code()
        } else {
            code
        };
        AddOffsetsToTxnResponse::default().with_error_code(code)
    };
    let id = req.transactional_id.as_str();
    if !ctx.authorize(AclOperation::Write, ResourceType::TransactionalId, id) {
        return Outcome::now(answer(authz::TRANSACTIONAL_ID_DENIED));
    }
    if !ctx.authorize(AclOperation::Read, ResourceType::Group, &req.group_id) {
        return Outcome::now(answer(authz::GROUP_DENIED));
    }
    if id.is_empty() {
        return Outcome::now(answer(ResponseError::InvalidRequest.code()));
    }
    if req.group_id.is_empty() {
        return Outcome::now(answer(ResponseError::InvalidGroupId.code()));
    }
    match broker.transactions().add_offsets(
        id,
        req.producer_id.0,
        req.producer_epoch,
        req.group_id.as_str(),
        false,
    ) {
        Err(code) => Outcome::now(answer(code)),
        Ok(false) => Outcome::now(answer(0)),
        Ok(true) => api::after_flush(broker, answer(0), |r: &mut AddOffsetsToTxnResponse| {
            r.error_code = error::STORAGE_ERROR
        }),
    }
}
