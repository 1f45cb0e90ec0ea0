//! AlterPartitionReassignments on one broker: the only valid target is this broker alone, a no-op
//! success; other targets fail with Kafka's controller checks (ReplicationControlManager's
//! `validateManualPartitionAssignment`), and a cancel finds no reassignment in progress.
//!
//! Needs ALTER on the cluster (else CLUSTER_AUTHORIZATION_FAILED, whole and per partition).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, BrokerId,
};

use crate::api::{str_bytes, Ctx};
use crate::security::acl::AclOperation;

pub fn handle(
    ctx: &Ctx,
    req: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    let node = ctx.broker.node().node_id;
    let may_alter = ctx.authorize_cluster(AclOperation::Alter);
    let responses = req
        .topics
        .into_iter()
        .map(|t| {
            let topic = ctx.broker.topic(t.name.as_str());
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let index = p.partition_index;
                    // Kafka sets the message of a success to null (the codec's default is "").
                    let r = ReassignablePartitionResponse::default()
                        .with_partition_index(index)
                        .with_error_message(None);
                    let outcome = match &topic {
                        _ if !may_alter => Err((ResponseError::ClusterAuthorizationFailed, None)),
                        None => Err((
                            ResponseError::UnknownTopicOrPartition,
                            Some(format!("Unable to find a topic named {}.", t.name.as_str())),
                        )),
                        Some(topic) if topic.partition(index).is_none() => Err((
                            ResponseError::UnknownTopicOrPartition,
                            Some(format!(
                                "Unable to find partition {}:{index}.",
                                t.name.as_str()
                            )),
                        )),
                        Some(_) => check_target(p.replicas.as_deref(), node),
                    };
                    match outcome {
                        Ok(()) => r,
                        Err((error, message)) => r
                            .with_error_code(error.code())
                            .with_error_message(message.map(str_bytes)),
                    }
                })
                .collect();
            ReassignableTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    let mut resp = AlterPartitionReassignmentsResponse::default()
        .with_error_message(None)
        .with_responses(responses);
    if !may_alter {
        resp.error_code = ResponseError::ClusterAuthorizationFailed.code();
    }
    // v1 (KIP-860) echoes whether the request allowed a replication factor change.
    if ctx.version >= 1 {
        return resp.with_allow_replication_factor_change(req.allow_replication_factor_change);
    }
    resp
}

/// Kafka's checks of a target replica list, in its order, against a cluster of one broker.
/// A refusal's error and message; Kafka 4.4 sends none with NO_REASSIGNMENT_IN_PROGRESS.
fn check_target(
    replicas: Option<&[BrokerId]>,
    node: i32,
) -> Result<(), (ResponseError, Option<String>)> {
    let invalid = |m: String| Err((ResponseError::InvalidReplicaAssignment, Some(m)));
    let Some(replicas) = replicas else {
        return Err((ResponseError::NoReassignmentInProgress, None));
    };
    if replicas.is_empty() {
        return invalid(
            "The manual partition assignment includes an empty replica list.".to_string(),
        );
    }
    let mut sorted: Vec<i32> = replicas.iter().map(|b| b.0).collect();
    sorted.sort_unstable();
    let mut previous = None;
    for id in sorted {
        if id != node {
            return invalid(format!(
                "The manual partition assignment includes broker {id}, but no such broker is registered."
            ));
        }
        if previous == Some(id) {
            return invalid(format!(
                "The manual partition assignment includes the broker {id} more than once."
            ));
        }
        previous = Some(id);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::tests::test_broker;
    use crate::config::Config;
    use kafka_protocol::messages::alter_partition_reassignments_request::{
        ReassignablePartition, ReassignableTopic,
    };
    use kafka_protocol::messages::TopicName;

    fn request(
        topic: &str,
        targets: Vec<(i32, Option<Vec<i32>>)>,
    ) -> AlterPartitionReassignmentsRequest {
        let partitions = targets
            .into_iter()
            .map(|(i, r)| {
                ReassignablePartition::default()
                    .with_partition_index(i)
                    .with_replicas(r.map(|r| r.into_iter().map(BrokerId).collect()))
            })
            .collect();
        AlterPartitionReassignmentsRequest::default()
            .with_topics(vec![ReassignableTopic::default()
                .with_name(TopicName(str_bytes(topic)))
                .with_partitions(partitions)])
    }

    fn codes(resp: &AlterPartitionReassignmentsResponse) -> Vec<(i16, Option<String>)> {
        resp.responses[0]
            .partitions
            .iter()
            .map(|p| {
                (
                    p.error_code,
                    p.error_message.as_ref().map(|m| m.to_string()),
                )
            })
            .collect()
    }

    #[test]
    fn only_this_broker_is_a_valid_target() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        b.create_topic("t", 1, Default::default(), false).unwrap();
        let node = b.node().node_id;
        let resp = handle(
            &Ctx::test(&b, 1),
            request(
                "t",
                vec![
                    (0, Some(vec![node])),
                    (0, Some(vec![node + 1])),
                    (0, Some(vec![node, node])),
                    (0, Some(vec![])),
                    (0, None),
                    (3, Some(vec![node])),
                ],
            ),
        );
        let c = codes(&resp);
        assert_eq!(c[0], (0, None));
        assert_eq!(c[1].0, ResponseError::InvalidReplicaAssignment.code());
        assert!(c[1]
            .1
            .as_ref()
            .unwrap()
            .contains("no such broker is registered"));
        assert!(c[2].1.as_ref().unwrap().contains("more than once"));
        assert!(c[3].1.as_ref().unwrap().contains("empty replica list"));
        assert_eq!(c[4], (ResponseError::NoReassignmentInProgress.code(), None));
        assert_eq!(c[5].0, ResponseError::UnknownTopicOrPartition.code());
        let unknown = handle(&Ctx::test(&b, 0), request("nope", vec![(0, None)]));
        assert_eq!(
            codes(&unknown)[0],
            (
                ResponseError::UnknownTopicOrPartition.code(),
                Some("Unable to find a topic named nope.".to_string())
            )
        );
    }
}
