//! OffsetFetch: a group's committed positions, in the single-group form (v1-7) and the
//! multi-group form (v8+). A partition without a commit answers offset -1, as Kafka does.

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse};
use kafka_protocol::protocol::StrBytes;

use crate::api::Ctx;
use crate::store::CommittedOffset;

type Wanted = Option<Vec<(String, Vec<i32>)>>;
type Found = Vec<crate::coordinator::group::TopicOffsets>;

/// "No committed offset": offset -1, leader epoch -1, empty metadata, as Kafka answers.
fn parts(
    found: Vec<(i32, Option<CommittedOffset>)>,
) -> impl Iterator<Item = (i32, i64, i32, String)> {
    found.into_iter().map(|(p, c)| match c {
        Some(c) => (p, c.offset, c.leader_epoch, c.metadata.unwrap_or_default()),
        None => (p, -1, -1, String::new()),
    })
}

pub fn handle(ctx: &Ctx, req: OffsetFetchRequest) -> OffsetFetchResponse {
    let (broker, version) = (ctx.broker, ctx.version);
    if version >= 8 {
        let groups = req
            .groups
            .into_iter()
            .map(|g| {
                let wanted: Wanted = g.topics.map(|ts| {
                    ts.into_iter()
                        .map(|t| (t.name.to_string(), t.partition_indexes))
                        .collect()
                });
                let found: Found = broker.groups().fetch_offsets(g.group_id.as_str(), wanted);
                let topics = found
                    .into_iter()
                    .map(|(topic, found)| {
                        OffsetFetchResponseTopics::default()
                            .with_name(StrBytes::from_string(topic).into())
                            .with_partitions(
                                parts(found)
                                    .map(|(p, offset, epoch, meta)| {
                                        OffsetFetchResponsePartitions::default()
                                            .with_partition_index(p)
                                            .with_committed_offset(offset)
                                            .with_committed_leader_epoch(epoch)
                                            .with_metadata(Some(StrBytes::from_string(meta)))
                                    })
                                    .collect(),
                            )
                    })
                    .collect();
                OffsetFetchResponseGroup::default()
                    .with_group_id(g.group_id)
                    .with_topics(topics)
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let wanted: Wanted = req.topics.map(|ts| {
        ts.into_iter()
            .map(|t| (t.name.to_string(), t.partition_indexes))
            .collect()
    });
    let found: Found = broker.groups().fetch_offsets(req.group_id.as_str(), wanted);
    let topics = found
        .into_iter()
        .map(|(topic, found)| {
            OffsetFetchResponseTopic::default()
                .with_name(StrBytes::from_string(topic).into())
                .with_partitions(
                    parts(found)
                        .map(|(p, offset, epoch, meta)| {
                            let r = OffsetFetchResponsePartition::default()
                                .with_partition_index(p)
                                .with_committed_offset(offset)
                                .with_metadata(Some(StrBytes::from_string(meta)));
                            if version >= 5 {
                                r.with_committed_leader_epoch(epoch)
                            } else {
                                r
                            }
                        })
                        .collect(),
                )
        })
        .collect();
    OffsetFetchResponse::default().with_topics(topics)
}
