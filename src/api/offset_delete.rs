//! OffsetDelete: removes a group's committed offsets for partitions it no longer consumes.

use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use crate::api::Ctx;

pub fn handle(ctx: &Ctx, req: OffsetDeleteRequest) -> OffsetDeleteResponse {
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
