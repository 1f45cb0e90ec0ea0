//! DescribeTransactions: a transactional id's producer, state, timeout and partitions, what
//! `kafka-transactions.sh describe` shows.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId,
};

use crate::api::{authz, str_bytes as s, Ctx};
use crate::security::acl::{AclOperation, ResourceType};

pub fn handle(ctx: &Ctx, req: DescribeTransactionsRequest) -> DescribeTransactionsResponse {
    let txns = ctx.broker.transactions();
    let states = req
        .transactional_ids
        .into_iter()
        .map(|id| {
            let state = TransactionState::default().with_transactional_id(id.clone());
            if !ctx.authorize(AclOperation::Describe, ResourceType::TransactionalId, &id) {
                return state.with_error_code(authz::TRANSACTIONAL_ID_DENIED);
            }
            if id.is_empty() {
                return state.with_error_code(ResponseError::InvalidRequest.code());
            }
            let Some(d) = txns.describe(id.as_str()) else {
                return state.with_error_code(ResponseError::TransactionalIdNotFound.code());
            };
            let mut topics: Vec<TopicData> = Vec::new();
            // Only the partitions of topics the client may describe, as Kafka.
            for (topic, partition) in &d.partitions {
                if !ctx.authorize(AclOperation::Describe, ResourceType::Topic, topic) {
                    continue;
                }
                match topics.iter_mut().find(|t| t.topic.as_str() == topic) {
                    Some(t) => t.partitions.push(*partition),
                    None => topics.push(
                        TopicData::default()
                            .with_topic(s(topic.clone()).into())
                            .with_partitions(vec![*partition]),
                    ),
                }
            }
            state
                .with_transaction_state(s(d.state.name()))
                .with_transaction_timeout_ms(d.timeout_ms)
                .with_transaction_start_time_ms(d.start_ms)
                .with_producer_id(ProducerId(d.producer_id))
                .with_producer_epoch(d.producer_epoch)
                .with_topics(topics)
        })
        .collect();
    DescribeTransactionsResponse::default().with_transaction_states(states)
}
