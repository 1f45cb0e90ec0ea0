//! ElectLeaders on one broker: every partition already has its preferred leader (this broker), so
//! an election is never needed, as Kafka's controller decides (ReplicationControlManager's
//! `electLeaders`): ELECTION_NOT_NEEDED (with the error's message) for each named partition,
//! and, when every partition is asked for (`topic_partitions` null), every topic listed with no partition results, because
//! Kafka leaves out the partitions that need no election.
//!
//! Needs ALTER on the cluster.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse, TopicName};

use crate::api::{str_bytes, Ctx};
use crate::security::acl::AclOperation;

/// Kafka's message for ELECTION_NOT_NEEDED (`Errors.ELECTION_NOT_NEEDED.message()`).
const NOT_NEEDED: &str = "Leader election not needed for topic partition.";

pub fn handle(ctx: &Ctx, req: ElectLeadersRequest) -> ElectLeadersResponse {
    if !ctx.authorize_cluster(AclOperation::Alter) {
        let mut r = refuse_all(
            &req,
            ResponseError::ClusterAuthorizationFailed,
            "Cluster authorization failed.".to_string(),
        );
        // v0 has no top-level error.
        if ctx.version == 0 {
            r.error_code = 0;
        }
        return r;
    }
    // v0 has no election type: it means preferred (0). Unclean is 1.
    if ctx.version >= 1 && !matches!(req.election_type, 0 | 1) {
        return refuse_all(
            &req,
            ResponseError::InvalidRequest,
            format!("Unknown election type {}", req.election_type),
        );
    }
    let results = match req.topic_partitions {
        None => ctx
            .broker
            .topics()
            .into_iter()
            .map(|t| {
                ReplicaElectionResult::default().with_topic(TopicName(str_bytes(t.name.clone())))
            })
            .collect(),
        Some(topics) => topics
            .into_iter()
            .map(|t| {
                let topic = ctx.broker.topic(t.topic.as_str());
                let partition_result = t
                    .partitions
                    .iter()
                    .map(|&p| {
                        let r = PartitionResult::default().with_partition_id(p);
                        let (error, message) = match &topic {
                            None => (
                                ResponseError::UnknownTopicOrPartition,
                                Some(format!("No such topic as {}", t.topic.as_str())),
                            ),
                            Some(topic) if topic.partition(p).is_none() => (
                                ResponseError::UnknownTopicOrPartition,
                                Some(format!("No such partition as {}-{p}", t.topic.as_str())),
                            ),
                            // Kafka 4.4 sends the error's own message here.
                            Some(_) => (
                                ResponseError::ElectionNotNeeded,
                                Some(NOT_NEEDED.to_string()),
                            ),
                        };
                        r.with_error_code(error.code())
                            .with_error_message(message.map(str_bytes))
                    })
                    .collect();
                ReplicaElectionResult::default()
                    .with_topic(t.topic)
                    .with_partition_result(partition_result)
            })
            .collect(),
    };
    ElectLeadersResponse::default().with_replica_election_results(results)
}

/// Kafka's `ElectLeadersRequest.getErrorResponse`: the error at the top and on every partition.
fn refuse_all(
    req: &ElectLeadersRequest,
    error: ResponseError,
    message: String,
) -> ElectLeadersResponse {
    let results = req
        .topic_partitions
        .iter()
        .flatten()
        .map(|t| {
            ReplicaElectionResult::default()
                .with_topic(t.topic.clone())
                .with_partition_result(
                    t.partitions
                        .iter()
                        .map(|&p| {
                            PartitionResult::default()
                                .with_partition_id(p)
                                .with_error_code(error.code())
                                .with_error_message(Some(str_bytes(message.clone())))
                        })
                        .collect(),
                )
        })
        .collect();
    ElectLeadersResponse::default()
        .with_error_code(error.code())
        .with_replica_election_results(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::tests::test_broker;
    use crate::config::Config;
    use kafka_protocol::messages::elect_leaders_request::TopicPartitions;

    fn named(topic: &str, partitions: Vec<i32>) -> ElectLeadersRequest {
        ElectLeadersRequest::default().with_topic_partitions(Some(vec![TopicPartitions::default()
            .with_topic(TopicName(str_bytes(topic)))
            .with_partitions(partitions)]))
    }

    #[test]
    fn never_needed_on_one_broker() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        b.create_topic("t", 2, Default::default(), false).unwrap();
        let resp = handle(&Ctx::test(&b, 2), named("t", vec![0, 1, 5]));
        let codes: Vec<_> = resp.replica_election_results[0]
            .partition_result
            .iter()
            .map(|p| p.error_code)
            .collect();
        let not_needed = ResponseError::ElectionNotNeeded.code();
        let unknown = ResponseError::UnknownTopicOrPartition.code();
        assert_eq!(codes, vec![not_needed, not_needed, unknown]);
        let resp = handle(&Ctx::test(&b, 2), named("nope", vec![0]));
        let p = &resp.replica_election_results[0].partition_result[0];
        assert_eq!(p.error_code, unknown);
        assert_eq!(p.error_message.as_deref(), Some("No such topic as nope"));
    }

    #[test]
    fn all_partitions_lists_topics_without_results() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        b.create_topic("t", 2, Default::default(), false).unwrap();
        let resp = handle(
            &Ctx::test(&b, 0),
            ElectLeadersRequest::default().with_topic_partitions(None),
        );
        assert_eq!(resp.replica_election_results.len(), 1);
        assert_eq!(resp.replica_election_results[0].topic.as_str(), "t");
        assert!(resp.replica_election_results[0].partition_result.is_empty());
    }

    #[test]
    fn unknown_election_type_is_invalid() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        let resp = handle(&Ctx::test(&b, 1), named("t", vec![0]).with_election_type(7));
        assert_eq!(resp.error_code, ResponseError::InvalidRequest.code());
        assert_eq!(
            resp.replica_election_results[0].partition_result[0].error_code,
            ResponseError::InvalidRequest.code()
        );
    }
}
