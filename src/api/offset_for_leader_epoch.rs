//! OffsetForLeaderEpoch (KIP-320): the end offset of a leader epoch, which clients ask to
//! validate their position after a leader change or a restart. One broker has one epoch.

use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use crate::api::authz;
use crate::api::fetch::check_epoch;
use crate::api::{self, Ctx};
use crate::log::LEADER_EPOCH;
use crate::security::acl::{AclOperation, ResourceType};

/// With one broker there is one leader epoch, 0, and it ends at the log end: a client validating
/// its position after a restart never finds a divergence.
pub fn handle(ctx: &Ctx, req: OffsetForLeaderEpochRequest) -> OffsetForLeaderEpochResponse {
    let broker = ctx.broker;
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let topic = broker.topic(t.topic.as_str());
            let may_describe = ctx.authorize(AclOperation::Describe, ResourceType::Topic, &t.topic);
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let r = EpochEndOffset::default().with_partition(p.partition);
                    let found = if may_describe {
                        api::partition(topic.as_ref(), p.partition)
                            .and_then(|log| check_epoch(p.current_leader_epoch).map(|_| log))
                    } else {
                        Err(authz::TOPIC_DENIED)
                    };
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
