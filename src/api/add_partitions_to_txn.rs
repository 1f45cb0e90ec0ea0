//! AddPartitionsToTxn: partitions join the producer's open transaction before it writes to them.
//! v0-3 carry one transaction (what clients send); v4+ a batch of them, possibly `verify_only`
//! (what Kafka's partition leaders send to ask whether a partition is in a transaction).
//!
//! As in Kafka, a transaction naming any partition that does not exist adds none: those get
//! UNKNOWN_TOPIC_OR_PARTITION and the others OPERATION_NOT_ATTEMPTED.
//!
//! Authorization as Kafka's: a client's request (v0-3) needs WRITE on the transactional id and on
//! each topic (a denied topic gets TOPIC_AUTHORIZATION_FAILED and, as an unknown one, stops the
//! others); the brokers' batched form (v4+) needs CLUSTER_ACTION on the cluster.

use std::future::Future;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse};

use crate::api::{authz, Ctx, Outcome};
use crate::security::acl::{AclOperation, ResourceType};

/// One transaction's partitions with their error codes.
type Results = Vec<((String, i32), i16)>;

fn topic_results(results: Results) -> Vec<AddPartitionsToTxnTopicResult> {
    let mut out: Vec<AddPartitionsToTxnTopicResult> = Vec::new();
    for ((topic, partition), code) in results {
        let p = AddPartitionsToTxnPartitionResult::default()
            .with_partition_index(partition)
            .with_partition_error_code(code);
        match out.iter_mut().find(|t| t.name.as_str() == topic) {
            Some(t) => t.results_by_partition.push(p),
            None => out.push(
                AddPartitionsToTxnTopicResult::default()
                    .with_name(crate::api::str_bytes(topic).into())
                    .with_results_by_partition(vec![p]),
            ),
        }
    }
    out
}

/// Adds (or, `verify_only`, checks) one transaction's partitions. Returns its results and whether
/// a record was written (then the answer waits for a flush).
fn one(
    ctx: &Ctx,
    version: i16,
    id: &str,
    producer_id: i64,
    epoch: i16,
    verify_only: bool,
    topics: &[AddPartitionsToTxnTopic],
) -> (Results, bool) {
    let partitions: Vec<(String, i32)> = topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |p| (t.name.to_string(), *p)))
        .collect();
    let all = |code: i16| -> Results { partitions.iter().map(|p| (p.clone(), code)).collect() };
    let broker = ctx.broker;
    // Only clients' requests (v0-3) are checked per id and topic; v4+ passed CLUSTER_ACTION.
    let client = version < 4;
    if client && !ctx.authorize(AclOperation::Write, ResourceType::TransactionalId, id) {
        return (all(authz::TRANSACTIONAL_ID_DENIED), false);
    }
    if id.is_empty() {
        return (all(ResponseError::InvalidRequest.code()), false);
    }
    let (_, denied) = ctx.split_authorized(
        AclOperation::Write,
        ResourceType::Topic,
        topics.iter().filter(|_| client),
        |t| t.name.as_str(),
    );
    let denied: Vec<&str> = denied.iter().map(|t| t.name.as_str()).collect();
    let refusal = |(t, p): &(String, i32)| {
        if denied.contains(&t.as_str()) {
            Some(authz::TOPIC_DENIED)
        } else if broker.topic(t).is_some_and(|t| t.partition(*p).is_some()) {
            None
        } else {
            Some(ResponseError::UnknownTopicOrPartition.code())
        }
    };
    if partitions.iter().any(|p| refusal(p).is_some()) {
        let results = partitions
            .iter()
            .map(|p| {
                let code = refusal(p).unwrap_or(ResponseError::OperationNotAttempted.code());
                (p.clone(), code)
            })
            .collect();
        return (results, false);
    }
    let txns = broker.transactions();
    if verify_only {
        let results = partitions
            .iter()
            .map(|(t, p)| {
                let code = match txns.verify_partition(id, producer_id, epoch, t, *p) {
                    Ok(()) => 0,
                    Err(c) => c,
                };
                ((t.clone(), *p), code)
            })
            .collect();
        return (results, false);
    }
    match txns.add_partitions(id, producer_id, epoch, &partitions, false) {
        Ok(wrote) => (all(0), wrote),
        Err(code) => {
            // Clients before v2 know PRODUCER_FENCED as INVALID_PRODUCER_EPOCH (as Kafka maps it).
            let code = if code == ResponseError::ProducerFenced.code() && version < 2 {
                ResponseError::InvalidProducerEpoch.code()
            } else {
                code
            };
            (all(code), false)
        }
    }
}

pub fn handle(ctx: &Ctx, req: AddPartitionsToTxnRequest) -> Outcome {
    let (broker, version) = (ctx.broker, ctx.version);
    let mut wrote_any = false;
    if version >= 4 && !ctx.authorize_cluster(AclOperation::ClusterAction) {
        return Outcome::now(
            AddPartitionsToTxnResponse::default().with_error_code(authz::CLUSTER_DENIED),
        );
    }
    let response = if version < 4 {
        let (results, wrote) = one(
            ctx,
            version,
            req.v3_and_below_transactional_id.as_str(),
            req.v3_and_below_producer_id.0,
            req.v3_and_below_producer_epoch,
            false,
            &req.v3_and_below_topics,
        );
        wrote_any = wrote;
        AddPartitionsToTxnResponse::default()
            .with_results_by_topic_v3_and_below(topic_results(results))
    } else {
        let mut out = Vec::with_capacity(req.transactions.len());
        for t in &req.transactions {
            let (results, wrote) = one(
                ctx,
                version,
                t.transactional_id.as_str(),
                t.producer_id.0,
                t.producer_epoch,
                t.verify_only,
                &t.topics,
            );
            wrote_any |= wrote;
            out.push(
                AddPartitionsToTxnResult::default()
                    .with_transactional_id(t.transactional_id.clone())
                    .with_topic_results(topic_results(results)),
            );
        }
        AddPartitionsToTxnResponse::default().with_results_by_transaction(out)
    };
    if !wrote_any {
        return Outcome::now(response);
    }
    Outcome::later(flushed(broker.durable(), response))
}

async fn flushed(
    durable: impl Future<Output = Result<(), crate::store::StoreError>> + Send + 'static,
    mut response: AddPartitionsToTxnResponse,
) -> AddPartitionsToTxnResponse {
    {
        if let Err(e) = durable.await {
            tracing::error!(error = %e, "storing a transaction's partitions failed");
            let codes = response
                .results_by_topic_v3_and_below
                .iter_mut()
                .chain(
                    response
                        .results_by_transaction
                        .iter_mut()
                        .flat_map(|t| t.topic_results.iter_mut()),
                )
                .flat_map(|t| t.results_by_partition.iter_mut());
            for p in codes {
                if p.partition_error_code == 0 {
                    p.partition_error_code = ResponseError::KafkaStorageError.code();
                }
            }
        }
        response
    }
}
