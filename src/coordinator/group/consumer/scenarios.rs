//! Consumer-group scenarios driven through the coordinator's public methods: joining, moving
//! partitions between members, epochs and fencing, static members, timeouts, commits, restarts.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use uuid::Uuid;

use super::{Assignment, HeartbeatInput, HeartbeatOutput, TopicView};
use crate::coordinator::group::{GroupConfig, GroupCoordinator};
use crate::store::{CommittedOffset, Store};

const T: Uuid = Uuid::from_u128(0x5eed);

fn coordinator(dir: &std::path::Path) -> GroupCoordinator {
    let store = Store::open(dir, 1 << 20, 1000).unwrap();
    GroupCoordinator::open(
        store,
        GroupConfig {
            min_session_timeout_ms: 10,
            max_session_timeout_ms: 600_000,
            initial_rebalance_delay_ms: 0,
            max_metadata_bytes: 4096,
            consumer_session_timeout_ms: 45_000,
            consumer_heartbeat_interval_ms: 5_000,
            consumer_max_size: 3,
            consumer_assignors: vec!["uniform".into(), "range".into()],
        },
    )
    .unwrap()
}

fn view(partitions: i32) -> TopicView {
    TopicView {
        topics: BTreeMap::from([("t".to_string(), (T, partitions))]),
    }
}

fn join(member: &str) -> HeartbeatInput {
    HeartbeatInput {
        version: 1,
        group_id: "g".into(),
        member_id: member.into(),
        member_epoch: 0,
        rebalance_timeout_ms: 1_000,
        topic_names: Some(vec!["t".into()]),
        owned: Some(Assignment::new()),
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
        ..HeartbeatInput::default()
    }
}

fn beat(member: &str, epoch: i32, owned: &Assignment) -> HeartbeatInput {
    HeartbeatInput {
        version: 1,
        group_id: "g".into(),
        member_id: member.into(),
        member_epoch: epoch,
        rebalance_timeout_ms: -1,
        owned: Some(owned.clone()),
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
        ..HeartbeatInput::default()
    }
}

fn ps(a: &Assignment) -> BTreeSet<i32> {
    a.get(&T).cloned().unwrap_or_default()
}

/// A client's view of itself: its epoch and what it owns, updated from each answer as the
/// Java and librdkafka consumers do (revoking at once).
struct Client {
    id: String,
    epoch: i32,
    owned: Assignment,
}

impl Client {
    fn apply(&mut self, out: &HeartbeatOutput) {
        assert_eq!(out.error, 0, "{:?}", out.message);
        self.epoch = out.member_epoch;
        if let Some(a) = &out.assignment {
            self.owned = a.clone();
        }
    }

    fn beat(&mut self, c: &GroupCoordinator, v: &TopicView) -> HeartbeatOutput {
        let out = c.consumer_heartbeat(beat(&self.id, self.epoch, &self.owned), v);
        self.apply(&out);
        out
    }

    fn join(c: &GroupCoordinator, id: &str, v: &TopicView) -> Client {
        let mut me = Client {
            id: id.into(),
            epoch: 0,
            owned: Assignment::new(),
        };
        let out = c.consumer_heartbeat(join(id), v);
        me.apply(&out);
        me
    }
}

#[tokio::test]
async fn partitions_move_to_a_new_member_only_after_revocation() {
    let dir = tempfile::tempdir().unwrap();
    let c = coordinator(dir.path());
    let v = view(4);
    let mut a = Client::join(&c, "a", &v);
    // Kafka 4.4 starts a new group at epoch 1: the first member joins at 2.
    assert_eq!(a.epoch, 2);
    assert_eq!(ps(&a.owned), BTreeSet::from([0, 1, 2, 3]));

    let mut b = Client::join(&c, "b", &v);
    assert_eq!(b.epoch, 3);
    assert!(ps(&b.owned).is_empty(), "a still owns everything");

    // a is asked to give up two partitions, keeping its epoch.
    let out = a.beat(&c, &v);
    assert_eq!(out.member_epoch, 2);
    assert_eq!(ps(&a.owned).len(), 2);
    // a has revoked (its next heartbeat says so): it moves to epoch 3, and b gets the rest.
    a.beat(&c, &v);
    assert_eq!(a.epoch, 3);
    b.beat(&c, &v);
    assert_eq!(ps(&b.owned).len(), 2);
    assert!(ps(&a.owned).is_disjoint(&ps(&b.owned)));
    let d = c.consumer_describe("g").unwrap().0;
    assert_eq!(d.state, "Stable");
    // A heartbeat that changes nothing writes nothing, so it waits for no flush.
    assert!(!a.beat(&c, &v).flush);
    assert_eq!((d.group_epoch, d.assignment_epoch), (3, 3));

    // b leaves: a gets everything back at epoch 4.
    let out = c.consumer_heartbeat(beat("b", -1, &b.owned), &v);
    assert_eq!((out.error, out.member_epoch), (0, -1));
    a.beat(&c, &v);
    assert_eq!(a.epoch, 4);
    assert_eq!(ps(&a.owned).len(), 4);
}

#[tokio::test]
async fn epochs_are_checked_as_kafka_does() {
    let dir = tempfile::tempdir().unwrap();
    let c = coordinator(dir.path());
    let v = view(2);
    let a = Client::join(&c, "a", &v);
    let err = |out: HeartbeatOutput| out.error;
    assert_eq!(
        err(c.consumer_heartbeat(beat("a", a.epoch + 1, &a.owned), &v)),
        ResponseError::FencedMemberEpoch.code()
    );
    assert_eq!(
        err(c.consumer_heartbeat(beat("zz", 1, &a.owned), &v)),
        ResponseError::UnknownMemberId.code()
    );
    let mut missing = beat("x", 3, &a.owned);
    missing.group_id = "nope".into();
    assert_eq!(
        err(c.consumer_heartbeat(missing, &v)),
        ResponseError::GroupIdNotFound.code()
    );
    // Malformed first heartbeats.
    let mut no_topics = join("b");
    no_topics.topic_names = None;
    assert_eq!(
        err(c.consumer_heartbeat(no_topics, &v)),
        ResponseError::InvalidRequest.code()
    );
    let mut no_id = join("");
    no_id.version = 1;
    assert_eq!(
        err(c.consumer_heartbeat(no_id, &v)),
        ResponseError::InvalidRequest.code()
    );
    let mut bad_assignor = join("b");
    bad_assignor.server_assignor = Some("sticky".into());
    assert_eq!(
        err(c.consumer_heartbeat(bad_assignor, &v)),
        ResponseError::UnsupportedAssignor.code()
    );
    let mut bad_regex = join("b");
    bad_regex.topic_names = None;
    bad_regex.topic_regex = Some("(".into());
    assert_eq!(
        err(c.consumer_heartbeat(bad_regex, &v)),
        ResponseError::InvalidRegularExpression.code()
    );
    // v0: the broker makes the member id.
    let mut v0 = join("");
    v0.version = 0;
    let out = c.consumer_heartbeat(v0, &v);
    assert_eq!(out.error, 0);
    assert!(!out.member_id.is_empty());
    // The group holds 3 at most.
    assert_eq!(c.consumer_heartbeat(join("c3"), &v).error, 0);
    assert_eq!(
        err(c.consumer_heartbeat(join("c4"), &v)),
        ResponseError::GroupMaxSizeReached.code()
    );
}

#[tokio::test]
async fn commits_need_the_current_member_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let c = coordinator(dir.path());
    let v = view(1);
    let a = Client::join(&c, "a", &v);
    let off = || {
        vec![(
            "t".to_string(),
            0,
            CommittedOffset {
                offset: 5,
                leader_epoch: -1,
                metadata: None,
                commit_timestamp_ms: 0,
            },
        )]
    };
    let commit = |member: &str, epoch: i32| c.commit("g", epoch, member, None, off(), |_, _| true);
    assert_eq!(commit("a", a.epoch), Ok(vec![0]));
    assert_eq!(
        commit("a", a.epoch - 1),
        Err(ResponseError::StaleMemberEpoch.code())
    );
    // Kafka 4.4: an epoch newer than the member's is stale too (not fenced).
    assert_eq!(
        commit("a", a.epoch + 1),
        Err(ResponseError::StaleMemberEpoch.code())
    );
    assert_eq!(commit("b", 1), Err(ResponseError::UnknownMemberId.code()));
    // An admin's commit (no member) is refused while the group has members.
    assert_eq!(commit("", -1), Err(ResponseError::UnknownMemberId.code()));
    assert!(c.commit_needs_v9("g", "a"));
    assert_eq!(
        c.check_offset_fetch("g", Some("a"), 0),
        ResponseError::StaleMemberEpoch.code()
    );
    assert_eq!(c.check_offset_fetch("g", Some("a"), a.epoch), 0);
    assert_eq!(c.check_offset_fetch("g", None, -1), 0);

    // A member whose epoch moved on while it kept t-0 may still commit t-0 at the epoch it had
    // (what it processed before its next heartbeat), as Kafka 4.4; not a partition it never had.
    let mut a = a;
    let first = a.epoch;
    let _b = Client::join(&c, "b", &v);
    while a.epoch == first {
        a.beat(&c, &v);
    }
    assert_eq!(commit("a", first), Ok(vec![0]));
    assert_eq!(
        commit("a", first - 1),
        Err(ResponseError::StaleMemberEpoch.code())
    );
}

#[tokio::test]
async fn a_static_member_comes_back_with_its_assignment() {
    let dir = tempfile::tempdir().unwrap();
    let c = coordinator(dir.path());
    let v = view(2);
    let mut j = join("a");
    j.instance_id = Some("i".into());
    let mut a = Client {
        id: "a".into(),
        epoch: 0,
        owned: Assignment::new(),
    };
    a.apply(&c.consumer_heartbeat(j.clone(), &v));
    assert_eq!(ps(&a.owned).len(), 2);

    // Another member id with the same instance id while a is active.
    let mut j2 = join("a2");
    j2.instance_id = Some("i".into());
    assert_eq!(
        c.consumer_heartbeat(j2.clone(), &v).error,
        ResponseError::UnreleasedInstanceId.code()
    );
    // a leaves temporarily; the new incarnation takes over its epoch and partitions.
    let mut leave = beat("a", -2, &a.owned);
    leave.instance_id = Some("i".into());
    assert_eq!(c.consumer_heartbeat(leave, &v).member_epoch, -2);
    let out = c.consumer_heartbeat(j2, &v);
    assert_eq!(out.error, 0);
    assert_eq!(out.member_epoch, a.epoch);
    assert_eq!(ps(out.assignment.as_ref().unwrap()).len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_silent_member_is_removed_and_one_that_does_not_revoke_is_fenced() {
    let dir = tempfile::tempdir().unwrap();
    let c = coordinator(dir.path());
    let v = view(2);
    let mut a = Client::join(&c, "a", &v);
    // Long enough for a's session timer to have run and gone to sleep until its session ends.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut b = Client::join(&c, "b", &v);
    // a is asked to revoke one partition and never answers: fenced after its rebalance timeout
    // (1 s), well before its session timeout.
    a.beat(&c, &v);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    for _ in 0..3 {
        b.beat(&c, &v);
    }
    assert_eq!(ps(&b.owned).len(), 2, "a was fenced, b has everything");
    assert_eq!(
        c.consumer_heartbeat(beat("a", a.epoch, &a.owned), &v).error,
        ResponseError::UnknownMemberId.code()
    );
    // b goes silent: removed after the session timeout.
    tokio::time::sleep(Duration::from_secs(46)).await;
    assert_eq!(c.consumer_describe("g").unwrap().0.state, "Empty");
}

#[tokio::test]
async fn topic_changes_bump_the_group_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let c = coordinator(dir.path());
    let mut a = Client::join(&c, "a", &view(1));
    assert_eq!(ps(&a.owned).len(), 1);
    // The topic grew (CreatePartitions).
    a.beat(&c, &view(3));
    assert_eq!(a.epoch, 3);
    assert_eq!(ps(&a.owned).len(), 3);
    // A regex subscription picks up a topic created later.
    let mut re = beat("a", a.epoch, &a.owned);
    re.topic_names = Some(vec![]);
    re.topic_regex = Some("t|u.*".into());
    let mut v = view(3);
    v.topics.insert("u1".into(), (Uuid::from_u128(9), 2));
    v.topics.insert("xu1".into(), (Uuid::from_u128(10), 2));
    let out = c.consumer_heartbeat(re, &v);
    a.apply(&out);
    let total: usize = a.owned.values().map(BTreeSet::len).sum();
    assert_eq!(total, 5, "t and u1, not xu1: {:?}", a.owned);
}

#[test]
fn a_restart_is_invisible_to_a_stable_group() {
    let dir = tempfile::tempdir().unwrap();
    let v = view(2);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (a, b) = rt.block_on(async {
        let c = coordinator(dir.path());
        let mut a = Client::join(&c, "a", &v);
        let mut b = Client::join(&c, "b", &v);
        for _ in 0..2 {
            a.beat(&c, &v);
            b.beat(&c, &v);
        }
        c.store().close().unwrap();
        (a, b)
    });
    drop(rt);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = coordinator(dir.path());
        let (mut a2, mut b2) = (
            Client {
                id: a.id.clone(),
                epoch: a.epoch,
                owned: a.owned.clone(),
            },
            Client {
                id: b.id.clone(),
                epoch: b.epoch,
                owned: b.owned.clone(),
            },
        );
        let out = a2.beat(&c, &v);
        assert_eq!(out.member_epoch, a.epoch);
        b2.beat(&c, &v);
        assert_eq!(a2.owned, a.owned);
        assert_eq!(b2.owned, b.owned);
        assert_eq!(c.consumer_describe("g").unwrap().0.state, "Stable");
        c.store().close().unwrap();
    });
}

#[tokio::test]
async fn empty_groups_convert_between_the_protocols() {
    let dir = tempfile::tempdir().unwrap();
    let c = coordinator(dir.path());
    let v = view(1);
    let a = Client::join(&c, "a", &v);
    let listed = c.list(&[], &["consumer".to_string()]);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].state, "Stable");
    assert_eq!(c.describe("g").state.name(), "Dead");
    assert_eq!(c.delete_group("g"), ResponseError::NonEmptyGroup.code());
    c.consumer_heartbeat(beat("a", -1, &a.owned), &v);
    assert_eq!(c.list(&["empty".into()], &[])[0].group_type, "consumer");
    assert_eq!(c.delete_group("g"), 0);
    assert_eq!(
        c.consumer_describe("g").unwrap_err().0,
        ResponseError::GroupIdNotFound.code()
    );
}
