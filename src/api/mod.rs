//! Request handlers, one module per API family. Each handler is a plain function from a decoded
//! request to a response, so it can be tested without a socket. Handlers that must wait (acks=all
//! durability, Fetch long polls) do their ordered work at once and return the waiting part as a
//! future; the connection spawns it and still writes responses in request order.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use kafka_protocol::messages::{RequestKind, ResponseKind};

use crate::broker::Broker;
use crate::protocol::Request;

pub mod admin;
pub mod api_versions;
pub mod configs;
pub mod fetch;
pub mod groups;
pub mod list_offsets;
pub mod metadata;
pub mod offsets;
pub mod produce;
pub mod producer_id;
pub mod topics;

/// Authorized-operation bitfields for clients that ask (KIP-430). There is no authorizer, so every
/// operation a resource type supports is allowed; these are the values Kafka sends without one.
/// Topic: READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS.
pub const TOPIC_OPERATIONS: i32 = 0x0DF8;
/// Cluster: CREATE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE.
pub const CLUSTER_OPERATIONS: i32 = 0x1FA0;
/// Group: READ, DELETE, DESCRIBE.
pub const GROUP_OPERATIONS: i32 = 0x0148;
/// "Not requested".
pub const NO_OPERATIONS: i32 = i32::MIN;

pub type ResponseFuture = Pin<Box<dyn Future<Output = Response> + Send + 'static>>;

/// A response body ready to encode.
pub enum Response {
    Kind(ResponseKind),
    /// Fetch keeps its record bytes apart from the message so they are never copied.
    Fetch(fetch::Fetched),
}

impl From<ResponseKind> for Response {
    fn from(kind: ResponseKind) -> Response {
        Response::Kind(kind)
    }
}

/// What a handler gives back to the connection. It is built and moved once per request, so the
/// size of the `Now` variant costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
pub enum Reply {
    /// A response ready to encode.
    Now(ResponseKind),
    /// A Fetch response ready to encode.
    Fetched(fetch::Fetched),
    /// A response that becomes ready later; the connection polls it concurrently with later requests.
    Later(ResponseFuture),
    /// No response at all (Produce with acks=0).
    Nothing,
    /// No response, and the connection must close: how Kafka reports a failed acks=0 produce.
    Close(String),
}

/// Answers once everything written so far is on disk (sharing the flush with concurrent
/// requests). If the flush fails, `mark_failed` turns the response's successes into
/// KAFKA_STORAGE_ERROR: what was acknowledged must be durable.
pub fn after_flush<R: Send + 'static>(
    broker: &Broker,
    response: R,
    mark_failed: fn(&mut R),
    wrap: fn(R) -> ResponseKind,
) -> Reply {
    let store = broker.store().clone();
    Reply::Later(Box::pin(async move {
        let mut response = response;
        if let Err(e) = store.sync().await {
            tracing::error!(error = %e, "could not make the request's writes durable");
            mark_failed(&mut response);
        }
        wrap(response).into()
    }))
}

/// The error code for a write that did not become durable.
pub const STORAGE_ERROR: i16 = kafka_protocol::error::ResponseError::KafkaStorageError.code();

/// Routes a parsed request to its handler. `protocol::parse_frame` only lets through APIs in our
/// version table, so every other variant here is unreachable in practice; it is still answered by
/// closing the connection rather than panicking.
pub fn dispatch(broker: &Broker, req: Request, peer: SocketAddr) -> Reply {
    let version = req.version();
    let client_id = req
        .header
        .client_id
        .as_deref()
        .unwrap_or_default()
        .to_string();
    match req.body {
        RequestKind::ApiVersions(r) => {
            Reply::Now(ResponseKind::ApiVersions(api_versions::handle(&r, version)))
        }
        RequestKind::Metadata(r) => {
            Reply::Now(ResponseKind::Metadata(metadata::handle(broker, r, version)))
        }
        RequestKind::Produce(r) => produce::handle(broker, r, version),
        RequestKind::Fetch(r) => fetch::handle(broker, r, version),
        RequestKind::ListOffsets(r) => Reply::Now(ResponseKind::ListOffsets(list_offsets::handle(
            broker, r, version,
        ))),
        RequestKind::CreateTopics(r) => Reply::Now(ResponseKind::CreateTopics(topics::create(
            broker, r, version,
        ))),
        RequestKind::DeleteTopics(r) => Reply::Now(ResponseKind::DeleteTopics(topics::delete(
            broker, r, version,
        ))),
        RequestKind::FindCoordinator(r) => Reply::Now(ResponseKind::FindCoordinator(
            groups::find_coordinator(broker, r, version),
        )),
        RequestKind::JoinGroup(r) => groups::join(broker, r, version, peer, &client_id),
        RequestKind::SyncGroup(r) => groups::sync(broker, r, version),
        RequestKind::Heartbeat(r) => {
            Reply::Now(ResponseKind::Heartbeat(groups::heartbeat(broker, r)))
        }
        RequestKind::LeaveGroup(r) => {
            Reply::Now(ResponseKind::LeaveGroup(groups::leave(broker, r, version)))
        }
        RequestKind::ListGroups(r) => {
            Reply::Now(ResponseKind::ListGroups(groups::list(broker, r, version)))
        }
        RequestKind::DescribeGroups(r) => Reply::Now(ResponseKind::DescribeGroups(
            groups::describe(broker, r, version),
        )),
        RequestKind::DeleteGroups(r) => {
            Reply::Now(ResponseKind::DeleteGroups(groups::delete(broker, r)))
        }
        RequestKind::OffsetCommit(r) => offsets::commit(broker, r, version),
        RequestKind::OffsetFetch(r) => Reply::Now(ResponseKind::OffsetFetch(offsets::fetch(
            broker, r, version,
        ))),
        RequestKind::OffsetDelete(r) => {
            Reply::Now(ResponseKind::OffsetDelete(offsets::delete(broker, r)))
        }
        RequestKind::CreatePartitions(r) => Reply::Now(ResponseKind::CreatePartitions(
            admin::create_partitions(broker, r),
        )),
        RequestKind::DeleteRecords(r) => admin::delete_records(broker, r),
        RequestKind::DescribeCluster(r) => Reply::Now(ResponseKind::DescribeCluster(
            admin::describe_cluster(broker, r, version),
        )),
        RequestKind::DescribeLogDirs(r) => Reply::Now(ResponseKind::DescribeLogDirs(
            admin::describe_log_dirs(broker, r, version),
        )),
        RequestKind::OffsetForLeaderEpoch(r) => Reply::Now(ResponseKind::OffsetForLeaderEpoch(
            admin::offset_for_leader_epoch(broker, r),
        )),
        RequestKind::DescribeTopicPartitions(r) => Reply::Now(
            ResponseKind::DescribeTopicPartitions(admin::describe_topic_partitions(broker, r)),
        ),
        RequestKind::InitProducerId(r) => Reply::Now(ResponseKind::InitProducerId(
            producer_id::init_producer_id(broker, r),
        )),
        RequestKind::DescribeConfigs(r) => Reply::Now(ResponseKind::DescribeConfigs(
            configs::describe(broker, r, version),
        )),
        RequestKind::AlterConfigs(r) => {
            Reply::Now(ResponseKind::AlterConfigs(configs::alter(broker, r)))
        }
        RequestKind::IncrementalAlterConfigs(r) => Reply::Now(
            ResponseKind::IncrementalAlterConfigs(configs::incremental_alter(broker, r)),
        ),
        _ => Reply::Close(format!("no handler for {:?}", req.api_key)),
    }
}
