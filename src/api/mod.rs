//! Request handlers, one module per API or small family, and the dispatcher that routes to them.
//!
//! Every handler has one signature: `fn(&Ctx, XRequest) -> impl IntoOutcome`, a plain function from
//! a decoded request to a response, testable without a socket. Most return their response message
//! directly; handlers that must wait (acks=all durability, Fetch long polls, a group rebalance) do
//! their ordered work at once and return the waiting part as an [`Outcome::Later`] future, which the
//! connection polls while it reads on, still writing responses in request order.
//!
//! The one list in the `apis!` invocation below names each API's handler and the versions it implements fully:
//! the dispatcher and the version table ApiVersions advertises are both generated from it, so an API
//! is advertised exactly when it has a handler.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};

use crate::broker::{Broker, Topic};
use crate::log::PartitionLog;
use crate::protocol::{FetchBody, ResponseBody, VersionTable};
use crate::security::Session;

pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod alter_client_quotas;
pub mod alter_partition_reassignments;
pub mod api_versions;
pub mod authz;
pub mod configs;
pub mod consumer_group_describe;
pub mod consumer_group_heartbeat;
pub mod create_acls;
pub mod create_partitions;
pub mod delete_acls;
pub mod delete_groups;
pub mod delete_records;
pub mod describe_acls;
pub mod describe_client_quotas;
pub mod describe_cluster;
pub mod describe_groups;
pub mod describe_log_dirs;
pub mod describe_producers;
pub mod describe_quorum;
pub mod describe_topic_partitions;
pub mod describe_transactions;
pub mod elect_leaders;
pub mod end_txn;
pub mod error;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod list_partition_reassignments;
pub mod list_transactions;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod produce;
pub mod sasl;
pub mod scram_credentials;
pub mod share_acknowledge;
pub mod share_fetch;
pub mod share_group_describe;
pub mod share_group_heartbeat;
pub mod share_group_offsets;
pub mod sync_group;
pub mod topics;
pub mod txn_offset_commit;
pub mod write_txn_markers;

/// What every handler is given besides its request: the broker, the request's version, and who
/// asked.
pub struct Ctx<'a> {
    pub broker: &'a Broker,
    pub version: i16,
    pub client_id: &'a str,
    /// The request's size on the wire (what `producer_byte_rate` counts).
    pub request_bytes: usize,
    pub peer: SocketAddr,
    /// Who the client is (its principal) and which listener it came through.
    pub session: &'a Session,
    /// Response bytes a Fetch may use now, asked again each time it reads (see [`ResponseRoom`]).
    pub response_room: ResponseRoom,
}

impl Ctx<'_> {
    /// Whether this request's client may do `operation` on the resource (see
    /// [`crate::security::acl::Authorizer::authorize`]).
    pub fn authorize(
        &self,
        operation: crate::security::acl::AclOperation,
        resource_type: crate::security::acl::ResourceType,
        name: &str,
    ) -> bool {
        self.broker
            .authorizer()
            .authorize(self.session, operation, resource_type, name)
    }
}

/// How many response bytes may still be held for clients: the network layer's budget of responses
/// waiting to be written, as a Fetch sees it. It shrinks Fetch responses, never below one batch.
pub type ResponseRoom = std::sync::Arc<dyn Fn() -> usize + Send + Sync>;

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

/// A request's partition, resolved as Kafka does: UNKNOWN_TOPIC_OR_PARTITION when the topic (looked
/// up once per topic of the request) or the partition does not exist.
pub fn partition(topic: Option<&Arc<Topic>>, index: i32) -> Result<&Arc<PartitionLog>, i16> {
    topic
        .and_then(|t| t.partition(index))
        .ok_or(ResponseError::UnknownTopicOrPartition.code())
}

/// A protocol string from any string.
pub fn str_bytes(v: impl Into<String>) -> kafka_protocol::protocol::StrBytes {
    kafka_protocol::protocol::StrBytes::from_string(v.into())
}

/// A response that becomes ready later.
pub type ResponseFuture = Pin<Box<dyn Future<Output = ResponseBody> + Send + 'static>>;

/// What a handler gives back to the connection. It is built and moved once per request, so the
/// size of the `Now` variant costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
pub enum Outcome {
    /// A response ready to encode.
    Now(ResponseBody),
    /// A response that becomes ready later; the connection polls it concurrently with later requests.
    Later(ResponseFuture),
    /// No response at all (Produce with acks=0).
    Nothing,
    /// No response, and the connection must close: how Kafka reports a failed acks=0 produce.
    Close(String),
}

impl Outcome {
    /// A response ready now.
    pub fn now(response: impl Into<ResponseKind>) -> Outcome {
        Outcome::Now(ResponseBody::Kind(response.into()))
    }

    /// The waiting part of a handler, as a future of its response message.
    pub fn later<R: Into<ResponseKind>>(fut: impl Future<Output = R> + Send + 'static) -> Outcome {
        Outcome::Later(Box::pin(
            async move { ResponseBody::Kind(fut.await.into()) },
        ))
    }
}

/// Turns what a handler returns into an [`Outcome`]: an [`Outcome`] itself, any response message
/// (ready now), or a Fetch body.
pub trait IntoOutcome {
    fn into_outcome(self) -> Outcome;
}

impl IntoOutcome for Outcome {
    fn into_outcome(self) -> Outcome {
        self
    }
}

impl<R: Into<ResponseKind>> IntoOutcome for R {
    fn into_outcome(self) -> Outcome {
        Outcome::Now(ResponseBody::Kind(self.into()))
    }
}

impl IntoOutcome for FetchBody {
    fn into_outcome(self) -> Outcome {
        Outcome::Now(ResponseBody::Fetch(self))
    }
}

/// Answers once everything written so far is durable (sharing the flush with concurrent requests).
/// If it does not become durable, `mark_failed` turns the response's successes into
/// KAFKA_STORAGE_ERROR: what was acknowledged must be durable.
pub fn after_flush<R: Into<ResponseKind> + Send + 'static>(
    broker: &Broker,
    response: R,
    mark_failed: fn(&mut R),
) -> Outcome {
    let durable = broker.durable();
    Outcome::later(async move {
        let mut response = response;
        if let Err(e) = durable.await {
            tracing::error!(error = %e, "could not make the request's writes durable");
            mark_failed(&mut response);
        }
        response
    })
}

/// Generates, from one list of `ApiName min..=max => handler`, the version table and the
/// dispatcher.
macro_rules! apis {
    ($($key:ident $min:literal ..= $max:literal => $handler:path,)*) => {
        /// Every API and version range Sluice implements fully. ApiVersions advertises exactly
        /// this, and a request outside it is refused before its body is decoded.
        pub const SUPPORTED_APIS: &VersionTable = &[$((ApiKey::$key, $min, $max),)*];

        /// Routes a parsed request to its handler. `protocol::parse_frame` lets only the APIs of
        /// [`SUPPORTED_APIS`] through, so the last arm is unreachable in practice; it still closes
        /// the connection rather than panicking.
        pub fn dispatch(ctx: &Ctx, body: RequestKind) -> Outcome {
            match body {
                $(RequestKind::$key(r) => $handler(ctx, r).into_outcome(),)*
                // The request span names the API; its body (a Produce can be megabytes) is not logged.
                _ => Outcome::Close("no handler for this API".to_string()),
            }
        }
    };
}

apis! {
    Produce 3..=12 => produce::handle,
    Fetch 4..=16 => fetch::handle,
    ListOffsets 1..=10 => list_offsets::handle,
    Metadata 0..=12 => metadata::handle,
    ApiVersions 0..=3 => api_versions::handle,
    CreateTopics 2..=7 => topics::create,
    DeleteTopics 1..=6 => topics::delete,
    FindCoordinator 0..=4 => find_coordinator::handle,
    JoinGroup 0..=9 => join_group::handle,
    SyncGroup 0..=5 => sync_group::handle,
    Heartbeat 0..=4 => heartbeat::handle,
    LeaveGroup 0..=5 => leave_group::handle,
    OffsetCommit 2..=9 => offset_commit::handle,
    OffsetFetch 1..=9 => offset_fetch::handle,
    ListGroups 0..=5 => list_groups::handle,
    DescribeGroups 0..=5 => describe_groups::handle,
    DeleteGroups 0..=2 => delete_groups::handle,
    OffsetDelete 0..=0 => offset_delete::handle,
    CreatePartitions 0..=3 => create_partitions::handle,
    DeleteRecords 0..=2 => delete_records::handle,
    DescribeCluster 0..=1 => describe_cluster::handle,
    DescribeLogDirs 1..=4 => describe_log_dirs::handle,
    OffsetForLeaderEpoch 2..=4 => offset_for_leader_epoch::handle,
    DescribeTopicPartitions 0..=0 => describe_topic_partitions::handle,
    InitProducerId 0..=5 => init_producer_id::handle,
    DescribeConfigs 1..=4 => configs::describe,
    AlterConfigs 0..=2 => configs::alter,
    IncrementalAlterConfigs 0..=1 => configs::incremental_alter,
    DescribeAcls 1..=3 => describe_acls::handle,
    CreateAcls 1..=3 => create_acls::handle,
    DeleteAcls 1..=3 => delete_acls::handle,
    ElectLeaders 0..=2 => elect_leaders::handle,
    AlterPartitionReassignments 0..=1 => alter_partition_reassignments::handle,
    ListPartitionReassignments 0..=0 => list_partition_reassignments::handle,
    DescribeClientQuotas 0..=1 => describe_client_quotas::handle,
    AlterClientQuotas 0..=1 => alter_client_quotas::handle,
    DescribeQuorum 0..=2 => describe_quorum::handle,
    DescribeProducers 0..=0 => describe_producers::handle,
    AddPartitionsToTxn 0..=5 => add_partitions_to_txn::handle,
    AddOffsetsToTxn 0..=4 => add_offsets_to_txn::handle,
    EndTxn 0..=5 => end_txn::handle,
    TxnOffsetCommit 0..=5 => txn_offset_commit::handle,
    WriteTxnMarkers 1..=1 => write_txn_markers::handle,
    DescribeTransactions 0..=0 => describe_transactions::handle,
    ListTransactions 0..=2 => list_transactions::handle,
    ConsumerGroupHeartbeat 0..=1 => consumer_group_heartbeat::handle,
    ConsumerGroupDescribe 0..=1 => consumer_group_describe::handle,
    ShareFetch 1..=2 => share_fetch::handle,
    ShareAcknowledge 1..=2 => share_acknowledge::handle,
    DescribeShareGroupOffsets 0..=0 => share_group_offsets::describe,
    AlterShareGroupOffsets 0..=0 => share_group_offsets::alter,
    DeleteShareGroupOffsets 0..=0 => share_group_offsets::delete,
    ShareGroupHeartbeat 1..=1 => share_group_heartbeat::handle,
    ShareGroupDescribe 1..=1 => share_group_describe::handle,
    // v0 is advertised only because librdkafka before 2.x's latest detects SASL support by it (its
    // feature map asks for SaslHandshake v0); a v0 handshake, which means raw unframed tokens
    // afterwards, closes the connection (net::sasl). Clients that can use v1 do.
    SaslHandshake 0..=1 => sasl::handshake,
    SaslAuthenticate 0..=2 => sasl::authenticate,
    DescribeUserScramCredentials 0..=0 => scram_credentials::describe,
    AlterUserScramCredentials 0..=0 => scram_credentials::alter,
}

#[cfg(test)]
impl<'a> Ctx<'a> {
    /// A context for calling a handler directly in a unit test.
    pub fn test(broker: &'a Broker, version: i16) -> Ctx<'a> {
        Ctx {
            broker,
            version,
            client_id: "test",
            request_bytes: 0,
            peer: SocketAddr::from(([127, 0, 0, 1], 1)),
            // Leaked: a few bytes per unit test, for a context as long-lived as a connection's.
            session: Box::leak(Box::new(Session::anonymous(
                std::sync::Arc::new(crate::broker::tests::test_listener()),
                std::net::Ipv4Addr::LOCALHOST.into(),
            ))),
            response_room: std::sync::Arc::new(|| usize::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_within_what_the_codec_supports() {
        use kafka_protocol::messages::*;
        use kafka_protocol::protocol::Message;
        for &(key, min, max) in SUPPORTED_APIS {
            let codec = match key {
                ApiKey::Produce => ProduceRequest::VERSIONS,
                ApiKey::Fetch => FetchRequest::VERSIONS,
                ApiKey::ListOffsets => ListOffsetsRequest::VERSIONS,
                ApiKey::Metadata => MetadataRequest::VERSIONS,
                ApiKey::ApiVersions => ApiVersionsRequest::VERSIONS,
                ApiKey::CreateTopics => CreateTopicsRequest::VERSIONS,
                ApiKey::DeleteTopics => DeleteTopicsRequest::VERSIONS,
                ApiKey::FindCoordinator => FindCoordinatorRequest::VERSIONS,
                ApiKey::JoinGroup => JoinGroupRequest::VERSIONS,
                ApiKey::SyncGroup => SyncGroupRequest::VERSIONS,
                ApiKey::Heartbeat => HeartbeatRequest::VERSIONS,
                ApiKey::LeaveGroup => LeaveGroupRequest::VERSIONS,
                ApiKey::OffsetCommit => OffsetCommitRequest::VERSIONS,
                ApiKey::OffsetFetch => OffsetFetchRequest::VERSIONS,
                ApiKey::ListGroups => ListGroupsRequest::VERSIONS,
                ApiKey::DescribeGroups => DescribeGroupsRequest::VERSIONS,
                ApiKey::DeleteGroups => DeleteGroupsRequest::VERSIONS,
                ApiKey::OffsetDelete => OffsetDeleteRequest::VERSIONS,
                ApiKey::CreatePartitions => CreatePartitionsRequest::VERSIONS,
                ApiKey::DeleteRecords => DeleteRecordsRequest::VERSIONS,
                ApiKey::DescribeCluster => DescribeClusterRequest::VERSIONS,
                ApiKey::DescribeLogDirs => DescribeLogDirsRequest::VERSIONS,
                ApiKey::OffsetForLeaderEpoch => OffsetForLeaderEpochRequest::VERSIONS,
                ApiKey::DescribeTopicPartitions => DescribeTopicPartitionsRequest::VERSIONS,
                ApiKey::InitProducerId => InitProducerIdRequest::VERSIONS,
                ApiKey::DescribeConfigs => DescribeConfigsRequest::VERSIONS,
                ApiKey::AlterConfigs => AlterConfigsRequest::VERSIONS,
                ApiKey::IncrementalAlterConfigs => IncrementalAlterConfigsRequest::VERSIONS,
                ApiKey::DescribeAcls => DescribeAclsRequest::VERSIONS,
                ApiKey::CreateAcls => CreateAclsRequest::VERSIONS,
                ApiKey::DeleteAcls => DeleteAclsRequest::VERSIONS,
                ApiKey::ElectLeaders => ElectLeadersRequest::VERSIONS,
                ApiKey::AlterPartitionReassignments => AlterPartitionReassignmentsRequest::VERSIONS,
                ApiKey::ListPartitionReassignments => ListPartitionReassignmentsRequest::VERSIONS,
                ApiKey::DescribeClientQuotas => DescribeClientQuotasRequest::VERSIONS,
                ApiKey::AlterClientQuotas => AlterClientQuotasRequest::VERSIONS,
                ApiKey::DescribeQuorum => DescribeQuorumRequest::VERSIONS,
                ApiKey::DescribeProducers => DescribeProducersRequest::VERSIONS,
                ApiKey::AddPartitionsToTxn => AddPartitionsToTxnRequest::VERSIONS,
                ApiKey::AddOffsetsToTxn => AddOffsetsToTxnRequest::VERSIONS,
                ApiKey::EndTxn => EndTxnRequest::VERSIONS,
                ApiKey::TxnOffsetCommit => TxnOffsetCommitRequest::VERSIONS,
                ApiKey::WriteTxnMarkers => WriteTxnMarkersRequest::VERSIONS,
                ApiKey::DescribeTransactions => DescribeTransactionsRequest::VERSIONS,
                ApiKey::ListTransactions => ListTransactionsRequest::VERSIONS,
                ApiKey::ConsumerGroupHeartbeat => ConsumerGroupHeartbeatRequest::VERSIONS,
                ApiKey::ConsumerGroupDescribe => ConsumerGroupDescribeRequest::VERSIONS,
                ApiKey::ShareFetch => ShareFetchRequest::VERSIONS,
                ApiKey::ShareAcknowledge => ShareAcknowledgeRequest::VERSIONS,
                ApiKey::DescribeShareGroupOffsets => DescribeShareGroupOffsetsRequest::VERSIONS,
                ApiKey::AlterShareGroupOffsets => AlterShareGroupOffsetsRequest::VERSIONS,
                ApiKey::DeleteShareGroupOffsets => DeleteShareGroupOffsetsRequest::VERSIONS,
                ApiKey::ShareGroupHeartbeat => ShareGroupHeartbeatRequest::VERSIONS,
                ApiKey::ShareGroupDescribe => ShareGroupDescribeRequest::VERSIONS,
                ApiKey::SaslHandshake => SaslHandshakeRequest::VERSIONS,
                ApiKey::SaslAuthenticate => SaslAuthenticateRequest::VERSIONS,
                ApiKey::DescribeUserScramCredentials => {
                    DescribeUserScramCredentialsRequest::VERSIONS
                }
                ApiKey::AlterUserScramCredentials => AlterUserScramCredentialsRequest::VERSIONS,
                other => panic!("no codec check for {other:?}"),
            };
            assert!(
                min <= max && min >= codec.min && max <= codec.max,
                "{key:?}"
            );
        }
    }
}
