//! Response encoding: a response body becomes a length-prefixed frame, kept as a list of byte
//! strings so record bytes read from the store reach the socket without a copy.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::Encodable;

use super::fetch_splice::{encode_fetch, FetchBody};

/// A response body ready to encode.
#[derive(Debug)]
pub enum ResponseBody {
    Kind(ResponseKind),
    /// Fetch keeps its record bytes apart from the message so they are never copied.
    Fetch(FetchBody),
}

impl From<ResponseKind> for ResponseBody {
    fn from(kind: ResponseKind) -> ResponseBody {
        ResponseBody::Kind(kind)
    }
}

impl ResponseBody {
    /// The response's `throttle_time_ms` (0 for a response without one).
    pub fn throttle_time_ms(&self) -> i32 {
        match self {
            ResponseBody::Fetch(f) => f.response.throttle_time_ms,
            ResponseBody::Kind(kind) => throttle_time_of(kind),
        }
    }

    /// Sets the response's `throttle_time_ms`, where it has one (SASL and a few inter-broker
    /// responses do not; older versions of some do not send it).
    pub fn set_throttle_time_ms(&mut self, ms: i32) {
        match self {
            ResponseBody::Fetch(f) => f.response.throttle_time_ms = ms,
            ResponseBody::Kind(kind) => set_throttle_time_of(kind, ms),
        }
    }
}

fn throttle_time_of(kind: &ResponseKind) -> i32 {
    match kind {
        ResponseKind::AddOffsetsToTxn(r) => r.throttle_time_ms,
        ResponseKind::AddPartitionsToTxn(r) => r.throttle_time_ms,
        ResponseKind::AddRaftVoter(r) => r.throttle_time_ms,
        ResponseKind::AllocateProducerIds(r) => r.throttle_time_ms,
        ResponseKind::AlterClientQuotas(r) => r.throttle_time_ms,
        ResponseKind::AlterConfigs(r) => r.throttle_time_ms,
        ResponseKind::AlterPartitionReassignments(r) => r.throttle_time_ms,
        ResponseKind::AlterPartition(r) => r.throttle_time_ms,
        ResponseKind::AlterReplicaLogDirs(r) => r.throttle_time_ms,
        ResponseKind::AlterShareGroupOffsets(r) => r.throttle_time_ms,
        ResponseKind::AlterUserScramCredentials(r) => r.throttle_time_ms,
        ResponseKind::ApiVersions(r) => r.throttle_time_ms,
        ResponseKind::AssignReplicasToDirs(r) => r.throttle_time_ms,
        ResponseKind::BrokerHeartbeat(r) => r.throttle_time_ms,
        ResponseKind::BrokerRegistration(r) => r.throttle_time_ms,
        ResponseKind::ConsumerGroupDescribe(r) => r.throttle_time_ms,
        ResponseKind::ConsumerGroupHeartbeat(r) => r.throttle_time_ms,
        ResponseKind::ControllerRegistration(r) => r.throttle_time_ms,
        ResponseKind::CreateAcls(r) => r.throttle_time_ms,
        ResponseKind::CreateDelegationToken(r) => r.throttle_time_ms,
        ResponseKind::CreatePartitions(r) => r.throttle_time_ms,
        ResponseKind::CreateTopics(r) => r.throttle_time_ms,
        ResponseKind::DeleteAcls(r) => r.throttle_time_ms,
        ResponseKind::DeleteGroups(r) => r.throttle_time_ms,
        ResponseKind::DeleteRecords(r) => r.throttle_time_ms,
        ResponseKind::DeleteShareGroupOffsets(r) => r.throttle_time_ms,
        ResponseKind::DeleteTopics(r) => r.throttle_time_ms,
        ResponseKind::DescribeAcls(r) => r.throttle_time_ms,
        ResponseKind::DescribeClientQuotas(r) => r.throttle_time_ms,
        ResponseKind::DescribeCluster(r) => r.throttle_time_ms,
        ResponseKind::DescribeConfigs(r) => r.throttle_time_ms,
        ResponseKind::DescribeDelegationToken(r) => r.throttle_time_ms,
        ResponseKind::DescribeGroups(r) => r.throttle_time_ms,
        ResponseKind::DescribeLogDirs(r) => r.throttle_time_ms,
        ResponseKind::DescribeProducers(r) => r.throttle_time_ms,
        ResponseKind::DescribeShareGroupOffsets(r) => r.throttle_time_ms,
        ResponseKind::DescribeTopicPartitions(r) => r.throttle_time_ms,
        ResponseKind::DescribeTransactions(r) => r.throttle_time_ms,
        ResponseKind::DescribeUserScramCredentials(r) => r.throttle_time_ms,
        ResponseKind::ElectLeaders(r) => r.throttle_time_ms,
        ResponseKind::EndTxn(r) => r.throttle_time_ms,
        ResponseKind::ExpireDelegationToken(r) => r.throttle_time_ms,
        ResponseKind::Fetch(r) => r.throttle_time_ms,
        ResponseKind::FetchSnapshot(r) => r.throttle_time_ms,
        ResponseKind::FindCoordinator(r) => r.throttle_time_ms,
        ResponseKind::GetTelemetrySubscriptions(r) => r.throttle_time_ms,
        ResponseKind::Heartbeat(r) => r.throttle_time_ms,
        ResponseKind::IncrementalAlterConfigs(r) => r.throttle_time_ms,
        ResponseKind::InitProducerId(r) => r.throttle_time_ms,
        ResponseKind::JoinGroup(r) => r.throttle_time_ms,
        ResponseKind::LeaveGroup(r) => r.throttle_time_ms,
        ResponseKind::ListConfigResources(r) => r.throttle_time_ms,
        ResponseKind::ListGroups(r) => r.throttle_time_ms,
        ResponseKind::ListOffsets(r) => r.throttle_time_ms,
        ResponseKind::ListPartitionReassignments(r) => r.throttle_time_ms,
        ResponseKind::ListTransactions(r) => r.throttle_time_ms,
        ResponseKind::Metadata(r) => r.throttle_time_ms,
        ResponseKind::OffsetCommit(r) => r.throttle_time_ms,
        ResponseKind::OffsetDelete(r) => r.throttle_time_ms,
        ResponseKind::OffsetFetch(r) => r.throttle_time_ms,
        ResponseKind::OffsetForLeaderEpoch(r) => r.throttle_time_ms,
        ResponseKind::Produce(r) => r.throttle_time_ms,
        ResponseKind::PushTelemetry(r) => r.throttle_time_ms,
        ResponseKind::RemoveRaftVoter(r) => r.throttle_time_ms,
        ResponseKind::RenewDelegationToken(r) => r.throttle_time_ms,
        ResponseKind::ShareAcknowledge(r) => r.throttle_time_ms,
        ResponseKind::ShareFetch(r) => r.throttle_time_ms,
        ResponseKind::ShareGroupDescribe(r) => r.throttle_time_ms,
        ResponseKind::ShareGroupHeartbeat(r) => r.throttle_time_ms,
        ResponseKind::SyncGroup(r) => r.throttle_time_ms,
        ResponseKind::TxnOffsetCommit(r) => r.throttle_time_ms,
        ResponseKind::UnregisterBroker(r) => r.throttle_time_ms,
        ResponseKind::UpdateFeatures(r) => r.throttle_time_ms,
        ResponseKind::UpdateRaftVoter(r) => r.throttle_time_ms,
        _ => 0,
    }
}

fn set_throttle_time_of(kind: &mut ResponseKind, ms: i32) {
    match kind {
        ResponseKind::AddOffsetsToTxn(r) => r.throttle_time_ms = ms,
        ResponseKind::AddPartitionsToTxn(r) => r.throttle_time_ms = ms,
        ResponseKind::AddRaftVoter(r) => r.throttle_time_ms = ms,
        ResponseKind::AllocateProducerIds(r) => r.throttle_time_ms = ms,
        ResponseKind::AlterClientQuotas(r) => r.throttle_time_ms = ms,
        ResponseKind::AlterConfigs(r) => r.throttle_time_ms = ms,
        ResponseKind::AlterPartitionReassignments(r) => r.throttle_time_ms = ms,
        ResponseKind::AlterPartition(r) => r.throttle_time_ms = ms,
        ResponseKind::AlterReplicaLogDirs(r) => r.throttle_time_ms = ms,
        ResponseKind::AlterShareGroupOffsets(r) => r.throttle_time_ms = ms,
        ResponseKind::AlterUserScramCredentials(r) => r.throttle_time_ms = ms,
        ResponseKind::ApiVersions(r) => r.throttle_time_ms = ms,
        ResponseKind::AssignReplicasToDirs(r) => r.throttle_time_ms = ms,
        ResponseKind::BrokerHeartbeat(r) => r.throttle_time_ms = ms,
        ResponseKind::BrokerRegistration(r) => r.throttle_time_ms = ms,
        ResponseKind::ConsumerGroupDescribe(r) => r.throttle_time_ms = ms,
        ResponseKind::ConsumerGroupHeartbeat(r) => r.throttle_time_ms = ms,
        ResponseKind::ControllerRegistration(r) => r.throttle_time_ms = ms,
        ResponseKind::CreateAcls(r) => r.throttle_time_ms = ms,
        ResponseKind::CreateDelegationToken(r) => r.throttle_time_ms = ms,
        ResponseKind::CreatePartitions(r) => r.throttle_time_ms = ms,
        ResponseKind::CreateTopics(r) => r.throttle_time_ms = ms,
        ResponseKind::DeleteAcls(r) => r.throttle_time_ms = ms,
        ResponseKind::DeleteGroups(r) => r.throttle_time_ms = ms,
        ResponseKind::DeleteRecords(r) => r.throttle_time_ms = ms,
        ResponseKind::DeleteShareGroupOffsets(r) => r.throttle_time_ms = ms,
        ResponseKind::DeleteTopics(r) => r.throttle_time_ms = ms,
        ResponseKind::DescribeAcls(r) => r.throttle_time_ms = ms,
        ResponseKind::DescribeClientQuotas(r) => r.throttle_time_ms = ms,
        ResponseKind::DescribeCluster(r) => r.throttle_time_ms = ms,
        ResponseKind::DescribeConfigs(r) => r.throttle_time_ms = ms,
        ResponseKind::DescribeDelegationToken(r) => r.throttle_time_ms = ms,
        ResponseKind::DescribeGroups(r) => r.throttle_time_ms = ms,
        ResponseKind::DescribeLogDirs(r) => r.throttle_time_ms = ms,
        ResponseKind::DescribeProducers(r) => r.throttle_time_ms = ms,
        ResponseKind::DescribeShareGroupOffsets(r) => r.throttle_time_ms = ms,
        ResponseKind::DescribeTopicPartitions(r) => r.throttle_time_ms = ms,
        ResponseKind::DescribeTransactions(r) => r.throttle_time_ms = ms,
        ResponseKind::DescribeUserScramCredentials(r) => r.throttle_time_ms = ms,
        ResponseKind::ElectLeaders(r) => r.throttle_time_ms = ms,
        ResponseKind::EndTxn(r) => r.throttle_time_ms = ms,
        ResponseKind::ExpireDelegationToken(r) => r.throttle_time_ms = ms,
        ResponseKind::Fetch(r) => r.throttle_time_ms = ms,
        ResponseKind::FetchSnapshot(r) => r.throttle_time_ms = ms,
        ResponseKind::FindCoordinator(r) => r.throttle_time_ms = ms,
        ResponseKind::GetTelemetrySubscriptions(r) => r.throttle_time_ms = ms,
        ResponseKind::Heartbeat(r) => r.throttle_time_ms = ms,
        ResponseKind::IncrementalAlterConfigs(r) => r.throttle_time_ms = ms,
        ResponseKind::InitProducerId(r) => r.throttle_time_ms = ms,
        ResponseKind::JoinGroup(r) => r.throttle_time_ms = ms,
        ResponseKind::LeaveGroup(r) => r.throttle_time_ms = ms,
        ResponseKind::ListConfigResources(r) => r.throttle_time_ms = ms,
        ResponseKind::ListGroups(r) => r.throttle_time_ms = ms,
        ResponseKind::ListOffsets(r) => r.throttle_time_ms = ms,
        ResponseKind::ListPartitionReassignments(r) => r.throttle_time_ms = ms,
        ResponseKind::ListTransactions(r) => r.throttle_time_ms = ms,
        ResponseKind::Metadata(r) => r.throttle_time_ms = ms,
        ResponseKind::OffsetCommit(r) => r.throttle_time_ms = ms,
        ResponseKind::OffsetDelete(r) => r.throttle_time_ms = ms,
        ResponseKind::OffsetFetch(r) => r.throttle_time_ms = ms,
        ResponseKind::OffsetForLeaderEpoch(r) => r.throttle_time_ms = ms,
        ResponseKind::Produce(r) => r.throttle_time_ms = ms,
        ResponseKind::PushTelemetry(r) => r.throttle_time_ms = ms,
        ResponseKind::RemoveRaftVoter(r) => r.throttle_time_ms = ms,
        ResponseKind::RenewDelegationToken(r) => r.throttle_time_ms = ms,
        ResponseKind::ShareAcknowledge(r) => r.throttle_time_ms = ms,
        ResponseKind::ShareFetch(r) => r.throttle_time_ms = ms,
        ResponseKind::ShareGroupDescribe(r) => r.throttle_time_ms = ms,
        ResponseKind::ShareGroupHeartbeat(r) => r.throttle_time_ms = ms,
        ResponseKind::SyncGroup(r) => r.throttle_time_ms = ms,
        ResponseKind::TxnOffsetCommit(r) => r.throttle_time_ms = ms,
        ResponseKind::UnregisterBroker(r) => r.throttle_time_ms = ms,
        ResponseKind::UpdateFeatures(r) => r.throttle_time_ms = ms,
        ResponseKind::UpdateRaftVoter(r) => r.throttle_time_ms = ms,
        _ => {}
    }
}

/// Encodes a response body into a whole frame, length prefix included.
pub fn encode(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    body: ResponseBody,
) -> anyhow::Result<Frame> {
    match body {
        ResponseBody::Kind(kind) => {
            encode_response(api, version, correlation_id, &kind).map(Frame::from)
        }
        ResponseBody::Fetch(fetch) => encode_fetch(version, correlation_id, fetch),
    }
}

/// Encodes a whole response frame, length prefix included.
pub fn encode_response(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &ResponseKind,
) -> anyhow::Result<Bytes> {
    let mut buf = BytesMut::with_capacity(256);
    buf.put_i32(0);
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut buf, api.response_header_version(version))?;
    body.encode(&mut buf, version)?;
    let len = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    Ok(buf.freeze())
}

/// An encoded response frame as a list of byte strings, written with vectored I/O: a Fetch
/// response's record bytes stay the stored chunks they were read as (see [`encode_fetch`]).
#[derive(Debug, Default)]
pub struct Frame {
    parts: std::collections::VecDeque<Bytes>,
    remaining: usize,
}

impl Frame {
    pub(super) fn push(&mut self, b: Bytes) {
        if !b.is_empty() {
            self.remaining += b.len();
            self.parts.push_back(b);
        }
    }

    /// The whole frame in one buffer (a copy; for tests and diagnostics).
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.remaining);
        for p in &self.parts {
            out.extend_from_slice(p);
        }
        out.freeze()
    }
}

impl From<Bytes> for Frame {
    fn from(b: Bytes) -> Frame {
        let mut f = Frame::default();
        f.push(b);
        f
    }
}

impl Buf for Frame {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        self.parts.front().map_or(&[], |b| b.as_ref())
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(cnt <= self.remaining, "advance past the end of a frame");
        self.remaining -= cnt;
        while cnt > 0 {
            let front = self.parts.front_mut().expect("remaining counts the parts");
            if cnt < front.len() {
                front.advance(cnt);
                return;
            }
            cnt -= front.len();
            self.parts.pop_front();
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [std::io::IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, part) in dst.iter_mut().zip(&self.parts) {
            *slot = std::io::IoSlice::new(part);
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_is_a_buf_over_its_parts() {
        let mut f = Frame::from(Bytes::from_static(b"abc"));
        f.push(Bytes::new());
        f.push(Bytes::from_static(b"defg"));
        assert_eq!(f.remaining(), 7);
        let mut slices = [std::io::IoSlice::new(&[]); 4];
        assert_eq!(f.chunks_vectored(&mut slices), 2);
        f.advance(4);
        assert_eq!(f.chunk(), b"efg");
        assert_eq!(f.copy_to_bytes(3), Bytes::from_static(b"efg"));
        assert_eq!(f.remaining(), 0);
    }
}
