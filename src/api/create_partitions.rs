//! CreatePartitions: adds partitions to existing topics; the count can only grow.

use std::collections::HashMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use crate::api::{error, str_bytes as s, Ctx};

pub fn handle(ctx: &Ctx, req: CreatePartitionsRequest) -> CreatePartitionsResponse {
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
                    .map_err(|e| (error::code(&e, "CreatePartitions"), e.to_string()))
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
