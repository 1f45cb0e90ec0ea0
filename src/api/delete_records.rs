//! DeleteRecords: moves a partition's log start offset forward, dropping whole batches below it.
//! The answer waits for the store's flush, as for acks=all produce.
//!
//! Dropping the batches is store work proportional to what is dropped (a whole partition's worth
//! for `offset: -1`), under the partition's lock: it runs on tokio's blocking pool, so a large
//! deletion holds up neither the connection's worker thread nor the other connections on it.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use crate::api::{self, authz, error, Ctx, Outcome};
use crate::broker::Broker;
use crate::security::acl::{AclOperation, ResourceType};

pub fn handle(ctx: &Ctx, mut req: DeleteRecordsRequest) -> Outcome {
    let broker = ctx.broker.clone();
    // As Kafka: DELETE on each topic, else TOPIC_AUTHORIZATION_FAILED for its partitions.
    let (allowed, denied) = ctx.split_authorized(
        AclOperation::Delete,
        ResourceType::Topic,
        std::mem::take(&mut req.topics),
        |t| t.name.as_str(),
    );
    req.topics = allowed;
    let denied = failed(
        DeleteRecordsRequest::default().with_topics(denied),
        authz::TOPIC_DENIED,
    )
    .topics;
    Outcome::later(async move {
        let unanswered = req.clone();
        let durable = broker.clone();
        let (mut response, changed) =
            match tokio::task::spawn_blocking(move || handle_now(&broker, req)).await {
                Ok(done) => done,
                Err(e) => {
                    tracing::error!(error = %e, "deleting records failed");
                    let mut r = failed(unanswered, ResponseError::UnknownServerError.code());
                    r.topics.extend(denied);
                    return r;
                }
            };
        // The new log start must survive a crash before we report it.
        if changed {
            if let Err(e) = durable.durable().await {
                tracing::error!(error = %e, "could not make the request's writes durable");
                for p in response
                    .topics
                    .iter_mut()
                    .flat_map(|t| t.partitions.iter_mut())
                {
                    if p.error_code == 0 {
                        p.error_code = error::STORAGE_ERROR;
                    }
                }
            }
        }
        response.topics.extend(denied);
        response
    })
}

/// Every partition of `req` answered with `code`.
fn failed(req: DeleteRecordsRequest, code: i16) -> DeleteRecordsResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    DeleteRecordsPartitionResult::default()
                        .with_partition_index(p.partition_index)
                        .with_low_watermark(-1)
                        .with_error_code(code)
                })
                .collect();
            DeleteRecordsTopicResult::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    DeleteRecordsResponse::default().with_topics(topics)
}

/// DeleteRecords on the calling thread (blocking); also says whether any log start moved.
fn handle_now(broker: &Broker, req: DeleteRecordsRequest) -> (DeleteRecordsResponse, bool) {
    #[cfg(test)]
    tests::RAN_ON
        .lock()
        .unwrap()
        .push(std::thread::current().id());
    let mut changed = false;
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let topic = broker.topic(t.name.as_str());
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let r = DeleteRecordsPartitionResult::default()
                        .with_partition_index(p.partition_index);
                    let log = match api::partition(topic.as_ref(), p.partition_index) {
                        Ok(_) if crate::broker::is_internal(t.name.as_str()) => {
                            // As Kafka: the records of internal topics are the broker's.
                            return r
                                .with_low_watermark(-1)
                                .with_error_code(ResponseError::InvalidTopicException.code());
                        }
                        Ok(log) => log,
                        Err(code) => return r.with_low_watermark(-1).with_error_code(code),
                    };
                    let offs = log.offsets();
                    // -1 means "up to the high watermark".
                    let target = if p.offset == -1 {
                        offs.high_watermark as i64
                    } else {
                        p.offset
                    };
                    if target < 0 || target > offs.high_watermark as i64 {
                        return r
                            .with_low_watermark(-1)
                            .with_error_code(ResponseError::OffsetOutOfRange.code());
                    }
                    match log.advance_log_start(target as u64) {
                        Ok(o) => {
                            changed = true;
                            r.with_low_watermark(o.log_start as i64)
                        }
                        Err(e) => r
                            .with_low_watermark(-1)
                            .with_error_code(error::code(&e, "DeleteRecords")),
                    }
                })
                .collect();
            DeleteRecordsTopicResult::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    (
        DeleteRecordsResponse::default().with_topics(topics),
        changed,
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::thread::ThreadId;

    use kafka_protocol::messages::delete_records_request::{
        DeleteRecordsPartition, DeleteRecordsTopic,
    };
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::protocol::StrBytes;

    use super::*;
    use crate::api::ResponseBody;
    use crate::broker::tests::test_broker;
    use crate::config::Config;
    use crate::log::batch::{self, tests::make_batch};

    /// The threads `handle_now` ran on.
    pub(super) static RAN_ON: Mutex<Vec<ThreadId>> = Mutex::new(Vec::new());

    /// The truncation runs on the blocking pool, never on the thread that runs the connection's
    /// task (here the only worker of a current-thread runtime), and answers once it is done.
    #[test]
    fn truncation_runs_off_the_runtime_workers() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        let t = b.create_topic("t", 1, Default::default(), false).unwrap();
        let batch = batch::validate(&make_batch(3, 0), 1 << 20).unwrap();
        for _ in 0..10 {
            t.partitions[0].append_visible(&batch).unwrap();
        }
        let req = DeleteRecordsRequest::default().with_topics(vec![DeleteRecordsTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("t")))
            .with_partitions(vec![DeleteRecordsPartition::default()
                .with_partition_index(0)
                .with_offset(-1)])]);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let response = rt.block_on(async {
            let Outcome::Later(fut) = handle(&Ctx::test(&b, 2), req) else {
                panic!("the answer waits for the truncation");
            };
            fut.await
        });
        let ResponseBody::Kind(kafka_protocol::messages::ResponseKind::DeleteRecords(r)) = response
        else {
            panic!("not a DeleteRecords response");
        };
        let p = &r.topics[0].partitions[0];
        assert_eq!((p.error_code, p.low_watermark), (0, 30));
        assert_eq!(t.partitions[0].offsets().log_start, 30);
        let ran_on = RAN_ON.lock().unwrap().clone();
        assert_eq!(ran_on.len(), 1);
        assert_ne!(ran_on[0], std::thread::current().id());
    }
}
