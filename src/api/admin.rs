//! Cluster and log administration: CreatePartitions, DeleteRecords, DescribeCluster,
//! DescribeLogDirs, OffsetForLeaderEpoch, DescribeTopicPartitions.

use std::collections::HashMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{
    BrokerId, CreatePartitionsRequest, CreatePartitionsResponse, DeleteRecordsRequest,
    DeleteRecordsResponse, DescribeClusterRequest, DescribeClusterResponse, DescribeLogDirsRequest,
    DescribeLogDirsResponse, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse,
    OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse, ResponseKind,
};
use kafka_protocol::protocol::StrBytes;

use crate::api::fetch::check_epoch;
use crate::api::{Ctx, Outcome};
use crate::log::LEADER_EPOCH;

fn s(v: impl Into<String>) -> StrBytes {
    StrBytes::from_string(v.into())
}

use crate::api::{CLUSTER_OPERATIONS, NO_OPERATIONS, TOPIC_OPERATIONS};

pub fn create_partitions(ctx: &Ctx, req: CreatePartitionsRequest) -> CreatePartitionsResponse {
    let broker = ctx.broker;
    let mut seen: HashMap<String, usize> = HashMap::new();
    for t in &req.topics {
        *seen.entry(t.name.to_string()).or_default() += 1;
    }
    let node = broker.node().node_id;
    let results = req
        .topics
        .into_iter()
        .map(|t| {
            let outcome = if seen[t.name.as_str()] > 1 {
                Err((
                    ResponseError::InvalidRequest.code(),
                    "topic listed more than once".to_string(),
                ))
            } else if t.assignments.as_ref().is_some_and(|a| {
                a.iter()
                    .any(|a| a.broker_ids.len() != 1 || a.broker_ids[0].0 != node)
            }) {
                Err((
                    ResponseError::InvalidReplicaAssignment.code(),
                    format!("every new partition must be assigned to broker {node} alone"),
                ))
            } else {
                broker
                    .add_partitions(t.name.as_str(), t.count, req.validate_only)
                    .map(|_| ())
                    .map_err(|e| (e.code(), e.to_string()))
            };
            let r = CreatePartitionsTopicResult::default().with_name(t.name);
            match outcome {
                Ok(()) => r,
                Err((code, message)) => {
                    r.with_error_code(code).with_error_message(Some(s(message)))
                }
            }
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}

pub fn delete_records(ctx: &Ctx, req: DeleteRecordsRequest) -> Outcome {
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
                    let Some(log) = topic.as_ref().and_then(|t| t.partition(p.partition_index))
                    else {
                        return r
                            .with_low_watermark(-1)
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code());
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
                        Err(e) => {
                            tracing::error!(error = %e, "delete records failed");
                            r.with_low_watermark(-1)
                                .with_error_code(ResponseError::KafkaStorageError.code())
                        }
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
        return Outcome::now(ResponseKind::DeleteRecords(response));
    }
    // The new log start must survive a crash before we report it.
    crate::api::after_flush(broker, response, |r: &mut DeleteRecordsResponse| {
        for p in r.topics.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
            if p.error_code == 0 {
                p.error_code = crate::api::STORAGE_ERROR;
            }
        }
    })
}

pub fn describe_cluster(ctx: &Ctx, req: DescribeClusterRequest) -> DescribeClusterResponse {
    let (broker, version) = (ctx.broker, ctx.version);
    let node = broker.node();
    let me = BrokerId(node.node_id);
    let resp = DescribeClusterResponse::default()
        .with_cluster_id(s(broker.cluster_id()))
        .with_controller_id(me)
        .with_cluster_authorized_operations(if req.include_cluster_authorized_operations {
            CLUSTER_OPERATIONS
        } else {
            NO_OPERATIONS
        })
        .with_brokers(vec![DescribeClusterBroker::default()
            .with_broker_id(me)
            .with_host(s(node.host.clone()))
            .with_port(node.port)]);
    // v1 may ask for controllers (2) instead of brokers (1): we are both, at the same address.
    if version >= 1 {
        if !matches!(req.endpoint_type, 1 | 2) {
            return DescribeClusterResponse::default()
                .with_error_code(ResponseError::UnsupportedEndpointType.code())
                .with_endpoint_type(req.endpoint_type);
        }
        return resp.with_endpoint_type(req.endpoint_type);
    }
    resp
}

pub fn describe_log_dirs(ctx: &Ctx, req: DescribeLogDirsRequest) -> DescribeLogDirsResponse {
    let (broker, version) = (ctx.broker, ctx.version);
    let wanted: Option<HashMap<String, Vec<i32>>> = req.topics.map(|ts| {
        ts.into_iter()
            .map(|t| (t.topic.to_string(), t.partitions))
            .collect()
    });
    let mut topics = Vec::new();
    for t in broker.topics() {
        let parts: Vec<i32> = match &wanted {
            Some(w) => match w.get(&t.name) {
                Some(ps) => ps.clone(),
                None => continue,
            },
            None => (0..t.partitions.len() as i32).collect(),
        };
        let partitions: Vec<DescribeLogDirsPartition> = parts
            .into_iter()
            .filter_map(|p| {
                let log = t.partition(p)?;
                let size = log.size_bytes().map(|b| b as i64).unwrap_or(-1);
                Some(
                    DescribeLogDirsPartition::default()
                        .with_partition_index(p)
                        .with_partition_size(size),
                )
            })
            .collect();
        if !partitions.is_empty() {
            topics.push(
                DescribeLogDirsTopic::default()
                    .with_name(s(t.name.clone()).into())
                    .with_partitions(partitions),
            );
        }
    }
    let dir = broker
        .config()
        .data_dir
        .canonicalize()
        .unwrap_or_else(|_| broker.config().data_dir.clone());
    let mut result = DescribeLogDirsResult::default()
        .with_log_dir(s(dir.display().to_string()))
        .with_topics(topics);
    if version >= 4 {
        // Volume sizes are not measured; Kafka's "unknown" is -1.
        result = result.with_total_bytes(-1).with_usable_bytes(-1);
    }
    DescribeLogDirsResponse::default().with_results(vec![result])
}

/// With one broker there is one leader epoch, 0, and it ends at the log end: a client validating
/// its position after a restart never finds a divergence.
pub fn offset_for_leader_epoch(
    ctx: &Ctx,
    req: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let broker = ctx.broker;
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let topic = broker.topic(t.topic.as_str());
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let r = EpochEndOffset::default().with_partition(p.partition);
                    let found = topic
                        .as_ref()
                        .and_then(|t| t.partition(p.partition))
                        .ok_or(ResponseError::UnknownTopicOrPartition.code())
                        .and_then(|log| check_epoch(p.current_leader_epoch).map(|_| log));
                    match found {
                        Err(code) => r
                            .with_error_code(code)
                            .with_leader_epoch(-1)
                            .with_end_offset(-1),
                        // An epoch we never had, or a future one: undefined, as Kafka answers.
                        Ok(_) if p.leader_epoch != LEADER_EPOCH => {
                            r.with_leader_epoch(-1).with_end_offset(-1)
                        }
                        Ok(log) => r
                            .with_leader_epoch(LEADER_EPOCH)
                            .with_end_offset(log.offsets().high_watermark as i64),
                    }
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic)
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}

pub fn describe_topic_partitions(
    ctx: &Ctx,
    req: DescribeTopicPartitionsRequest,
) -> DescribeTopicPartitionsResponse {
    let broker = ctx.broker;
    let me = BrokerId(broker.node().node_id);
    let limit = req.response_partition_limit.max(1) as usize;
    // An empty topic list means every topic, in name order (the cursor walks that order).
    let mut names: Vec<String> = if req.topics.is_empty() {
        broker.topics().iter().map(|t| t.name.clone()).collect()
    } else {
        let mut n: Vec<String> = req.topics.iter().map(|t| t.name.to_string()).collect();
        n.sort();
        n.dedup();
        n
    };
    let (start_topic, start_partition) = match &req.cursor {
        Some(c) => (Some(c.topic_name.to_string()), c.partition_index.max(0)),
        None => (None, 0),
    };
    if let Some(start) = &start_topic {
        names.retain(|n| n >= start);
    }
    let mut topics = Vec::new();
    let mut budget = limit;
    let mut next_cursor = None;
    for name in names {
        if budget == 0 {
            // The page ended exactly at a topic boundary: the next page starts with this topic.
            next_cursor = Some(
                Cursor::default()
                    .with_topic_name(s(name.clone()).into())
                    .with_partition_index(0),
            );
            break;
        }
        let Some(t) = broker.topic(&name) else {
            topics.push(
                DescribeTopicPartitionsResponseTopic::default()
                    .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                    .with_name(Some(s(name).into()))
                    .with_topic_authorized_operations(NO_OPERATIONS),
            );
            continue;
        };
        let first = if start_topic.as_deref() == Some(name.as_str()) {
            start_partition
        } else {
            0
        };
        let mut partitions = Vec::new();
        for p in first..t.partitions.len() as i32 {
            if budget == 0 {
                next_cursor = Some(
                    Cursor::default()
                        .with_topic_name(s(name.clone()).into())
                        .with_partition_index(p),
                );
                break;
            }
            budget -= 1;
            partitions.push(
                DescribeTopicPartitionsResponsePartition::default()
                    .with_partition_index(p)
                    .with_leader_id(me)
                    .with_leader_epoch(LEADER_EPOCH)
                    .with_replica_nodes(vec![me])
                    .with_isr_nodes(vec![me])
                    .with_eligible_leader_replicas(Some(Vec::new()))
                    .with_last_known_elr(Some(Vec::new())),
            );
        }
        topics.push(
            DescribeTopicPartitionsResponseTopic::default()
                .with_name(Some(s(name).into()))
                .with_topic_id(t.id)
                .with_partitions(partitions)
                .with_topic_authorized_operations(TOPIC_OPERATIONS),
        );
        if next_cursor.is_some() {
            break;
        }
    }
    DescribeTopicPartitionsResponse::default()
        .with_topics(topics)
        .with_next_cursor(next_cursor)
}
