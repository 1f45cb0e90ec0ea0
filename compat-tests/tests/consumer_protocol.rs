//! KIP-848 consumer groups (`group.protocol=consumer`) with librdkafka 2.12 through rdkafka 0.39: the broker
//! assigns partitions and members reconcile incrementally. Members join and leave while every produced record is
//! processed exactly once; the server-side assignors `range` and `uniform` (`group.remote.assignor`); committed
//! offsets survive a broker restart (and a kill -9) that the members ride out; a regular-expression subscription
//! resolved by the broker picks up a topic created later; a static member (`group.instance.id`) that closes and
//! returns gets its partitions back, nobody else having been given them.
//!
//! Brokers run with `group_consumer_heartbeat_interval_ms: 500` (and its minimum lowered to allow it): with
//! KIP-848 a member learns of a new target assignment only from a heartbeat, so Kafka's 5 s default would make
//! every join and leave take many seconds.
//!
//! All members are polled in turn from the test thread (librdkafka heartbeats from its own thread, so a member
//! that is not being polled stays in the group). Each processed record is committed synchronously before the next
//! poll, so a partition handed to another member resumes exactly after what was processed: a record seen twice
//! is a broker bug, and so is one never seen.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use compat_tests::proxy::Proxy;
use compat_tests::rdkafka::config::ClientConfig;
use compat_tests::rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use compat_tests::rdkafka::message::{Message, Timestamp};
use compat_tests::rdkafka::{Offset, TopicPartitionList};
use compat_tests::{
    create_topic, now_ms, produce_all, producer, unique_topic, wait_until, Broker, Msg,
};

/// Heartbeat interval the broker hands members (and the minimum Kafka lets it be).
const BROKER_CONFIG: &str =
    "group_consumer_heartbeat_interval_ms: 500\ngroup_consumer_min_heartbeat_interval_ms: 500\n";
/// Deadline for a group to reach an expected assignment and catch up with the producer.
const SETTLE: Duration = Duration::from_secs(45);

/// A member's name (for messages) and its consumer.
struct Member {
    name: String,
    consumer: BaseConsumer,
}

fn member(bootstrap: &str, group: &str, name: &str, extra: &[(&str, &str)]) -> Member {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("group.protocol", "consumer")
        .set("client.id", format!("consumer-protocol-{name}"))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set("reconnect.backoff.ms", "10")
        .set("reconnect.backoff.max.ms", "200");
    for (key, value) in extra {
        config.set(*key, *value);
    }
    Member {
        name: name.to_string(),
        consumer: config.create().expect("create consumer"),
    }
}

/// Record `i` of a test topic: its payload names it, partitions round-robin.
fn record(i: usize, partitions: i32) -> Msg {
    Msg {
        partition: (i % partitions as usize) as i32,
        key: Some(format!("k{i}").into_bytes()),
        payload: Some(format!("m{i}").into_bytes()),
        headers: vec![],
        timestamp: Timestamp::CreateTime(now_ms()),
    }
}

fn produce(bootstrap: &str, topic: &str, range: std::ops::Range<usize>, partitions: i32) {
    let records: Vec<Msg> = range.map(|i| record(i, partitions)).collect();
    let deliveries = produce_all(&producer(bootstrap, &[]), topic, &records);
    assert!(
        deliveries.iter().all(|d| d.error.is_none()),
        "produce to {topic} failed: {deliveries:?}"
    );
}

/// How many times each payload was processed.
type Seen = BTreeMap<String, usize>;

/// Polls every member once, briefly; each record is counted and committed before the next poll.
fn poll_all(members: &[&Member], seen: &mut Seen) {
    for m in members {
        match m.consumer.poll(Duration::from_millis(20)) {
            Some(Ok(message)) => {
                let payload =
                    String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned();
                *seen.entry(payload).or_default() += 1;
                // A commit can fail while the member's epoch moves (a rebalance in flight): the record's
                // partition is then being revoked, and the next owner starts from the last good commit, so the
                // test would see the record twice and fail. Retrying is what an application does.
                let mut last = None;
                let committed = wait_until(Duration::from_secs(10), || {
                    match m.consumer.commit_message(&message, CommitMode::Sync) {
                        Ok(()) => true,
                        Err(e) => {
                            last = Some(e);
                            false
                        }
                    }
                });
                assert!(
                    committed,
                    "{} could not commit {}: {last:?}",
                    m.name,
                    message.offset()
                );
            }
            // Transient errors (a coordinator moving, a broker restarting) are librdkafka's to recover from.
            Some(Err(e)) => eprintln!("{}: consumer error: {e}", m.name),
            None => {}
        }
    }
}

/// Each member's assignment, as (topic, partition).
fn assignments(members: &[&Member]) -> Vec<BTreeSet<(String, i32)>> {
    members
        .iter()
        .map(|m| {
            m.consumer
                .assignment()
                .expect("assignment")
                .elements()
                .iter()
                .map(|e| (e.topic().to_string(), e.partition()))
                .collect()
        })
        .collect()
}

/// Polls until every member owns `sizes[i]` partitions, together all of `partitions`, and `expected` records
/// were processed; panics with the state reached otherwise.
fn settle(
    broker: &Broker,
    members: &[&Member],
    seen: &mut Seen,
    sizes: &[usize],
    partitions: usize,
    expected: usize,
    what: &str,
) {
    let ok = wait_until(SETTLE, || {
        poll_all(members, seen);
        let owned = assignments(members);
        let union: BTreeSet<_> = owned.iter().flatten().collect();
        owned.iter().map(BTreeSet::len).collect::<Vec<_>>() == sizes
            && union.len() == partitions
            && seen.len() >= expected
    });
    assert!(
        ok,
        "{what}: expected sizes {sizes:?} over {partitions} partitions and {expected} records; got {:?} and {} \
         records\nbroker log:\n{}",
        assignments(members),
        seen.len(),
        broker.logs()
    );
    assert_no_duplicates(seen);
}

fn assert_no_duplicates(seen: &Seen) {
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "records processed more than once: {twice:?}"
    );
}

/// Three members on six partitions get two each; one leaves and the other two take three each; a new one joins
/// and all three have two again. Records produced in each phase are all processed, none twice.
#[test]
fn members_join_and_leave_without_duplicates_or_loss() {
    const PARTITIONS: i32 = 6;
    const BATCH: usize = 120;
    let broker = Broker::start_with(BROKER_CONFIG);
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("cgp-join-leave");
    let group = unique_topic("cgp-join-leave");
    create_topic(&bootstrap, &topic, PARTITIONS);
    produce(&bootstrap, &topic, 0..BATCH, PARTITIONS);

    let (a, b) = (
        member(&bootstrap, &group, "a", &[]),
        member(&bootstrap, &group, "b", &[]),
    );
    let c = member(&bootstrap, &group, "c", &[]);
    for m in [&a, &b, &c] {
        m.consumer.subscribe(&[&topic]).expect("subscribe");
    }
    let mut seen = Seen::new();
    settle(
        &broker,
        &[&a, &b, &c],
        &mut seen,
        &[2, 2, 2],
        6,
        BATCH,
        "three members",
    );

    // c leaves (close sends a leave heartbeat, epoch -1): its partitions go to a and b.
    drop(c);
    produce(&bootstrap, &topic, BATCH..2 * BATCH, PARTITIONS);
    settle(
        &broker,
        &[&a, &b],
        &mut seen,
        &[3, 3],
        6,
        2 * BATCH,
        "after c left",
    );

    // d joins: a and b each revoke one partition before d is given it.
    let d = member(&bootstrap, &group, "d", &[]);
    d.consumer.subscribe(&[&topic]).expect("subscribe");
    produce(&bootstrap, &topic, 2 * BATCH..3 * BATCH, PARTITIONS);
    settle(
        &broker,
        &[&a, &b, &d],
        &mut seen,
        &[2, 2, 2],
        6,
        3 * BATCH,
        "after d joined",
    );
    assert_eq!(
        seen.len(),
        3 * BATCH,
        "only produced records were processed"
    );

    // What the group committed is where the log ends: nothing is left to read and nothing was skipped.
    let committed = a
        .consumer
        .committed_offsets(all_partitions(&topic, PARTITIONS), Duration::from_secs(10))
        .expect("OffsetFetch");
    for e in committed.elements() {
        assert_eq!(
            e.offset(),
            Offset::Offset((3 * BATCH / PARTITIONS as usize) as i64),
            "committed offset of partition {}",
            e.partition()
        );
    }
}

fn all_partitions(topic: &str, partitions: i32) -> TopicPartitionList {
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition(topic, p);
    }
    list
}

/// Two members subscribed to two 3-partition topics. `range` assigns each topic's partitions in ranges, so one
/// member gets the extra partition of both topics (4 and 2); `uniform` balances the total (3 and 3).
fn assignor_splits(assignor: &str, expected: [usize; 2]) {
    let broker = Broker::start_with(BROKER_CONFIG);
    let bootstrap = broker.bootstrap();
    let (t1, t2) = (
        unique_topic("cgp-assignor-a"),
        unique_topic("cgp-assignor-b"),
    );
    let group = unique_topic(&format!("cgp-{assignor}"));
    for t in [&t1, &t2] {
        create_topic(&bootstrap, t, 3);
    }
    let settings = [("group.remote.assignor", assignor)];
    let (a, b) = (
        member(&bootstrap, &group, "a", &settings),
        member(&bootstrap, &group, "b", &settings),
    );
    for m in [&a, &b] {
        m.consumer.subscribe(&[&t1, &t2]).expect("subscribe");
    }
    let mut seen = Seen::new();
    let mut sizes = vec![];
    let ok = wait_until(SETTLE, || {
        poll_all(&[&a, &b], &mut seen);
        let owned = assignments(&[&a, &b]);
        let union: BTreeSet<_> = owned.iter().flatten().collect();
        sizes = owned.iter().map(BTreeSet::len).collect::<Vec<_>>();
        sizes.sort_unstable();
        union.len() == 6 && sizes == expected
    });
    assert!(
        ok,
        "{assignor}: expected assignment sizes {expected:?}, got {:?}\nbroker log:\n{}",
        assignments(&[&a, &b]),
        broker.logs()
    );
    if assignor == "range" {
        // Range keeps a topic's partitions together: the member with two of a topic has partitions 0 and 1.
        for owned in assignments(&[&a, &b]) {
            for t in [&t1, &t2] {
                let of_topic: Vec<i32> = owned
                    .iter()
                    .filter(|(n, _)| n == t)
                    .map(|(_, p)| *p)
                    .collect();
                assert!(
                    of_topic == [0, 1] || of_topic == [2] || of_topic == [0] || of_topic == [1, 2],
                    "range gives contiguous partitions of {t}: {owned:?}"
                );
            }
        }
    }
}

#[test]
fn range_assignor_assigns_ranges_per_topic() {
    assignor_splits("range", [2, 4]);
}

#[test]
fn uniform_assignor_balances_the_total() {
    assignor_splits("uniform", [3, 3]);
}

/// Two members consume and commit; the broker restarts behind a proxy (same address); the members carry on with
/// what is produced next, from the committed offsets: nothing twice, nothing lost. A new member of the group after
/// that starts where the group left off and finds nothing to read.
#[test]
fn commits_resume_after_a_broker_restart() {
    commits_resume_after(false);
}

/// The same after kill -9: the group's commits were durable when they were acknowledged.
#[test]
fn commits_resume_after_a_broker_crash() {
    commits_resume_after(true);
}

fn commits_resume_after(kill9: bool) {
    const PARTITIONS: i32 = 4;
    const BATCH: usize = 60;
    let proxy = Proxy::start();
    let mut broker = Broker::start_own_with(&format!("{BROKER_CONFIG}advertise: {}\n", proxy.addr));
    proxy.point_to(broker.addr());
    let bootstrap = proxy.addr.to_string();
    let topic = unique_topic("cgp-restart");
    let group = unique_topic("cgp-restart");
    create_topic(&bootstrap, &topic, PARTITIONS);
    produce(&bootstrap, &topic, 0..BATCH, PARTITIONS);

    let (a, b) = (
        member(&bootstrap, &group, "a", &[]),
        member(&bootstrap, &group, "b", &[]),
    );
    for m in [&a, &b] {
        m.consumer.subscribe(&[&topic]).expect("subscribe");
    }
    let mut seen = Seen::new();
    settle(
        &broker,
        &[&a, &b],
        &mut seen,
        &[2, 2],
        4,
        BATCH,
        "before the restart",
    );

    if kill9 {
        broker.kill9();
        broker.start_again();
    } else {
        broker.restart();
    }
    proxy.point_to(broker.addr());
    produce(&bootstrap, &topic, BATCH..2 * BATCH, PARTITIONS);
    settle(
        &broker,
        &[&a, &b],
        &mut seen,
        &[2, 2],
        4,
        2 * BATCH,
        "after the restart",
    );
    assert_eq!(seen.len(), 2 * BATCH);
    drop((a, b));

    // The commits are durable: a fresh member of the group (after both left) has nothing to read.
    let c = member(&bootstrap, &group, "c", &[]);
    c.consumer.subscribe(&[&topic]).expect("subscribe");
    produce(&bootstrap, &topic, 2 * BATCH..2 * BATCH + 1, PARTITIONS);
    settle(
        &broker,
        &[&c],
        &mut seen,
        &[4],
        4,
        2 * BATCH + 1,
        "a new member after the restart",
    );
    assert_eq!(
        seen.len(),
        2 * BATCH + 1,
        "the new member read only the new record"
    );
}

/// A subscription to `^prefix.*` is resolved by the broker (KIP-848's `subscribed_topic_regex`): the member gets
/// the matching topic, not the other one, and a matching topic created later is added to its assignment.
#[test]
fn a_regex_subscription_picks_up_a_topic_created_later() {
    let broker = Broker::start_with(BROKER_CONFIG);
    let bootstrap = broker.bootstrap();
    let prefix = unique_topic("cgp-regex");
    let (first, later, other) = (
        format!("{prefix}-first"),
        format!("{prefix}-later"),
        unique_topic("cgp-other"),
    );
    create_topic(&bootstrap, &first, 2);
    create_topic(&bootstrap, &other, 1);
    produce(&bootstrap, &first, 0..10, 2);
    produce(&bootstrap, &other, 100..105, 1);

    let a = member(&bootstrap, &unique_topic("cgp-regex"), "a", &[]);
    a.consumer
        .subscribe(&[&format!("^{prefix}.*")])
        .expect("subscribe");
    let mut seen = Seen::new();
    settle(
        &broker,
        &[&a],
        &mut seen,
        &[2],
        2,
        10,
        "the first matching topic",
    );

    create_topic(&bootstrap, &later, 1);
    produce(&bootstrap, &later, 10..15, 1);
    settle(
        &broker,
        &[&a],
        &mut seen,
        &[3],
        3,
        15,
        "the topic created later",
    );
    let topics: BTreeSet<String> = assignments(&[&a])[0]
        .iter()
        .map(|(t, _)| t.clone())
        .collect();
    assert_eq!(
        topics,
        BTreeSet::from([first, later]),
        "only matching topics are assigned"
    );
    assert!(
        (100..105).all(|i| !seen.contains_key(&format!("m{i}"))),
        "records of the non-matching topic were consumed: {seen:?}"
    );
}

/// Static membership (KIP-848 keeps KIP-345's `group.instance.id`): a static member that closes and comes back
/// within the session timeout gets the partitions it had, which nobody else was given meanwhile, and the other
/// member keeps its own, with no record processed twice.
#[test]
fn a_static_member_that_returns_gets_its_partitions_back() {
    const PARTITIONS: i32 = 4;
    let broker = Broker::start_with(BROKER_CONFIG);
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("cgp-static");
    let group = unique_topic("cgp-static");
    create_topic(&bootstrap, &topic, PARTITIONS);
    produce(&bootstrap, &topic, 0..40, PARTITIONS);
    let instance = |id: &str| format!("{group}-{id}");
    let (ia, ib) = (instance("a"), instance("b"));
    let a = member(&bootstrap, &group, "a", &[("group.instance.id", &ia)]);
    let b = member(&bootstrap, &group, "b", &[("group.instance.id", &ib)]);
    for m in [&a, &b] {
        m.consumer.subscribe(&[&topic]).expect("subscribe");
    }
    let mut seen = Seen::new();
    settle(
        &broker,
        &[&a, &b],
        &mut seen,
        &[2, 2],
        4,
        40,
        "two static members",
    );
    let before = assignments(&[&a, &b]);

    // A static member's close leaves with epoch -2: its partitions stay reserved for its instance id, so b is
    // not given them. This watches for an absence, so it is a timed window: four heartbeat intervals, in which a
    // dynamic member's leave would have moved the partitions to b.
    drop(a);
    let window = std::time::Instant::now();
    while window.elapsed() < Duration::from_secs(2) {
        poll_all(&[&b], &mut seen);
        assert_eq!(
            assignments(&[&b])[0],
            before[1],
            "b was given the absent static member's partitions"
        );
    }
    let a = member(&bootstrap, &group, "a-again", &[("group.instance.id", &ia)]);
    a.consumer.subscribe(&[&topic]).expect("subscribe");
    produce(&bootstrap, &topic, 40..80, PARTITIONS);
    settle(
        &broker,
        &[&a, &b],
        &mut seen,
        &[2, 2],
        4,
        80,
        "the static member back",
    );
    assert_eq!(
        assignments(&[&a, &b]),
        before,
        "the returning instance got its partitions back"
    );
}
