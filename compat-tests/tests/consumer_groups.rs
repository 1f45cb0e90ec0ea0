//! KIP-848 consumer groups (`group.protocol=consumer`), on the wire and with librdkafka.
//!
//! Raw connections drive ConsumerGroupHeartbeat as a client would: members join, the broker assigns, a partition
//! moves to a new member only after its owner revoked it, epochs fence stale members, commits carry member
//! epochs (OffsetCommit/OffsetFetch v9), ListGroups v5 shows the group's type and state, and a broker restart is
//! invisible to a stable group. librdkafka 2.12 (the rdkafka crate) with `group.protocol=consumer` then runs
//! members that join and leave while every produced message is consumed exactly once, and a group whose commits
//! resume after a restart. Every test also passes against Apache Kafka 4.4 (the reference pass), which restarts
//! too (run-kafka.sh keeps its data dir).
//!
//! Waits poll a condition within a deadline; Kafka's coordinator learns of a new topic a moment after it is
//! listed in Metadata, so the first assignment is awaited, not expected at once.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use compat_tests::raw::{str_bytes, RawConn};
use compat_tests::rdkafka::config::ClientConfig;
use compat_tests::rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use compat_tests::rdkafka::message::Message;
use compat_tests::{create_topic, produce_all, producer, unique_topic, Broker, Msg};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse,
    GroupId, ListGroupsRequest, MetadataRequest, OffsetCommitRequest, OffsetFetchRequest,
    TopicName,
};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(30);

fn code(e: ResponseError) -> i16 {
    e.code()
}

/// A member as a raw client: its id, epoch and the partitions it owns (of one topic).
struct RawMember {
    group: String,
    id: String,
    epoch: i32,
    owned: BTreeSet<i32>,
    topic: Uuid,
}

impl RawMember {
    fn owned_list(&self) -> Vec<TopicPartitions> {
        if self.owned.is_empty() {
            return vec![];
        }
        vec![TopicPartitions::default()
            .with_topic_id(self.topic)
            .with_partitions(self.owned.iter().copied().collect())]
    }

    /// Joins with epoch 0 and a client-generated member id (v1).
    fn join(conn: &mut RawConn, group: &str, topic_name: &str, topic: Uuid, id: &str) -> RawMember {
        let mut m = RawMember {
            group: group.to_string(),
            id: id.to_string(),
            epoch: 0,
            owned: BTreeSet::new(),
            topic,
        };
        let r = conn.request(
            1,
            &ConsumerGroupHeartbeatRequest::default()
                .with_group_id(GroupId(str_bytes(group)))
                .with_member_id(str_bytes(id))
                .with_member_epoch(0)
                .with_rebalance_timeout_ms(30_000)
                .with_subscribed_topic_names(Some(vec![TopicName(str_bytes(topic_name))]))
                .with_topic_partitions(Some(vec![])),
        );
        m.apply(&r);
        m
    }

    /// Takes in an answer the way the Java and librdkafka consumers do: a new assignment replaces what it
    /// owns at once (revoking what is gone, taking what is new).
    fn apply(&mut self, r: &ConsumerGroupHeartbeatResponse) {
        assert_eq!(
            r.error_code, 0,
            "heartbeat of {}: {:?}",
            self.id, r.error_message
        );
        assert_eq!(r.member_id.as_deref(), Some(self.id.as_str()));
        self.epoch = r.member_epoch;
        if let Some(a) = &r.assignment {
            self.owned = a
                .topic_partitions
                .iter()
                .filter(|t| t.topic_id == self.topic)
                .flat_map(|t| t.partitions.iter().copied())
                .collect();
        }
    }

    fn beat_raw(&self, conn: &mut RawConn) -> ConsumerGroupHeartbeatResponse {
        conn.request(
            1,
            &ConsumerGroupHeartbeatRequest::default()
                .with_group_id(GroupId(str_bytes(&self.group)))
                .with_member_id(str_bytes(&self.id))
                .with_member_epoch(self.epoch)
                .with_topic_partitions(Some(self.owned_list())),
        )
    }

    fn beat(&mut self, conn: &mut RawConn) {
        let r = self.beat_raw(conn);
        self.apply(&r);
    }

    fn leave(&self, conn: &mut RawConn) {
        let r = conn.request(
            1,
            &ConsumerGroupHeartbeatRequest::default()
                .with_group_id(GroupId(str_bytes(&self.group)))
                .with_member_id(str_bytes(&self.id))
                .with_member_epoch(-1),
        );
        assert_eq!(r.error_code, 0, "leave: {:?}", r.error_message);
        assert_eq!(r.member_epoch, -1);
    }
}

fn topic_id(conn: &mut RawConn, topic: &str) -> Uuid {
    let r = conn.request(
        12,
        &MetadataRequest::default().with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(TopicName(str_bytes(topic))))
        ])),
    );
    r.topics[0].topic_id
}

/// Heartbeats every member in turn until `done` holds, and panics after [`WAIT`].
fn beat_until(
    conn: &mut RawConn,
    members: &mut [&mut RawMember],
    what: &str,
    done: impl Fn(&[&mut RawMember]) -> bool,
) {
    let deadline = Instant::now() + WAIT;
    while !done(members) {
        assert!(
            Instant::now() < deadline,
            "{what}: not reached; owned: {:?}",
            members
                .iter()
                .map(|m| (&m.id, m.epoch, &m.owned))
                .collect::<Vec<_>>()
        );
        for m in members.iter_mut() {
            m.beat(conn);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn no_overlap(members: &[&mut RawMember]) -> bool {
    let mut seen = BTreeSet::new();
    members
        .iter()
        .all(|m| m.owned.iter().all(|p| seen.insert(*p)))
}

fn setup(partitions: i32) -> (Broker, String, Uuid, RawConn) {
    setup_on(Broker::start(), partitions)
}

fn setup_on(broker: Broker, partitions: i32) -> (Broker, String, Uuid, RawConn) {
    let topic = unique_topic("cg");
    create_topic(&broker.bootstrap(), &topic, partitions);
    let mut conn = RawConn::connect(broker.addr());
    let id = topic_id(&mut conn, &topic);
    (broker, topic, id, conn)
}

#[test]
fn raw_partitions_move_only_after_their_owner_revoked_them() {
    let (_broker, topic, tid, mut conn) = setup(4);
    let group = unique_topic("cg-raw");
    let mut a = RawMember::join(&mut conn, &group, &topic, tid, "member-a-0000000000000");
    beat_until(&mut conn, &mut [&mut a], "a owns all four", |m| {
        m[0].owned.len() == 4
    });

    let mut b = RawMember::join(&mut conn, &group, &topic, tid, "member-b-0000000000000");
    // Kafka 4.4 recomputes a target at most once a second (group.consumer.assignment.interval.ms), so b may
    // first reconcile to the previous target at the previous epoch; Sluice recomputes at once. Either way b gets
    // nothing a still owns.
    assert!(
        b.owned.is_empty(),
        "b gets nothing a still owns: {:?}",
        b.owned
    );
    // Step by step: whatever order the heartbeats come in, no partition ever has two owners.
    let deadline = Instant::now() + WAIT;
    while !(a.owned.len() == 2 && b.owned.len() == 2 && a.epoch == b.epoch) {
        assert!(
            Instant::now() < deadline,
            "not balanced: {:?} {:?}",
            a.owned,
            b.owned
        );
        b.beat(&mut conn);
        assert!(a.owned.is_disjoint(&b.owned), "{:?} {:?}", a.owned, b.owned);
        a.beat(&mut conn);
        assert!(a.owned.is_disjoint(&b.owned), "{:?} {:?}", a.owned, b.owned);
    }

    // A stale or future epoch is fenced; an unknown member is unknown.
    let mut ghost = RawMember {
        epoch: a.epoch + 10,
        ..RawMember::join(&mut conn, &group, &topic, tid, "member-c-0000000000000")
    };
    let r = ghost.beat_raw(&mut conn);
    assert_eq!(r.error_code, code(ResponseError::FencedMemberEpoch));
    ghost.id = "nobody".into();
    ghost.epoch = 1;
    assert_eq!(
        ghost.beat_raw(&mut conn).error_code,
        code(ResponseError::UnknownMemberId)
    );
    // The fenced member rejoins from scratch.
    let mut c = RawMember::join(&mut conn, &group, &topic, tid, "member-c-0000000000000");
    beat_until(
        &mut conn,
        &mut [&mut a, &mut b, &mut c],
        "three members share four partitions",
        |m| {
            no_overlap(m)
                && m.iter().map(|x| x.owned.len()).sum::<usize>() == 4
                && m.iter()
                    .all(|x| !x.owned.is_empty() && x.epoch == m[0].epoch)
        },
    );

    // ConsumerGroupDescribe agrees.
    let d = conn.request(
        1,
        &ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(str_bytes(&group))]),
    );
    let g = &d.groups[0];
    assert_eq!(g.error_code, 0);
    assert_eq!(g.group_state.as_str(), "Stable");
    assert_eq!(g.assignor_name.as_str(), "uniform");
    assert_eq!(g.members.len(), 3);
    assert!(g.members.iter().all(|m| m.member_epoch == g.group_epoch));

    // Two leave; the last one gets everything back.
    a.leave(&mut conn);
    b.leave(&mut conn);
    beat_until(&mut conn, &mut [&mut c], "c owns all four", |m| {
        m[0].owned.len() == 4
    });
    c.leave(&mut conn);
    let d = conn.request(
        1,
        &ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(str_bytes(&group))]),
    );
    assert_eq!(d.groups[0].group_state.as_str(), "Empty");
}

fn commit_req(
    group: &str,
    member: &str,
    epoch: i32,
    topic: &str,
    offset: i64,
) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(GroupId(str_bytes(group)))
        .with_member_id(str_bytes(member))
        .with_generation_id_or_member_epoch(epoch)
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(TopicName(str_bytes(topic)))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(offset)])])
}

fn fetch_req(group: &str, member: &str, epoch: i32, topic: &str) -> OffsetFetchRequest {
    OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
        .with_group_id(GroupId(str_bytes(group)))
        .with_member_id(Some(str_bytes(member)))
        .with_member_epoch(epoch)
        .with_topics(Some(vec![OffsetFetchRequestTopics::default()
            .with_name(TopicName(str_bytes(topic)))
            .with_partition_indexes(vec![0])]))])
}

#[test]
fn raw_commits_carry_member_epochs_and_the_group_lists_as_consumer() {
    let (_broker, topic, tid, mut conn) = setup(1);
    let group = unique_topic("cg-commit");
    let mut a = RawMember::join(&mut conn, &group, &topic, tid, "member-a-0000000000000");
    beat_until(&mut conn, &mut [&mut a], "a owns the partition", |m| {
        m[0].owned.len() == 1
    });
    let commit_code = |conn: &mut RawConn, version: i16, member: &str, epoch: i32| {
        conn.request(version, &commit_req(&group, member, epoch, &topic, 42))
            .topics[0]
            .partitions[0]
            .error_code
    };
    assert_eq!(commit_code(&mut conn, 9, &a.id, a.epoch), 0);
    assert_eq!(
        commit_code(&mut conn, 9, &a.id, a.epoch - 1),
        code(ResponseError::StaleMemberEpoch)
    );
    assert_eq!(
        commit_code(&mut conn, 9, "nobody", a.epoch),
        code(ResponseError::UnknownMemberId)
    );
    // Members of a consumer group must use v9.
    assert_eq!(
        commit_code(&mut conn, 8, &a.id, a.epoch),
        code(ResponseError::UnsupportedVersion)
    );

    let fetched = conn.request(9, &fetch_req(&group, &a.id, a.epoch, &topic));
    assert_eq!(fetched.groups[0].error_code, 0);
    assert_eq!(
        fetched.groups[0].topics[0].partitions[0].committed_offset,
        42
    );
    let stale = conn.request(9, &fetch_req(&group, &a.id, a.epoch - 1, &topic));
    assert_eq!(
        stale.groups[0].error_code,
        code(ResponseError::StaleMemberEpoch)
    );

    let listed = conn.request(
        5,
        &ListGroupsRequest::default().with_types_filter(vec![str_bytes("consumer")]),
    );
    let mine: Vec<_> = listed
        .groups
        .iter()
        .filter(|g| g.group_id.as_str() == group)
        .collect();
    assert_eq!(mine.len(), 1, "{listed:?}");
    assert_eq!(mine[0].group_type.as_str(), "consumer");
    assert_eq!(mine[0].protocol_type.as_str(), "consumer");
    assert_eq!(mine[0].group_state.as_str(), "Stable");
    let classic = conn.request(
        5,
        &ListGroupsRequest::default().with_types_filter(vec![str_bytes("classic")]),
    );
    assert!(classic.groups.iter().all(|g| g.group_id.as_str() != group));
}

#[test]
fn raw_a_restart_is_invisible_to_a_stable_group() {
    let (mut broker, topic, tid, mut conn) = setup_on(Broker::start_own(), 2);
    let group = unique_topic("cg-restart");
    let mut a = RawMember::join(&mut conn, &group, &topic, tid, "member-a-0000000000000");
    let mut b = RawMember::join(&mut conn, &group, &topic, tid, "member-b-0000000000000");
    beat_until(
        &mut conn,
        &mut [&mut a, &mut b],
        "one partition each",
        |m| {
            m.iter()
                .all(|x| x.owned.len() == 1 && x.epoch == m[0].epoch)
        },
    );
    let before = ((a.epoch, a.owned.clone()), (b.epoch, b.owned.clone()));
    drop(conn);
    broker.restart();
    let mut conn = RawConn::connect(broker.addr());
    // Both members carry on at their epochs with their partitions.
    let deadline = Instant::now() + WAIT;
    loop {
        let r = a.beat_raw(&mut conn);
        // Kafka may answer COORDINATOR_LOAD_IN_PROGRESS (or NOT_COORDINATOR) while it reloads its groups.
        if r.error_code == 0 {
            a.apply(&r);
            break;
        }
        assert!(
            r.error_code == code(ResponseError::CoordinatorLoadInProgress)
                || r.error_code == code(ResponseError::NotCoordinator)
                || r.error_code == code(ResponseError::CoordinatorNotAvailable),
            "{r:?}"
        );
        assert!(Instant::now() < deadline, "coordinator never loaded");
        std::thread::sleep(Duration::from_millis(100));
    }
    b.beat(&mut conn);
    assert_eq!(
        ((a.epoch, a.owned.clone()), (b.epoch, b.owned.clone())),
        before
    );
}

// --- librdkafka with group.protocol=consumer ---------------------------------------------------------------

fn member(bootstrap: &str, group: &str, name: &str) -> BaseConsumer {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("client.id", name)
        .set("group.id", group)
        .set("group.protocol", "consumer")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false");
    config.create().expect("create consumer")
}

/// Polls every consumer once for up to `each`, processing and synchronously committing each message before the
/// next poll: a partition revoked in a later poll has nothing processed but uncommitted.
fn poll_all(members: &[(&str, &BaseConsumer)], seen: &mut BTreeMap<(i32, i64), Vec<String>>) {
    for (name, c) in members {
        match c.poll(Duration::from_millis(50)) {
            Some(Ok(m)) => {
                seen.entry((m.partition(), m.offset()))
                    .or_default()
                    .push(name.to_string());
                c.commit_message(&m, CommitMode::Sync)
                    .unwrap_or_else(|e| panic!("{name}: commit: {e}"));
            }
            Some(Err(e)) => panic!("{name}: {e}"),
            None => {}
        }
    }
}

fn produce(bootstrap: &str, topic: &str, n: usize, partitions: i32, from: usize) {
    let p = producer(bootstrap, &[("acks", "all")]);
    let msgs: Vec<Msg> = (from..from + n)
        .map(|i| Msg::sample(i, partitions))
        .collect();
    produce_all(&p, topic, &msgs);
}

#[test]
fn rdkafka_members_join_and_leave_without_duplicates_or_loss() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("cg-rd");
    let partitions = 6;
    create_topic(&bootstrap, &topic, partitions);
    let group = unique_topic("cg-rd-group");
    let per_phase = 60;
    let mut seen = BTreeMap::new();
    let wait_for = |members: &[(&str, &BaseConsumer)],
                    seen: &mut BTreeMap<(i32, i64), Vec<String>>,
                    total: usize| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while seen.len() < total {
            assert!(
                Instant::now() < deadline,
                "{} of {total} consumed",
                seen.len()
            );
            poll_all(members, seen);
        }
    };

    let a = member(&bootstrap, &group, "a");
    a.subscribe(&[&topic]).expect("subscribe");
    produce(&bootstrap, &topic, per_phase, partitions, 0);
    wait_for(&[("a", &a)], &mut seen, per_phase);

    // b and c join while records keep coming: partitions move between members.
    let b = member(&bootstrap, &group, "b");
    b.subscribe(&[&topic]).expect("subscribe");
    let c = member(&bootstrap, &group, "c");
    c.subscribe(&[&topic]).expect("subscribe");
    let all = [("a", &a), ("b", &b), ("c", &c)];
    // Everyone gets partitions (the group rebalanced) while the second batch is consumed.
    produce(&bootstrap, &topic, per_phase, partitions, per_phase);
    let deadline = Instant::now() + WAIT;
    loop {
        poll_all(&all, &mut seen);
        let owners = all
            .iter()
            .filter(|(_, c)| c.assignment().map(|a| a.count() > 0).unwrap_or(false));
        if owners.count() == 3 && seen.len() >= 2 * per_phase {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the three members never all got partitions"
        );
    }

    // a and b leave; c takes over and gets the rest.
    drop(a);
    drop(b);
    produce(&bootstrap, &topic, per_phase, partitions, 2 * per_phase);
    wait_for(&[("c", &c)], &mut seen, 3 * per_phase);
    let dups: Vec<_> = seen.iter().filter(|(_, v)| v.len() > 1).collect();
    assert!(dups.is_empty(), "delivered twice: {dups:?}");
    assert_eq!(seen.len(), 3 * per_phase);
}

#[test]
fn rdkafka_commits_resume_after_a_restart() {
    let mut broker = Broker::start_own();
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("cg-rs");
    create_topic(&bootstrap, &topic, 2);
    let group = unique_topic("cg-rs-group");
    produce(&bootstrap, &topic, 40, 2, 0);
    let mut seen = BTreeMap::new();
    {
        let a = member(&bootstrap, &group, "a");
        a.subscribe(&[&topic]).expect("subscribe");
        let deadline = Instant::now() + WAIT;
        while seen.len() < 40 {
            assert!(Instant::now() < deadline, "{} of 40 consumed", seen.len());
            poll_all(&[("a", &a)], &mut seen);
        }
    }
    broker.restart();
    let bootstrap = broker.bootstrap();
    produce(&bootstrap, &topic, 20, 2, 40);
    let b = member(&bootstrap, &group, "b");
    b.subscribe(&[&topic]).expect("subscribe");
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < 60 {
        assert!(Instant::now() < deadline, "{} of 60 consumed", seen.len());
        poll_all(&[("b", &b)], &mut seen);
    }
    // Nothing of the first 40 came again: b started at the committed offsets.
    let again: Vec<_> = seen.iter().filter(|(_, v)| v.len() > 1).collect();
    assert!(
        again.is_empty(),
        "consumed again after the restart: {again:?}"
    );
}

/// A regex subscription is resolved by the broker (KIP-848's `subscribed_topic_regex`): a topic created later that
/// matches is assigned and consumed, one that does not match is not.
#[test]
fn rdkafka_regex_subscription_follows_created_topics() {
    // Its own broker: on a Kafka busy with other tests' topics, the new topic was not picked up in 60 s.
    let broker = Broker::start_own();
    let bootstrap = broker.bootstrap();
    let prefix = unique_topic("cgre");
    let (first, later, other) = (
        format!("{prefix}-a"),
        format!("{prefix}-b"),
        format!("x{prefix}-c"),
    );
    create_topic(&bootstrap, &first, 1);
    let group = unique_topic("cg-re-group");
    let c = member(&bootstrap, &group, "re");
    c.subscribe(&[&format!("^{prefix}-.*")]).expect("subscribe");
    let consume_until =
        |topic: &str, partitions: BTreeSet<i32>, seen: &mut BTreeSet<(String, i32)>| {
            let deadline = Instant::now() + Duration::from_secs(90);
            while !partitions
                .iter()
                .all(|p| seen.contains(&(topic.to_string(), *p)))
            {
                assert!(
                    Instant::now() < deadline,
                    "{topic} {partitions:?} never consumed; seen {seen:?}"
                );
                match c.poll(Duration::from_millis(100)) {
                    Some(Ok(m)) => {
                        seen.insert((m.topic().to_string(), m.partition()));
                    }
                    Some(Err(e)) => panic!("{e}"),
                    None => {}
                }
            }
        };
    let mut seen = BTreeSet::new();
    produce(&bootstrap, &first, 5, 1, 0);
    consume_until(&first, BTreeSet::from([0]), &mut seen);

    create_topic(&bootstrap, &later, 1);
    create_topic(&bootstrap, &other, 1);
    produce(&bootstrap, &other, 5, 1, 0);
    produce(&bootstrap, &later, 5, 1, 0);
    consume_until(&later, BTreeSet::from([0]), &mut seen);

    assert!(
        seen.iter().all(|(t, _)| *t != other),
        "a topic the regex does not match was consumed: {seen:?}"
    );
}

/// Partitions added to a subscribed topic (CreatePartitions) are assigned: the group epoch moves and the member's
/// next heartbeats bring them.
#[test]
fn raw_partitions_added_to_a_subscribed_topic_are_assigned() {
    let (broker, topic, tid, mut conn) = setup(1);
    let group = unique_topic("cg-grow");
    let mut a = RawMember::join(&mut conn, &group, &topic, tid, "member-a-0000000000000");
    beat_until(&mut conn, &mut [&mut a], "a owns the partition", |m| {
        m[0].owned.len() == 1
    });
    let epoch = a.epoch;
    let admin = compat_tests::admin_client(&broker.bootstrap());
    let grown = compat_tests::block_on(admin.create_partitions(
        &[compat_tests::rdkafka::admin::NewPartitions::new(&topic, 3)],
        &compat_tests::admin_options(),
    ))
    .expect("CreatePartitions");
    assert_eq!(grown, vec![Ok(topic.clone())]);
    beat_until(&mut conn, &mut [&mut a], "a owns all three", |m| {
        m[0].owned.len() == 3
    });
    assert!(a.epoch > epoch);
}

/// A static member (instance id) that leaves for now (epoch -2) keeps its partitions; its next incarnation, under
/// a new member id, takes them over, while another instance id cannot while the first is still active.
#[test]
fn raw_a_static_member_comes_back_with_its_partitions() {
    let (_broker, topic, tid, mut conn) = setup(2);
    let group = unique_topic("cg-static");
    let join_static = |conn: &mut RawConn, id: &str| {
        conn.request(
            1,
            &ConsumerGroupHeartbeatRequest::default()
                .with_group_id(GroupId(str_bytes(&group)))
                .with_member_id(str_bytes(id))
                .with_instance_id(Some(str_bytes("instance-1")))
                .with_member_epoch(0)
                .with_rebalance_timeout_ms(30_000)
                .with_subscribed_topic_names(Some(vec![TopicName(str_bytes(&topic))]))
                .with_topic_partitions(Some(vec![])),
        )
    };
    let mut a = RawMember {
        group: group.clone(),
        id: "member-a-0000000000000".into(),
        epoch: 0,
        owned: BTreeSet::new(),
        topic: tid,
    };
    let r = join_static(&mut conn, &a.id);
    a.apply(&r);
    beat_until(&mut conn, &mut [&mut a], "a owns both", |m| {
        m[0].owned.len() == 2
    });

    // The instance id is still held.
    let r = join_static(&mut conn, "member-a2-000000000000");
    assert_eq!(
        r.error_code,
        code(ResponseError::UnreleasedInstanceId),
        "{r:?}"
    );

    let r = conn.request(
        1,
        &ConsumerGroupHeartbeatRequest::default()
            .with_group_id(GroupId(str_bytes(&group)))
            .with_member_id(str_bytes(&a.id))
            .with_instance_id(Some(str_bytes("instance-1")))
            .with_member_epoch(-2),
    );
    assert_eq!((r.error_code, r.member_epoch), (0, -2), "{r:?}");

    let r = join_static(&mut conn, "member-a2-000000000000");
    assert_eq!(r.error_code, 0, "{r:?}");
    let back: BTreeSet<i32> = r
        .assignment
        .iter()
        .flat_map(|a| {
            a.topic_partitions
                .iter()
                .flat_map(|t| t.partitions.iter().copied())
        })
        .collect();
    assert_eq!(
        back, a.owned,
        "the new incarnation has the old one's partitions"
    );
    assert_eq!(r.member_epoch, a.epoch, "and its epoch");
}

/// An empty group converts between the protocols (Kafka's default migration policy, BIDIRECTIONAL), keeping its
/// committed offsets: a simple consumer's classic group becomes a consumer group on a first ConsumerGroupHeartbeat;
/// while it has members a classic JoinGroup is refused; once they left, a JoinGroup makes it classic again.
#[test]
fn raw_an_empty_group_converts_between_the_protocols() {
    use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
    use kafka_protocol::messages::JoinGroupRequest;

    let (_broker, topic, tid, mut conn) = setup(1);
    let group = unique_topic("cg-convert");
    // A simple consumer's commit: an empty classic group with an offset.
    let r = conn.request(8, &commit_req(&group, "", -1, &topic, 7));
    assert_eq!(r.topics[0].partitions[0].error_code, 0);

    let mut a = RawMember::join(&mut conn, &group, &topic, tid, "member-a-0000000000000");
    beat_until(&mut conn, &mut [&mut a], "a owns the partition", |m| {
        m[0].owned.len() == 1
    });
    let fetched = conn.request(9, &fetch_req(&group, &a.id, a.epoch, &topic));
    assert_eq!(
        fetched.groups[0].topics[0].partitions[0].committed_offset,
        7
    );

    let join = JoinGroupRequest::default()
        .with_group_id(GroupId(str_bytes(&group)))
        .with_session_timeout_ms(30_000)
        .with_rebalance_timeout_ms(30_000)
        .with_protocol_type(str_bytes("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(str_bytes("range"))
            .with_metadata(bytes::Bytes::from_static(
                b"\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff",
            ))]);
    if !compat_tests::is_reference_kafka() {
        // Kafka would take the classic member into the consumer group (KIP-848's online migration); Sluice does not
        // migrate a group with members, and refuses the JoinGroup as for a group of another type.
        let r = conn.request(5, &join);
        assert_eq!(r.error_code, code(ResponseError::InconsistentGroupProtocol));
    }
    a.leave(&mut conn);
    let r = conn.request(5, &join);
    assert_eq!(r.error_code, code(ResponseError::MemberIdRequired), "{r:?}");
    let group_type = |conn: &mut RawConn| {
        let listed = conn.request(5, &ListGroupsRequest::default());
        listed
            .groups
            .iter()
            .find(|g| g.group_id.as_str() == group)
            .expect("listed")
            .group_type
            .to_string()
    };
    let r = conn.request(5, &join.clone().with_member_id(r.member_id));
    assert_eq!(
        r.error_code, 0,
        "the empty consumer group takes a classic member: {r:?}"
    );
    // Kafka's ListGroups reads committed state, which may lag the join a moment.
    assert!(
        compat_tests::wait_until(WAIT, || group_type(&mut conn) == "classic"),
        "the group never listed as classic"
    );
    let fetched = conn.request(
        8,
        &fetch_req(&group, "", -1, &topic).with_groups(vec![OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(str_bytes(&group)))
            .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                .with_name(TopicName(str_bytes(&topic)))
                .with_partition_indexes(vec![0])]))]),
    );
    assert_eq!(
        fetched.groups[0].topics[0].partitions[0].committed_offset,
        7
    );
}
