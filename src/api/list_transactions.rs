//! ListTransactions: the transactional ids the coordinator knows, filtered by state, producer id,
//! (v1+) how long their transaction has been open and (v2+, KIP-1152) a regular expression the
//! whole id must match: what `kafka-transactions.sh list` and its `find-hanging` use.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{ListTransactionsRequest, ListTransactionsResponse, ProducerId};

use crate::api::{str_bytes as s, Ctx};
use crate::security::acl::{AclOperation, ResourceType};
use crate::store::TxnState;

const STATES: [TxnState; 6] = [
    TxnState::Empty,
    TxnState::Ongoing,
    TxnState::PrepareCommit,
    TxnState::PrepareAbort,
    TxnState::CompleteCommit,
    TxnState::CompleteAbort,
];

pub fn handle(ctx: &Ctx, req: ListTransactionsRequest) -> ListTransactionsResponse {
    let now = crate::now_ms();
    // Kafka matches the whole id against a Java regular expression; Rust's regex syntax is close to
    // it (no look-around or backreferences, which Kafka would accept and this refuses).
    let pattern = match req
        .transactional_id_pattern
        .as_deref()
        .filter(|_| ctx.version >= 2)
    {
        None | Some("") => None,
        Some(p) => match regex::Regex::new(&format!("^(?:{p})$")) {
            Ok(re) => Some(re),
            Err(e) => {
                tracing::debug!(pattern = p, error = %e, "ListTransactions: invalid pattern");
                return ListTransactionsResponse::default()
                    .with_error_code(ResponseError::InvalidRegularExpression.code());
            }
        },
    };
    let known = |f: &str| STATES.iter().any(|st| st.name() == f);
    let unknown: Vec<_> = req
        .state_filters
        .iter()
        .filter(|f| !known(f.as_str()))
        .cloned()
        .collect();
    let states = ctx
        .broker
        .transactions()
        .list()
        .into_iter()
        .filter(|d| {
            req.state_filters.is_empty()
                || req
                    .state_filters
                    .iter()
                    .any(|f| f.as_str() == d.state.name())
        })
        .filter(|d| {
            req.producer_id_filters.is_empty()
                || req.producer_id_filters.iter().any(|p| p.0 == d.producer_id)
        })
        .filter(|d| {
            pattern
                .as_ref()
                .is_none_or(|re| re.is_match(&d.transactional_id))
        })
        .filter(|d| {
            ctx.authorize(
                AclOperation::Describe,
                ResourceType::TransactionalId,
                &d.transactional_id,
            )
        })
        .filter(|d| {
            ctx.version < 1
                || req.duration_filter < 0
                || (d.start_ms >= 0 && now - d.start_ms >= req.duration_filter)
        })
        .map(|d| {
            TransactionState::default()
                .with_transactional_id(s(d.transactional_id).into())
                .with_producer_id(ProducerId(d.producer_id))
                .with_transaction_state(s(d.state.name()))
        })
        .collect();
    ListTransactionsResponse::default()
        .with_unknown_state_filters(unknown)
        .with_transaction_states(states)
}
