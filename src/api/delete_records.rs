//! DeleteRecords: moves a partition's log start offset forward, dropping whole batches below it.
//! The answer waits for the store's flush, as for acks=all produce.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use crate::api::{self, error, Ctx, Outcome};

pub fn handle(ctx: &Ctx, req: DeleteRecordsRequest) -> Outcome {
    let broker = ctx.broker;
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
    let response = DeleteRecordsResponse::default().with_topics(topics);
    if !changed {
        return Outcome::now(response);
    }
    // The new log start must survive a crash before we report it.
    api::after_flush(broker, response, |r: &mut DeleteRecordsResponse| {
        for p in r.topics.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
            if p.error_code == 0 {
                p.error_code = error::STORAGE_ERROR;
            }
        }
    })
}
