//! DescribeLogDirs: the data directory as the one log dir, with each partition's size.
//!
//! A partition's size is counted by a scan of its store the first time it is asked for (then kept
//! up to date), so the request runs on tokio's blocking pool.
//!
//! Needs DESCRIBE on the cluster.

use std::collections::HashMap;

use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse};

use crate::api::{authz, str_bytes as s, Ctx, Outcome};
use crate::security::acl::AclOperation;

use crate::broker::Broker;

pub fn handle(ctx: &Ctx, req: DescribeLogDirsRequest) -> Outcome {
    let (broker, version) = (ctx.broker.clone(), ctx.version);
    if !ctx.authorize_cluster(AclOperation::Describe) {
        // The top-level error code exists from v3; below it, no log dir at all (as Kafka).
        let code = if version >= 3 {
            authz::CLUSTER_DENIED
        } else {
            0
        };
        return Outcome::now(DescribeLogDirsResponse::default().with_error_code(code));
    }
    Outcome::later(async move {
        match tokio::task::spawn_blocking(move || handle_now(&broker, version, req)).await {
            Ok(response) => response,
            Err(e) => {
                tracing::error!(error = %e, "describing log dirs failed");
                // The top-level error code exists from v3; below it, no log dir at all.
                let code = kafka_protocol::error::ResponseError::UnknownServerError.code();
                DescribeLogDirsResponse::default().with_error_code(if version >= 3 {
                    code
                } else {
                    0
                })
            }
        }
    })
}

/// DescribeLogDirs on the calling thread (blocking: see the module's doc).
fn handle_now(
    broker: &Broker,
    version: i16,
    req: DescribeLogDirsRequest,
) -> DescribeLogDirsResponse {
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
