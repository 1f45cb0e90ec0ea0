//! ListPartitionReassignments: on one broker no reassignment is ever in progress (AlterPartition-
//! Reassignments can only keep a partition where it is), so the answer lists nothing. Kafka's
//! controller answers the same for partitions without one, skipping unknown topics silently.
//!
//! Needs DESCRIBE on the cluster.

use kafka_protocol::messages::{
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
};

use crate::api::{authz, Ctx};
use crate::security::acl::AclOperation;

pub fn handle(
    ctx: &Ctx,
    _req: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    // Kafka sets the message to null (the codec's default is "").
    let r = ListPartitionReassignmentsResponse::default().with_error_message(None);
    if ctx.authorize_cluster(AclOperation::Describe) {
        r
    } else {
        r.with_error_code(authz::CLUSTER_DENIED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::tests::test_broker;
    use crate::config::Config;
    use kafka_protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
    use kafka_protocol::messages::TopicName;

    #[test]
    fn nothing_in_progress_for_all_named_or_unknown_topics() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        b.create_topic("t", 2, Default::default(), false).unwrap();
        let all = handle(
            &Ctx::test(&b, 0),
            ListPartitionReassignmentsRequest::default(),
        );
        assert_eq!((all.error_code, all.topics.len()), (0, 0));
        let named = ListPartitionReassignmentsRequest::default().with_topics(Some(
            ["t", "unknown"]
                .into_iter()
                .map(|n| {
                    ListPartitionReassignmentsTopics::default()
                        .with_name(TopicName(crate::api::str_bytes(n)))
                        .with_partition_indexes(vec![0, 1, 7])
                })
                .collect(),
        ));
        let resp = handle(&Ctx::test(&b, 0), named);
        assert_eq!((resp.error_code, resp.topics.len()), (0, 0));
    }
}
