//! Committed offsets: OffsetCommit, OffsetFetch (single- and multi-group forms), OffsetDelete.
//!
//! A commit is answered only after the store flushed it (sharing the flush with concurrent
//! requests), so an acknowledged commit survives a crash.

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetDeleteRequest, OffsetDeleteResponse,
    OffsetFetchRequest, OffsetFetchResponse, ResponseKind,
};
use kafka_protocol::protocol::StrBytes;

use crate::api::{Ctx, Outcome};
use crate::store::CommittedOffset;

pub fn commit(ctx: &Ctx, req: OffsetCommitRequest) -> Outcome {
    let (broker, version) = (ctx.broker, ctx.version);
    let now = crate::now_ms();
    let offsets: Vec<(String, i32, CommittedOffset)> = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(move |p| {
                (
                    t.name.to_string(),
                    p.partition_index,
                    CommittedOffset {
                        offset: p.committed_offset,
                        leader_epoch: if version >= 6 {
                            p.committed_leader_epoch
                        } else {
                            -1
                        },
                        metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                        commit_timestamp_ms: now,
                    },
                )
            })
        })
        .collect();
    let exists = |topic: &str, p: i32| {
        broker
            .topic(topic)
            .is_some_and(|t| t.partition(p).is_some())
    };
    let result = broker.groups().commit(
        req.group_id.as_str(),
        req.generation_id_or_member_epoch,
        req.member_id.as_str(),
        req.group_instance_id.as_deref(),
        offsets,
        exists,
    );
    let any_written = matches!(&result, Ok(codes) if codes.contains(&0));
    let mut codes = match result {
        Ok(codes) => codes.into_iter(),
        Err(code) => vec![code; req.topics.iter().map(|t| t.partitions.len()).sum()].into_iter(),
    };
    let response = OffsetCommitResponse::default().with_topics(
        req.topics
            .into_iter()
            .map(|t| {
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        OffsetCommitResponsePartition::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(codes.next().unwrap_or_default())
                    })
                    .collect();
                OffsetCommitResponseTopic::default()
                    .with_name(t.name)
                    .with_partitions(partitions)
            })
            .collect(),
    );
    if !any_written {
        return Outcome::now(ResponseKind::OffsetCommit(response));
    }
    crate::api::after_flush(broker, response, |r: &mut OffsetCommitResponse| {
        for p in r.topics.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
            if p.error_code == 0 {
                p.error_code = crate::api::STORAGE_ERROR;
            }
        }
    })
}

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

pub fn fetch(ctx: &Ctx, req: OffsetFetchRequest) -> OffsetFetchResponse {
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

pub fn delete(ctx: &Ctx, req: OffsetDeleteRequest) -> OffsetDeleteResponse {
    let broker = ctx.broker;
    let wanted: Vec<(String, i32)> = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| (t.name.to_string(), p.partition_index))
        })
        .collect();
    match broker
        .groups()
        .delete_offsets(req.group_id.as_str(), &wanted)
    {
        Err(code) => OffsetDeleteResponse::default().with_error_code(code),
        Ok(codes) => {
            let mut codes = codes.into_iter();
            OffsetDeleteResponse::default().with_topics(
                req.topics
                    .into_iter()
                    .map(|t| {
                        let partitions = t
                            .partitions
                            .iter()
                            .map(|p| {
                                OffsetDeleteResponsePartition::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(codes.next().unwrap_or_default())
                            })
                            .collect();
                        OffsetDeleteResponseTopic::default()
                            .with_name(t.name)
                            .with_partitions(partitions)
                    })
                    .collect(),
            )
        }
    }
}
