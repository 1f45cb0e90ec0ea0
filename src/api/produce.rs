//! Produce: validate each partition's batches, append them, and acknowledge per `acks`.
//!
//! Errors are per partition: one bad partition never fails the others. Appends happen right here,
//! in request order; then the request waits for a flush that covers them (shared with every other
//! request waiting at that moment: `Store::sync`), and only then are the records made visible to
//! consumers and acknowledged, whatever `acks` says. So nothing a consumer read or a producer was
//! told is written can be taken away by a crash (Kafka has the OS page cache for that; sled keeps
//! unflushed writes in the process's memory).
//!
//! A client with a `producer_byte_rate` quota has the request's size counted against it and is
//! told its throttle time in the response (the connection then reads nothing from it for that
//! long: [`crate::quota`]).
//!
//! Authorization as Kafka's: a transactional produce needs WRITE on its transactional id (else the
//! whole request fails with TRANSACTIONAL_ID_AUTHORIZATION_FAILED), and each topic needs WRITE
//! (else its partitions get TOPIC_AUTHORIZATION_FAILED, before anything says whether it exists).

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;

use crate::api::{authz, error, Ctx, Outcome};
use crate::broker::{Broker, Topic};
use crate::config::topic::EffectiveConfig;
use crate::log::batch::{self, BatchInfo};
use crate::log::partition::{Appended, PartitionLog};
use crate::log::records;
use crate::quota::QuotaKind;
use crate::security::acl::{AclOperation, ResourceType};

/// The topic a Produce names. Kafka auto-creates topics from Metadata only: a Produce to a topic
/// that does not exist gets UNKNOWN_TOPIC_OR_PARTITION (clients ask Metadata first, which creates
/// it). `__consumer_offsets` is looked up as the coordinator creates it, so a Produce to it gets
/// its own refusal.
fn existing_topic(broker: &Broker, name: &str) -> Result<Arc<Topic>, (i16, String)> {
    if name == crate::broker::OFFSETS_TOPIC {
        return broker
            .get_or_create(name)
            .map_err(|e| (error::code(&e, "Produce"), e.to_string()));
    }
    broker.topic(name).ok_or_else(|| {
        (
            ResponseError::UnknownTopicOrPartition.code(),
            format!("unknown topic {name}"),
        )
    })
}

pub fn handle(ctx: &Ctx, req: ProduceRequest) -> Outcome {
    let (broker, version) = (ctx.broker, ctx.version);
    let acks = req.acks;
    let now = crate::now_ms();
    let valid_acks = matches!(acks, -1..=1);
    let mut failures = Vec::new();
    // The partitions appended to and their new log ends, made visible once flushed.
    let mut appended: Vec<(Arc<PartitionLog>, u64)> = Vec::new();
    let mut responses = Vec::with_capacity(req.topic_data.len());
    let txn = Txn {
        id: req.transactional_id.as_ref().map(|t| t.to_string()),
        version,
    };
    let txn = &txn;
    let transactional = req
        .topic_data
        .iter()
        .flat_map(|t| &t.partition_data)
        .any(|p| {
            p.records
                .as_deref()
                .is_some_and(batch::starts_transactional)
        });
    let txn_denied = transactional
        && !txn.id.as_deref().is_some_and(|id| {
            ctx.authorize(AclOperation::Write, ResourceType::TransactionalId, id)
        });
    for topic_data in req.topic_data {
        let name = topic_data.name;
        let topic = if !valid_acks {
            Err((
                ResponseError::InvalidRequiredAcks.code(),
                format!("acks must be -1, 0 or 1, got {acks}"),
            ))
        } else if txn_denied {
            Err((
                authz::TRANSACTIONAL_ID_DENIED,
                format!("not authorized to write as transactional id {:?}", txn.id),
            ))
        } else if !ctx.authorize(AclOperation::Write, ResourceType::Topic, &name) {
            Err((
                authz::TOPIC_DENIED,
                format!("not authorized to write to topic {}", name.as_str()),
            ))
        } else {
            existing_topic(broker, name.as_str())
        };
        let mut partitions = Vec::with_capacity(topic_data.partition_data.len());
        for pd in topic_data.partition_data {
            let mut resp = PartitionProduceResponse::default().with_index(pd.index);
            let outcome = topic
                .as_ref()
                .map_err(|(code, message)| Refusal::new(*code, message.clone()))
                .and_then(|t| {
                    let records = pd.records.unwrap_or_default();
                    append(broker, t, pd.index, &records, now, txn)
                });
            match outcome {
                Ok(done) => {
                    appended.push((done.log, done.at.end));
                    resp = resp.with_base_offset(done.at.base_offset as i64);
                    if done.log_append_time {
                        resp = resp.with_log_append_time_ms(now);
                    }
                    if version >= 5 {
                        resp = resp.with_log_start_offset(done.at.log_start as i64);
                    }
                }
                Err(Refusal {
                    code,
                    message,
                    record_errors,
                    unexplained,
                }) => {
                    tracing::debug!(topic = %name.as_str(), partition = pd.index, code, %message, "produce refused");
                    failures.push(message.clone());
                    resp = resp.with_error_code(code).with_base_offset(-1);
                    if version >= 8 {
                        // Kafka sends a message only with the record-validation errors (its
                        // RecordValidationException); the others' null, the code says it all. A
                        // record past max.decompressed.message.bytes gets none either.
                        let described = !unexplained
                            && (code == ResponseError::InvalidRecord.code()
                                || code == ResponseError::InvalidTimestamp.code());
                        resp = resp
                            .with_error_message(described.then(|| StrBytes::from_string(message)))
                            .with_record_errors(record_errors);
                    }
                }
            }
            partitions.push(resp);
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(name)
                .with_partition_responses(partitions),
        );
    }
    // Kafka counts the whole request's size against producer_byte_rate, accepted or not.
    let throttle = broker.quotas().record(
        QuotaKind::Produce,
        &ctx.session.principal.name,
        ctx.client_id,
        ctx.request_bytes as f64,
    );
    let response = ProduceResponse::default()
        .with_responses(responses)
        .with_throttle_time_ms(throttle as i32);
    let published = (!appended.is_empty()).then(|| publish_when_durable(broker, appended));
    match (acks, published) {
        // The client reads no response; Kafka reports a failure by closing the connection.
        (0, published) => {
            if let Some(publishing) = published {
                tokio::spawn(publishing);
            }
            if failures.is_empty() {
                Outcome::Nothing
            } else {
                Outcome::Close(format!("acks=0 produce failed: {}", failures.join("; ")))
            }
        }
        (_, None) => Outcome::now(response),
        (_, Some(publishing)) => Outcome::later(async move {
            let mut response = response;
            if !publishing.await {
                for p in response
                    .responses
                    .iter_mut()
                    .flat_map(|t| t.partition_responses.iter_mut())
                {
                    if p.error_code == 0 {
                        p.error_code = error::STORAGE_ERROR;
                        p.base_offset = -1;
                    }
                }
            }
            response
        }),
    }
}

/// Waits for a flush covering the appends, then moves each partition's high watermark over them.
/// Resolves to whether the flush succeeded. A failed flush publishes nothing: the records stay
/// invisible until a later flush covers them (sled retries the write), and the producer is told
/// KAFKA_STORAGE_ERROR, as Kafka does when its log cannot be written.
fn publish_when_durable(
    broker: &Broker,
    appended: Vec<(Arc<PartitionLog>, u64)>,
) -> impl Future<Output = bool> + Send + 'static {
    let durable = broker.durable();
    async move {
        match durable.await {
            Ok(()) => {
                for (log, end) in appended {
                    log.publish(end);
                }
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "could not make produced records durable");
                false
            }
        }
    }
}

/// A partition's refusal: the error code, the message Kafka gives with it, and the records that
/// caused it (KIP-467; the last two are sent from v8).
#[derive(Debug, Clone)]
struct Refusal {
    code: i16,
    message: String,
    record_errors: Vec<BatchIndexAndErrorMessage>,
    /// Kafka sends no message with this refusal: `message` goes to the log only.
    unexplained: bool,
}

impl Refusal {
    fn new(code: i16, message: String) -> Refusal {
        Refusal {
            code,
            message,
            record_errors: Vec::new(),
            unexplained: false,
        }
    }
}

/// What an accepted batch got.
struct Accepted {
    log: Arc<PartitionLog>,
    at: Appended,
    log_append_time: bool,
}

/// Validates one partition's records against Kafka's produce rules and the topic's configs, then
/// appends them.
/// The transactional id a Produce names (if any) and its version, for transactional batches.
struct Txn {
    id: Option<String>,
    version: i16,
}

fn append(
    broker: &Broker,
    t: &Topic,
    index: i32,
    records: &Bytes,
    now: i64,
    txn: &Txn,
) -> Result<Accepted, Refusal> {
    if crate::broker::is_internal(&t.name) {
        return Err(Refusal::new(
            ResponseError::InvalidTopicException.code(),
            format!("Cannot append to internal topic {}", t.name),
        ));
    }
    let log = t.partition(index).ok_or_else(|| {
        Refusal::new(
            ResponseError::UnknownTopicOrPartition.code(),
            format!("topic {} has no partition {index}", t.name),
        )
    })?;
    let eff = &t.effective;
    let limit = (eff.max_message_bytes.max(0) as usize).min(broker.config().max_request_bytes);
    let mut batches = batch::validate(records, limit)
        .map_err(|e| Refusal::new(error::code(&e, "Produce"), e.to_string()))?;
    if batches.len() != 1 {
        // Produce v3+ carries exactly one batch per partition (Kafka refuses more).
        return Err(Refusal::new(
            ResponseError::InvalidRecord.code(),
            format!("expected exactly one record batch, got {}", batches.len()),
        ));
    }
    let batch = &mut batches[0];
    if batch::StoredHeader::parse(&batch.bytes).is_some_and(|h| h.base_offset != 0) {
        // The broker assigns offsets; Kafka refuses a batch that claims one.
        return Err(Refusal::new(
            ResponseError::InvalidRecord.code(),
            "the base offset of a produced record batch must be 0".to_string(),
        ));
    }
    if batch.producer_id >= 0 && batch.base_sequence < 0 {
        return Err(Refusal::new(
            ResponseError::InvalidRecord.code(),
            "a batch with a producer id must carry a sequence number".to_string(),
        ));
    }
    if batch.is_transactional() {
        verify_transactional(broker, txn, batch, &t.name, index)?;
    }
    if batch.is_control() {
        return Err(Refusal::new(
            ResponseError::InvalidRecord.code(),
            format!(
                "Clients are not allowed to write control records in topic partition {}-{index}",
                t.name
            ),
        ));
    }
    let cap = broker.config().max_decompressed_batch_bytes;
    let max_timestamp = check_records(&t.name, index, eff, batch, now, cap)?;
    if !eff.log_append_time && !batch.is_log_append_time() && max_timestamp != batch.max_timestamp {
        batch.bytes = batch::with_max_timestamp(&batch.bytes, max_timestamp);
        batch.max_timestamp = max_timestamp;
    }
    if eff.log_append_time {
        batch.bytes = batch::with_log_append_time(&batch.bytes, now);
        batch.max_timestamp = now;
    }
    let at = log.append(&batches).map_err(|e| {
        let context = format!("an append to {}-{index}", t.name);
        Refusal::new(error::code(&e, &context), e.to_string())
    })?;
    Ok(Accepted {
        log: log.clone(),
        at,
        log_append_time: eff.log_append_time,
    })
}

/// KIP-890's check of a transactional batch, which Kafka's partition leader asks the transaction
/// coordinator for: the producer is the transactional id's current one and the partition was added
/// to its open transaction. So a zombie, or a producer whose transaction the coordinator already
/// ended (timed out), cannot add records that no marker would ever close.
fn verify_transactional(
    broker: &Broker,
    txn: &Txn,
    batch: &BatchInfo,
    topic: &str,
    index: i32,
) -> Result<(), Refusal> {
    let Some(id) = txn.id.as_deref() else {
        // Kafka checks the producer's right to write for the transactional id, and there is none.
        return Err(Refusal::new(
            ResponseError::TransactionalIdAuthorizationFailed.code(),
            "transactional records need a transactional id".to_string(),
        ));
    };
    let txns = broker.transactions();
    let checked = if txn.version >= 12 {
        // Transaction version 2 (KIP-890): the client adds no partitions; its Produce does.
        txns.add_partitions(
            id,
            batch.producer_id,
            batch.producer_epoch,
            &[(topic.to_string(), index)],
            true,
        )
        .map(|_| ())
    } else {
        txns.verify_partition(id, batch.producer_id, batch.producer_epoch, topic, index)
    };
    checked.map_err(|code| refused_by_coordinator(code, txn.version, id, topic, index))
}

/// The transaction coordinator's answer as Kafka's partition leader reports it to the producer
/// (its AddPartitionsToTxnManager and ReplicaManager): a fenced epoch as INVALID_PRODUCER_EPOCH,
/// CONCURRENT_TRANSACTIONS as NOT_ENOUGH_REPLICAS (which every client retries), and a partition
/// not in the transaction as TRANSACTION_ABORTABLE to v11+ clients, INVALID_TXN_STATE to older
/// ones, with Kafka's message.
fn refused_by_coordinator(code: i16, version: i16, id: &str, topic: &str, index: i32) -> Refusal {
    let not_added = |code| {
        Refusal::new(
            code,
            "Partition was not added to the transaction".to_string(),
        )
    };
    match ResponseError::try_from_code(code) {
        Some(ResponseError::ProducerFenced) => Refusal::new(
            ResponseError::InvalidProducerEpoch.code(),
            format!("producer of {id:?} fenced at {topic}-{index}"),
        ),
        Some(ResponseError::ConcurrentTransactions) => Refusal::new(
            ResponseError::NotEnoughReplicas.code(),
            format!("the transaction of {id:?} is ending; retry"),
        ),
        Some(ResponseError::TransactionAbortable) if version > 10 => not_added(code),
        Some(ResponseError::TransactionAbortable) => {
            not_added(ResponseError::InvalidTxnState.code())
        }
        _ => Refusal::new(
            code,
            format!("transactional produce for {id:?} to {topic}-{index} refused"),
        ),
    }
}

/// Kafka's per-record checks (`LogValidator.validateRecord`), made while the records are walked
/// (see [`records::walk`]): a key on every record of a compacted topic, and timestamps within
/// `message.timestamp.before/after.max.ms` on CreateTime topics. The walk also checks that the
/// records fill the batch exactly as its header's count says. Compressed batches are decompressed
/// for this, as Kafka does on the leader, but never held in memory. Returns the records' largest
/// timestamp (-1 if none has one).
fn check_records(
    topic: &str,
    partition: i32,
    eff: &EffectiveConfig,
    b: &BatchInfo,
    now: i64,
    cap: usize,
) -> Result<i64, Refusal> {
    let earliest = now.saturating_sub(eff.message_timestamp_before_max_ms);
    let latest = now.saturating_add(eff.message_timestamp_after_max_ms);
    let mut errors: Vec<(ResponseError, BatchIndexAndErrorMessage)> = Vec::new();
    let mut offset_error = None;
    // Kafka bounds each decompressed record of a compressed batch by the topic's
    // `max.decompressed.message.bytes`; uncompressed records are bounded by the batch size.
    let mut oversized = None;
    let compressed = b.compression() != 0;
    let mut max_timestamp = -1i64;
    records::walk(&b.bytes, b.compression(), b.record_count, cap, |r| {
        if compressed
            && i64::from(r.size) > eff.max_decompressed_message_bytes
            && oversized.is_none()
        {
            oversized = Some((r.index, r.size));
        }
        let timestamp = b.base_timestamp.wrapping_add(r.timestamp_delta);
        max_timestamp = max_timestamp.max(timestamp);
        if r.offset_delta != r.index && offset_error.is_none() {
            // Kafka rewrites such a batch (compressed) or stores it as is (uncompressed); we store
            // producers' bytes and read record offsets from them, so refuse it.
            offset_error = Some(format!(
                "record {} has offset delta {}: the records of a batch must count up from 0",
                r.index, r.offset_delta
            ));
        }
        // A control record is refused with its batch (`validate`), so any keyless record here is
        // a data record.
        let error = if eff.cleanup_compact && !r.has_key {
            Some((
                ResponseError::InvalidRecord,
                format!("Compacted topic cannot accept message without key in topic partition {topic}-{partition}"),
            ))
        } else {
            // -1 is "no timestamp" (Kafka's RecordBatch.NO_TIMESTAMP), never out of range.
            (!eff.log_append_time && timestamp != -1 && !(earliest..=latest).contains(&timestamp))
                .then(|| {
                    (
                        ResponseError::InvalidTimestamp,
                        format!(
                            "Timestamp {timestamp} of message with offset {} is out of range. The timestamp should be within [{earliest}, {latest}]",
                            r.offset_delta
                        ),
                    )
                })
        };
        if let Some((code, message)) = error {
            errors.push((
                code,
                BatchIndexAndErrorMessage::default()
                    .with_batch_index(r.index)
                    .with_batch_index_error_message(Some(StrBytes::from_string(message))),
            ));
        }
    })
    .map_err(|e| Refusal::new(error::code(&e, "Produce"), e.to_string()))?;
    if let Some(message) = offset_error {
        return Err(Refusal::new(ResponseError::InvalidRecord.code(), message));
    }
    if let Some((index, size)) = oversized {
        return Err(Refusal {
            unexplained: true,
            ..Refusal::new(
                ResponseError::InvalidRecord.code(),
                format!(
                    "record {index} decompresses to {size} bytes, over the topic's max.decompressed.message.bytes ({})",
                    eff.max_decompressed_message_bytes
                ),
            )
        });
    }
    if errors.is_empty() {
        return Ok(max_timestamp);
    }
    // Kafka's `processRecordErrors`: one error for the batch, every bad record named (KIP-467).
    let (code, message) = if errors
        .iter()
        .any(|(code, _)| *code == ResponseError::InvalidTimestamp)
    {
        (
            ResponseError::InvalidTimestamp,
            "One or more records have been rejected due to invalid timestamp".to_string(),
        )
    } else {
        let shown: Vec<String> = errors
            .iter()
            .take(3)
            .map(|(_, e)| {
                let message = e.batch_index_error_message.as_ref().map(|m| m.as_str());
                format!(
                    "RecordError(batchIndex={}, message='{}')",
                    e.batch_index,
                    message.unwrap_or_default()
                )
            })
            .collect();
        (
            ResponseError::InvalidRecord,
            format!(
                "One or more records have been rejected due to {} record errors in total, and only showing the first three errors at most: [{}]",
                errors.len(),
                shown.join(", ")
            ),
        )
    };
    Err(Refusal {
        code: code.code(),
        message,
        record_errors: errors.into_iter().map(|(_, e)| e).collect(),
        unexplained: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::tests::test_broker;
    use crate::config::Config;
    use crate::log::batch::tests::make_batch;
    use crate::log::records::tests as rec;
    use crate::protocol::ResponseBody;
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::ResponseKind;

    /// The handler, after creating the topics the request names (as a client's Metadata would):
    /// a Produce itself does not create them (`unknown_topics_are_not_created`).
    fn handle(ctx: &Ctx, req: ProduceRequest) -> Outcome {
        for t in &req.topic_data {
            let _ = ctx.broker.get_or_create(t.name.as_str());
        }
        super::handle(ctx, req)
    }

    /// Kafka creates topics from Metadata only (compat-tests/differential.rs, D11): a Produce to
    /// one that does not exist, or could not (an invalid name), is refused and creates nothing.
    #[test]
    fn unknown_topics_are_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        for (name, version) in [("absent", 9), ("absent", 3), ("bad/name", 9)] {
            let r = now(super::handle(
                &Ctx::test(&b, version),
                request(1, name, vec![(0, make_batch(1, 0))]),
            ));
            let p = &r.responses[0].partition_responses[0];
            assert_eq!(
                p.error_code,
                ResponseError::UnknownTopicOrPartition.code(),
                "{name} v{version}"
            );
            assert_eq!((p.base_offset, p.error_message.as_deref()), (-1, None));
            assert!(b.topic(name).is_none());
        }
    }

    fn request(acks: i16, topic: &str, parts: Vec<(i32, bytes::Bytes)>) -> ProduceRequest {
        ProduceRequest::default()
            .with_acks(acks)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(StrBytes::from_string(topic.into()).into())
                .with_partition_data(
                    parts
                        .into_iter()
                        .map(|(i, r)| {
                            PartitionProduceData::default()
                                .with_index(i)
                                .with_records(Some(r))
                        })
                        .collect(),
                )])
    }

    /// The response, whether it is ready now or after the flush.
    async fn reply(outcome: Outcome) -> ProduceResponse {
        let body = match outcome {
            Outcome::Now(body) => body,
            Outcome::Later(f) => f.await,
            _ => panic!("expected a produce response"),
        };
        match body {
            ResponseBody::Kind(ResponseKind::Produce(r)) => r,
            _ => panic!("wrong response kind"),
        }
    }

    #[tokio::test]
    async fn errors_are_per_partition_and_nothing_is_written_for_refused_batches() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(
            dir.path(),
            Config {
                num_partitions: 2,
                ..Config::default()
            },
        );
        let good = make_batch(3, 0);
        let mut bad = bytes::BytesMut::from(&good[..]);
        let n = bad.len();
        bad[n - 1] ^= 1;
        let r = reply(handle(
            &Ctx::test(&b, 9),
            request(
                1,
                "t",
                vec![(0, good.clone()), (1, bad.freeze()), (7, good)],
            ),
        ))
        .await;
        let p = &r.responses[0].partition_responses;
        assert_eq!((p[0].error_code, p[0].base_offset), (0, 0));
        assert_eq!(p[1].error_code, ResponseError::CorruptMessage.code());
        assert_eq!(
            p[2].error_code,
            ResponseError::UnknownTopicOrPartition.code()
        );
        let t = b.topic("t").unwrap();
        assert_eq!(t.partitions[0].offsets().high_watermark, 3);
        assert_eq!(t.partitions[1].offsets().high_watermark, 0);
    }

    #[tokio::test]
    async fn invalid_acks_and_names() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        let r = reply(handle(
            &Ctx::test(&b, 9),
            request(2, "t", vec![(0, make_batch(1, 0))]),
        ))
        .await;
        assert_eq!(
            r.responses[0].partition_responses[0].error_code,
            ResponseError::InvalidRequiredAcks.code()
        );
        // A batch that claims a base offset is refused and nothing is written.
        let claimed = batch::with_offset(&make_batch(1, 0), 50, 0);
        let r = reply(handle(
            &Ctx::test(&b, 9),
            request(1, "t", vec![(0, claimed)]),
        ))
        .await;
        assert_eq!(
            r.responses[0].partition_responses[0].error_code,
            ResponseError::InvalidRecord.code()
        );
        assert_eq!(
            b.topic("t").unwrap().partitions[0].offsets().high_watermark,
            0
        );
        let r = reply(handle(
            &Ctx::test(&b, 9),
            request(1, "bad/name", vec![(0, make_batch(1, 0))]),
        ))
        .await;
        assert_eq!(
            r.responses[0].partition_responses[0].error_code,
            ResponseError::UnknownTopicOrPartition.code()
        );
        assert!(matches!(
            handle(
                &Ctx::test(&b, 9),
                request(0, "bad/name", vec![(0, make_batch(1, 0))])
            ),
            Outcome::Close(_)
        ));
        assert!(matches!(
            handle(
                &Ctx::test(&b, 9),
                request(0, "ok", vec![(0, make_batch(1, 0))])
            ),
            Outcome::Nothing
        ));
    }

    /// The response of a handler called outside a runtime, waiting for the flush if it must.
    fn now(outcome: Outcome) -> ProduceResponse {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(reply(outcome))
    }

    fn produce_one(b: &Broker, topic: &str, batch: Bytes) -> PartitionProduceResponse {
        let mut r = now(handle(
            &Ctx::test(b, 9),
            request(1, topic, vec![(0, batch)]),
        ));
        r.responses.remove(0).partition_responses.remove(0)
    }

    fn high_watermark(b: &Broker, topic: &str) -> u64 {
        b.topic(topic).unwrap().partitions[0]
            .offsets()
            .high_watermark
    }

    /// Issue #14 item 4: the header's record count is checked against the records.
    #[test]
    fn a_record_count_the_records_do_not_back_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        let one = rec::record(0, false, b"v");
        for codec in [0, 1, 4] {
            let p = produce_one(&b, "t", rec::raw_batch(codec, 1_000_000, &one));
            assert_eq!(
                p.error_code,
                ResponseError::InvalidRecord.code(),
                "codec {codec}"
            );
        }
        assert_eq!(high_watermark(&b, "t"), 0);
        // Offset deltas that do not count up from 0.
        let mut two = rec::record(0, false, b"v");
        two.extend(rec::record(5, false, b"v"));
        let p = produce_one(&b, "t", rec::raw_batch(0, 2, &two));
        assert_eq!(p.error_code, ResponseError::InvalidRecord.code());
        assert_eq!(high_watermark(&b, "t"), 0);
        // A control batch: only the broker writes those (Kafka refuses them from clients).
        let mut control = bytes::BytesMut::from(&make_batch(1, crate::now_ms())[..]);
        control[batch::ATTRIBUTES + 1] |= 1 << 5;
        let crc = crc32c::crc32c(&control[batch::ATTRIBUTES..]);
        control[batch::CRC..batch::CRC + 4].copy_from_slice(&crc.to_be_bytes());
        let p = produce_one(&b, "t", control.freeze());
        assert_eq!(p.error_code, ResponseError::InvalidRecord.code());
        assert_eq!(high_watermark(&b, "t"), 0);
        let p = produce_one(&b, "t", rec::raw_batch(1, 1, &one));
        assert_eq!((p.error_code, high_watermark(&b, "t")), (0, 1));
    }

    /// `max.decompressed.message.bytes` (Kafka 4.4) bounds each record of a compressed batch:
    /// INVALID_RECORD with no message, as Kafka answers; uncompressed batches are not checked.
    #[test]
    fn records_decompressing_past_the_topic_cap_are_invalid() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        let configs = [(
            "max.decompressed.message.bytes".to_string(),
            "50".to_string(),
        )];
        b.create_topic("t", 1, configs.into_iter().collect(), false)
            .unwrap();
        let mut records = rec::record(0, false, b"small");
        records.extend(rec::record(1, false, &[b'x'; 200]));
        let p = produce_one(&b, "t", rec::raw_batch(1, 2, &records));
        assert_eq!(
            (p.error_code, p.error_message.as_deref()),
            (ResponseError::InvalidRecord.code(), None)
        );
        assert!(p.record_errors.is_empty());
        assert_eq!(high_watermark(&b, "t"), 0);
        let p = produce_one(&b, "t", rec::raw_batch(0, 2, &records));
        assert_eq!((p.error_code, high_watermark(&b, "t")), (0, 2));
    }

    /// Issue #14 item 3: a batch that decompresses past `max_decompressed_batch_bytes` is refused
    /// with MESSAGE_TOO_LARGE, and the walk stops at the cap (see `log::records`' tests).
    #[test]
    fn a_zip_bomb_is_too_large() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(
            dir.path(),
            Config {
                max_decompressed_batch_bytes: 2 << 20,
                log_cleanup_policy: "compact".into(),
                ..Config::default()
            },
        );
        let bomb = rec::raw_batch(1, 1, &rec::record(0, false, &vec![0u8; 4 << 20]));
        let p = produce_one(&b, "t", bomb);
        assert_eq!(p.error_code, ResponseError::MessageTooLarge.code());
        assert_eq!(high_watermark(&b, "t"), 0);
    }

    /// Issue #14 item 14 (KIP-467): each bad record is named, and the batch is refused whole.
    #[test]
    fn bad_records_are_named_in_record_errors() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(
            dir.path(),
            Config {
                log_cleanup_policy: "compact".into(),
                ..Config::default()
            },
        );
        let mut records = Vec::new();
        for i in 0..5 {
            records.extend(rec::record(i, i % 2 == 1, b"v"));
        }
        for codec in [0, 2, 3] {
            let p = produce_one(&b, "c", rec::raw_batch(codec, 5, &records));
            assert_eq!(p.error_code, ResponseError::InvalidRecord.code());
            let indexes: Vec<i32> = p.record_errors.iter().map(|e| e.batch_index).collect();
            assert_eq!(indexes, [1, 3], "codec {codec}");
            let why = "Compacted topic cannot accept message without key in topic partition c-0";
            assert_eq!(
                p.record_errors[0].batch_index_error_message.as_deref(),
                Some(why)
            );
            assert_eq!(
                p.error_message.as_deref(),
                Some(
                    format!(
                        "One or more records have been rejected due to 2 record errors in total, \
                         and only showing the first three errors at most: \
                         [RecordError(batchIndex=1, message='{why}'), RecordError(batchIndex=3, message='{why}')]"
                    )
                    .as_str()
                )
            );
        }
        assert_eq!(high_watermark(&b, "c"), 0);
        // Before v8 there is no room for them: the code alone.
        let r = now(handle(
            &Ctx::test(&b, 7),
            request(1, "c", vec![(0, rec::raw_batch(0, 5, &records))]),
        ));
        let p = &r.responses[0].partition_responses[0];
        assert_eq!(p.error_code, ResponseError::InvalidRecord.code());
        assert!(p.record_errors.is_empty() && p.error_message.is_none());
    }

    #[test]
    fn out_of_range_timestamps_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        // Two records: the first now, the second 400 days ahead (past message.timestamp.after.max.ms).
        let good = make_batch(1, crate::now_ms());
        let mut records = good[batch::HEADER_LEN..].to_vec();
        let mut late = Vec::new();
        let mut body = vec![0u8];
        put_varlong(&mut body, 400 * 24 * 3600 * 1000);
        body.extend_from_slice(&[2, 2, b'k', 2, b'v', 0]);
        put_varlong(&mut late, body.len() as i64);
        late.extend_from_slice(&body);
        records.extend(late);
        let p = produce_one(&b, "t", rec::raw_batch(0, 2, &records));
        assert_eq!(p.error_code, ResponseError::InvalidTimestamp.code());
        assert_eq!(
            p.error_message.as_deref(),
            Some("One or more records have been rejected due to invalid timestamp")
        );
        assert_eq!(p.record_errors.len(), 1);
        assert_eq!(p.record_errors[0].batch_index, 1);
        let message = p.record_errors[0]
            .batch_index_error_message
            .as_deref()
            .unwrap();
        assert!(
            message.contains("of message with offset 1 is out of range"),
            "{message}"
        );
        assert_eq!(high_watermark(&b, "t"), 0);
    }

    /// The header's max timestamp is the producer's word; the stored one is the records' (as
    /// Kafka's `setMaxTimestamp`), so a lying header neither passes nor fails the bounds by itself.
    #[test]
    fn the_stored_max_timestamp_is_the_records() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        let honest = rec::raw_batch(
            4,
            2,
            &[rec::record(0, false, b"v"), rec::record(1, false, b"v")].concat(),
        );
        let h = batch::StoredHeader::parse(&honest).unwrap();
        let lying = batch::with_max_timestamp(&honest, h.max_timestamp + 400 * 24 * 3600 * 1000);
        let p = produce_one(&b, "t", lying);
        assert_eq!(p.error_code, 0);
        let stored = b.topic("t").unwrap().partitions[0]
            .batch_at(0)
            .unwrap()
            .unwrap();
        let stored = batch::StoredHeader::parse(&stored).unwrap();
        assert_eq!(stored.max_timestamp, h.base_timestamp);
        batch::validate(
            &b.topic("t").unwrap().partitions[0]
                .batch_at(0)
                .unwrap()
                .unwrap(),
            1 << 20,
        )
        .unwrap();
    }

    fn put_varlong(out: &mut Vec<u8>, v: i64) {
        let mut z = ((v << 1) ^ (v >> 63)) as u64;
        while z >= 0x80 {
            out.push((z as u8) | 0x80);
            z >>= 7;
        }
        out.push(z as u8);
    }

    /// Every acks level waits for the flush before the records are visible or acknowledged: a
    /// consumer must never read what a crash can take away (#14 items 7 and 8). The high
    /// watermark used to move at the append, before the flush.
    #[tokio::test]
    async fn records_are_visible_and_acknowledged_only_once_flushed() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        for (acks, base) in [(-1, 0), (1, 2)] {
            let outcome = handle(
                &Ctx::test(&b, 9),
                request(acks, "t", vec![(0, make_batch(2, 0))]),
            );
            let log = b.topic("t").unwrap().partitions[0].clone();
            assert_eq!(log.offsets().high_watermark, base, "acks={acks}");
            let Outcome::Later(f) = outcome else {
                panic!("acks={acks} must wait for durability");
            };
            let ResponseBody::Kind(ResponseKind::Produce(r)) = f.await else {
                panic!("wrong response kind");
            };
            let p = &r.responses[0].partition_responses[0];
            assert_eq!((p.error_code, p.base_offset), (0, base as i64));
            assert_eq!(log.offsets().high_watermark, base + 2, "acks={acks}");
        }
        // acks=0 has no response to hold back; the records still become visible only after a flush.
        let waiter = std::sync::Arc::new(tokio::sync::Notify::new());
        let log = b.topic("t").unwrap().partitions[0].clone();
        log.register_waiter(&waiter);
        assert!(matches!(
            handle(
                &Ctx::test(&b, 9),
                request(0, "t", vec![(0, make_batch(2, 0))])
            ),
            Outcome::Nothing
        ));
        tokio::time::timeout(std::time::Duration::from_secs(30), waiter.notified())
            .await
            .expect("the acks=0 append is published after its flush");
        assert_eq!(log.offsets().high_watermark, 6);
    }

    /// Kafka's checks: WRITE on each topic (denied before existence is told), and WRITE on the
    /// transactional id for a transactional produce, which otherwise fails whole.
    #[test]
    fn needs_write_on_topic_and_transactional_id() {
        use crate::api::authz::{self, tests::*};
        use crate::log::batch::tests::with_txn;
        use crate::security::acl::{AclOperation::*, ResourceType};
        let dir = tempfile::tempdir().unwrap();
        let b = secured_broker(dir.path());
        b.create_topic("open", 1, Default::default(), false)
            .unwrap();
        b.create_topic("shut", 1, Default::default(), false)
            .unwrap();
        allow(&b, ResourceType::Topic, "open", Write);
        let code = |topic: &str, batch: bytes::Bytes, txn: Option<&str>| {
            let req = request(1, topic, vec![(0, batch)])
                .with_transactional_id(txn.map(|t| StrBytes::from_string(t.into()).into()));
            now(super::handle(&Ctx::test(&b, 9), req)).responses[0].partition_responses[0]
                .error_code
        };
        assert_eq!(code("open", make_batch(1, 0), None), 0);
        assert_eq!(code("shut", make_batch(1, 0), None), authz::TOPIC_DENIED);
        assert_eq!(code("absent", make_batch(1, 0), None), authz::TOPIC_DENIED);
        let txn_batch = with_txn(&make_batch(1, 0), 1, 0, 0);
        assert_eq!(
            code("open", txn_batch.clone(), Some("tx")),
            authz::TRANSACTIONAL_ID_DENIED
        );
        assert_eq!(
            code("open", txn_batch.clone(), None),
            authz::TRANSACTIONAL_ID_DENIED
        );
        allow(&b, ResourceType::TransactionalId, "tx", Write);
        // Past authorization: the transaction coordinator's own check (no such producer).
        let c = code("open", txn_batch, Some("tx"));
        assert!(
            c != authz::TRANSACTIONAL_ID_DENIED && c != authz::TOPIC_DENIED,
            "{c}"
        );
    }
}
