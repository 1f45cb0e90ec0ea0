//! Consumer groups (classic protocol) with librdkafka through rdkafka 0.39: members joining, leaving and crashing
//! while every produced message reaches the group exactly once; committed offsets across a broker restart; static
//! membership (KIP-345); cooperative-sticky incremental rebalances; the group admin APIs (ListGroups,
//! DescribeGroups, DeleteGroups); a simple consumer's commits (assign, no subscribe); partitions added to a
//! subscribed topic; the initial rebalance delay; assignor selection; OffsetDelete, which no client here
//! sends, over a raw connection; and a broker restart that a stable group does not notice.
//!
//! Every broker runs with `group_min_session_timeout_ms: 500`, so members can use session timeouts of seconds.
//!
//! A crashed member is a child process (this test binary re-run as [`crash_child_member`]) killed with SIGKILL.
//! Nothing in-process can stand in for it: librdkafka heartbeats from its own thread, so a consumer that merely
//! stops polling stays in the group, and closing one always sends LeaveGroup (for dynamic members).
//!
//! Members run in their own threads ([`Member`]) and record what they consume and every rebalance callback
//! ([`Tracker`]). They commit synchronously: in-process members every 100 ms and in the revoke callback, the child
//! after every message, so no processed message can be delivered again after a rebalance. Waits poll a condition
//! within a deadline; the only timed windows are those that check static members see *no* rebalance, which must
//! watch for an absence.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use compat_tests::proxy::Proxy;
use compat_tests::raw::{str_bytes, RawConn};
use compat_tests::rdkafka::admin::NewPartitions;
use compat_tests::rdkafka::config::ClientConfig;
use compat_tests::rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance,
};
use compat_tests::rdkafka::error::{KafkaError, RDKafkaErrorCode};
use compat_tests::rdkafka::groups::GroupInfo;
use compat_tests::rdkafka::message::Message;
use compat_tests::rdkafka::producer::BaseRecord;
use compat_tests::rdkafka::{ClientContext, Offset, TopicPartitionList};
use compat_tests::{
    admin_client, admin_options, block_on, consume_n, create_topic, flush_delivered, produce_all,
    producer, unique_topic, wait_until, Broker, Delivery, Msg, TestProducer, CLIENT_TIMEOUT,
};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::{GroupId, OffsetDeleteRequest, TopicName};

/// Lets members ask for short session timeouts; the initial rebalance delay is the default, spelled out.
const BROKER_CONFIG: &str =
    "group_min_session_timeout_ms: 500\ngroup_initial_rebalance_delay_ms: 0\n";
/// Session timeout of members that are expected to stay.
const SESSION_MS: &str = "6000";
/// Session timeout of the member that is killed: how long the group waits before it rebalances without it.
const CRASH_SESSION_MS: &str = "2000";
/// Session timeout of static members: a restarted member must be back within it.
const STATIC_SESSION_MS: u64 = 3000;
const HEARTBEAT_MS: &str = "300";
/// librdkafka sends `max.poll.interval.ms` as the rebalance timeout: it bounds how long a rebalance waits for a
/// member that does not rejoin (the default, 5 minutes, would turn a broker bug into a hung test).
const MAX_POLL_INTERVAL_MS: &str = "20000";
/// Deadline for a group to reach an expected assignment, or for consumers to catch up with the producer.
const SETTLE: Duration = Duration::from_secs(30);
/// How often in-process members commit what they processed (besides the revoke callback).
const COMMIT_INTERVAL: Duration = Duration::from_millis(100);

/// Environment the child member reads; unset, [`crash_child_member`] does nothing.
const CHILD_ENV: &str = "SLUICE_GROUPS_CHILD";
/// Prefix of the child's protocol lines on stdout (libtest prints its own lines there too).
const CHILD_PREFIX: &str = "GROUPCHILD";

// ------------------------------------------------------------------------------------------------ members

/// One rebalance callback, as partitions of the test's single topic.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Assign(BTreeSet<i32>),
    Revoke(BTreeSet<i32>),
}

impl Event {
    fn line(&self) -> String {
        let (kind, parts) = match self {
            Event::Assign(p) => ("assign", p),
            Event::Revoke(p) => ("revoke", p),
        };
        let parts: Vec<String> = parts.iter().map(i32::to_string).collect();
        format!("{kind} {}", parts.join(" "))
    }
}

/// Consumer context that records rebalance callbacks and the partitions they leave the member owning, and
/// optionally commits what was processed before partitions are revoked.
#[derive(Default)]
struct Tracker {
    /// Commit the offsets of every message handed to the application (`enable.auto.offset.store`) on revoke.
    commit_on_revoke: bool,
    /// Print each event on stdout for a parent process.
    echo: bool,
    events: Mutex<Vec<Event>>,
    owned: Mutex<BTreeSet<i32>>,
    errors: Mutex<Vec<String>>,
}

impl Tracker {
    fn committing() -> Tracker {
        Tracker {
            commit_on_revoke: true,
            ..Tracker::default()
        }
    }

    fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    fn owned(&self) -> BTreeSet<i32> {
        self.owned.lock().unwrap().clone()
    }

    fn errors(&self) -> Vec<String> {
        self.errors.lock().unwrap().clone()
    }

    fn error(&self, what: String) {
        self.errors.lock().unwrap().push(what);
    }
}

fn partitions_of(tpl: &TopicPartitionList) -> BTreeSet<i32> {
    tpl.elements().iter().map(|e| e.partition()).collect()
}

impl ClientContext for Tracker {}

impl ConsumerContext for Tracker {
    // Runs inside `poll`, on the member's own thread, before librdkafka applies the change: everything the
    // application processed so far is in the offset store, so committing here loses and repeats nothing.
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let event = match rebalance {
            Rebalance::Assign(tpl) => {
                let parts = partitions_of(tpl);
                self.owned.lock().unwrap().extend(parts.iter().copied());
                Event::Assign(parts)
            }
            Rebalance::Revoke(tpl) => {
                if self.commit_on_revoke {
                    if let Err(e) = commit_processed(consumer) {
                        self.error(format!("commit on revoke: {e}"));
                    }
                }
                let parts = partitions_of(tpl);
                self.owned.lock().unwrap().retain(|p| !parts.contains(p));
                Event::Revoke(parts)
            }
            Rebalance::Error(e) => {
                self.error(format!("rebalance error: {e}"));
                return;
            }
        };
        if self.echo {
            println!("{CHILD_PREFIX} {}", event.line());
        }
        self.events.lock().unwrap().push(event);
    }
}

/// Commits the offset store synchronously; "nothing to commit" is success.
fn commit_processed<C: ConsumerContext>(consumer: &BaseConsumer<C>) -> Result<(), KafkaError> {
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => Ok(()),
        other => other,
    }
}

/// Settings shared by every group member here.
fn member_config(bootstrap: &str, group: &str, name: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("client.id", format!("groups-{name}"))
        .set("enable.auto.commit", "false")
        // The default, spelled out: a message's offset is stored when `poll` hands it over.
        .set("enable.auto.offset.store", "true")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set("session.timeout.ms", SESSION_MS)
        .set("heartbeat.interval.ms", HEARTBEAT_MS)
        .set("max.poll.interval.ms", MAX_POLL_INTERVAL_MS);
    config
}

/// A message some member processed.
#[derive(Debug, Clone)]
struct Seen {
    member: String,
    partition: i32,
    offset: i64,
}

type SeenLog = Arc<Mutex<Vec<Seen>>>;

/// A group member polling in its own thread until closed.
struct Member {
    name: String,
    tracker: Arc<Tracker>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Member {
    /// Subscribes to `topic` and consumes into `seen`, committing every [`COMMIT_INTERVAL`] and on revoke.
    fn spawn(name: &str, config: ClientConfig, topic: &str, seen: SeenLog) -> Member {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let handle = {
            let (name, topic, stop) = (name.to_string(), topic.to_string(), Arc::clone(&stop));
            thread::Builder::new()
                .name(format!("member-{name}"))
                .spawn(move || {
                    let consumer: BaseConsumer<Tracker> = config
                        .create_with_context(Tracker::committing())
                        .expect("create consumer");
                    consumer.subscribe(&[&topic]).expect("subscribe");
                    let tracker = Arc::clone(consumer.context());
                    tx.send(Arc::clone(&tracker)).expect("send tracker");
                    run_member(&name, &consumer, &tracker, &stop, &seen);
                    close_member(&name, &consumer, &seen);
                })
                .expect("spawn member thread")
        };
        let tracker = rx.recv().expect("member thread started");
        Member {
            name: name.to_string(),
            tracker,
            stop,
            handle: Some(handle),
        }
    }

    fn owned(&self) -> BTreeSet<i32> {
        self.tracker.owned()
    }

    /// Stops polling and closes the consumer; returns its tracker for inspection.
    fn close(mut self) -> Arc<Tracker> {
        self.shutdown();
        Arc::clone(&self.tracker)
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(handle) = self.handle.take() {
            if handle.join().is_err() && !thread::panicking() {
                panic!("member {} panicked", self.name);
            }
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn run_member(
    name: &str,
    consumer: &BaseConsumer<Tracker>,
    tracker: &Tracker,
    stop: &AtomicBool,
    seen: &Mutex<Vec<Seen>>,
) {
    let mut dirty = false;
    let mut last_commit = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                seen.lock().unwrap().push(Seen {
                    member: name.to_string(),
                    partition: message.partition(),
                    offset: message.offset(),
                });
                dirty = true;
            }
            Some(Err(e)) => tracker.error(format!("poll: {e}")),
            None => {}
        }
        if dirty && last_commit.elapsed() >= COMMIT_INTERVAL {
            dirty = match commit_processed(consumer) {
                Ok(()) => false,
                // A commit sent under the generation a rebalance has just replaced (the member's JoinGroup
                // response and the commit crossed) is refused: the next commit, or the one in the revoke
                // callback, carries the same offsets under the new generation. Kafka's wider window shows it.
                Err(KafkaError::ConsumerCommit(
                    RDKafkaErrorCode::IllegalGeneration | RDKafkaErrorCode::RebalanceInProgress,
                )) => true,
                Err(e) => {
                    tracker.error(format!("periodic commit: {e}"));
                    false
                }
            };
            last_commit = Instant::now();
        }
    }
    if let Err(e) = commit_processed(consumer) {
        tracker.error(format!("final commit: {e}"));
    }
}

/// Closes the consumer: the revoke callback commits, then a dynamic member leaves the group (librdkafka sends no
/// LeaveGroup for a static one).
///
/// rdkafka's `Drop` does the same but drops whatever `poll` hands out while closing, and librdkafka has stored
/// those messages' offsets by then (`enable.auto.offset.store`), so the revoke callback commits past messages
/// nobody processed: the next owner skips them. Closing here records them like any other message instead. (Seen
/// against Apache Kafka, whose slower rebalances leave more prefetched messages to hand out during a close.)
fn close_member(name: &str, consumer: &BaseConsumer<Tracker>, seen: &Mutex<Vec<Seen>>) {
    consumer.close_queue().expect("close consumer queue");
    while !consumer.closed() {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
            seen.lock().unwrap().push(Seen {
                member: name.to_string(),
                partition: message.partition(),
                offset: message.offset(),
            });
        }
    }
}

// ------------------------------------------------------------------------------------------------ the child

/// A group member in a child process, to be killed with SIGKILL.
struct CrashChild {
    child: Child,
    stdin: Option<ChildStdin>,
    owned: Arc<Mutex<BTreeSet<i32>>>,
    paused: Arc<AtomicBool>,
    exited: Arc<AtomicBool>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl CrashChild {
    fn spawn(bootstrap: &str, group: &str, topic: &str, seen: SeenLog) -> CrashChild {
        let exe = std::env::current_exe().expect("test binary path");
        let mut child = Command::new(exe)
            .args([
                "crash_child_member",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, format!("{bootstrap} {group} {topic}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn child member");
        let owned = Arc::new(Mutex::new(BTreeSet::new()));
        let paused = Arc::new(AtomicBool::new(false));
        let exited = Arc::new(AtomicBool::new(false));
        let stderr = Arc::new(Mutex::new(String::new()));
        let out = child.stdout.take().expect("piped stdout");
        let stdout_reader = {
            let (owned, paused, exited) =
                (Arc::clone(&owned), Arc::clone(&paused), Arc::clone(&exited));
            thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    // libtest's `test crash_child_member ... ` may precede the first line without a newline.
                    let Some(at) = line.find(CHILD_PREFIX) else {
                        continue;
                    };
                    let mut words = line[at + CHILD_PREFIX.len()..].split_whitespace();
                    let kind = words.next().unwrap_or_default();
                    let numbers: Vec<i64> = words.map(|w| w.parse().expect("number")).collect();
                    match kind {
                        "assign" => owned
                            .lock()
                            .unwrap()
                            .extend(numbers.iter().map(|&p| p as i32)),
                        "revoke" => owned
                            .lock()
                            .unwrap()
                            .retain(|p| !numbers.contains(&i64::from(*p))),
                        "msg" => seen.lock().unwrap().push(Seen {
                            member: "child".to_string(),
                            partition: numbers[0] as i32,
                            offset: numbers[1],
                        }),
                        "paused" => paused.store(true, Ordering::SeqCst),
                        other => panic!("unknown child line {other:?}"),
                    }
                }
                exited.store(true, Ordering::SeqCst);
            })
        };
        let err = child.stderr.take().expect("piped stderr");
        let stderr_reader = {
            let stderr = Arc::clone(&stderr);
            thread::spawn(move || {
                let mut text = String::new();
                let _ = BufReader::new(err).read_to_string(&mut text);
                stderr.lock().unwrap().push_str(&text);
            })
        };
        CrashChild {
            stdin: child.stdin.take(),
            child,
            owned,
            paused,
            exited,
            stderr,
            readers: vec![stdout_reader, stderr_reader],
        }
    }

    fn owned(&self) -> BTreeSet<i32> {
        self.owned.lock().unwrap().clone()
    }

    fn check_alive(&self) {
        assert!(
            !self.exited.load(Ordering::SeqCst),
            "child member exited early; its stderr:\n{}",
            self.stderr.lock().unwrap()
        );
    }

    /// Makes the child stop consuming between two messages (everything it reported is committed), then kills
    /// it with SIGKILL: it stays a member of the group, silent, until its session times out.
    fn pause_and_kill(mut self) {
        self.check_alive();
        let stdin = self.stdin.as_mut().expect("child stdin");
        writeln!(stdin, "pause").expect("write to child");
        stdin.flush().expect("flush child stdin");
        let paused = wait_until(Duration::from_secs(10), || {
            self.paused.load(Ordering::SeqCst) || self.exited.load(Ordering::SeqCst)
        });
        self.check_alive();
        assert!(paused, "child member did not pause");
        self.child.kill().expect("SIGKILL child");
        self.child.wait().expect("reap child");
        for reader in self.readers.drain(..) {
            reader.join().expect("child reader");
        }
    }
}

impl Drop for CrashChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The member [`CrashChild`] runs: consumes, committing synchronously after each message before reporting it,
/// and on `pause` stops consuming and waits to be killed. Without [`CHILD_ENV`] it does nothing.
#[test]
#[ignore = "helper: `members_join_leave_and_crash_while_every_message_is_consumed_once` runs it as a child process"]
fn crash_child_member() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let [bootstrap, group, topic]: [&str; 3] = spec
        .split(' ')
        .collect::<Vec<_>>()
        .try_into()
        .expect("bootstrap, group and topic");
    let mut config = member_config(bootstrap, group, "child");
    config.set("session.timeout.ms", CRASH_SESSION_MS);
    let consumer: BaseConsumer<Tracker> = config
        .create_with_context(Tracker {
            echo: true,
            ..Tracker::default()
        })
        .expect("create consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let pause = Arc::new(AtomicBool::new(false));
    {
        let pause = Arc::clone(&pause);
        thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                match line {
                    Ok(line) if line.trim() == "pause" => pause.store(true, Ordering::SeqCst),
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            // The parent is gone: do not outlive it.
            std::process::exit(0);
        });
    }
    loop {
        if pause.load(Ordering::SeqCst) {
            println!("{CHILD_PREFIX} paused");
            loop {
                thread::park();
            }
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                consumer
                    .commit_message(&message, CommitMode::Sync)
                    .unwrap_or_else(|e| {
                        panic!(
                            "child: commit {}/{}: {e}",
                            message.partition(),
                            message.offset()
                        )
                    });
                println!(
                    "{CHILD_PREFIX} msg {} {}",
                    message.partition(),
                    message.offset()
                );
            }
            Some(Err(e)) => panic!("child: poll: {e}"),
            None => {}
        }
    }
}

// ------------------------------------------------------------------------------------------------ producing

/// Produces `m-<id>` to partition `id % partitions`, about one message every 2 ms, until finished.
struct Feeder {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicUsize>,
    handle: Option<JoinHandle<TestProducer>>,
}

impl Feeder {
    fn start(bootstrap: &str, topic: &str, partitions: i32) -> Feeder {
        let producer = producer(bootstrap, &[("linger.ms", "2")]);
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicUsize::new(0));
        let handle = {
            let (topic, stop, sent) = (topic.to_string(), Arc::clone(&stop), Arc::clone(&sent));
            thread::spawn(move || {
                let mut id = 0usize;
                while !stop.load(Ordering::SeqCst) {
                    let payload = format!("m-{id}");
                    let record = BaseRecord::with_opaque_to(&topic, id)
                        .partition((id % partitions as usize) as i32)
                        .payload(&payload);
                    producer
                        .send::<[u8], _>(record)
                        .map_err(|(e, _)| e)
                        .unwrap_or_else(|e| panic!("enqueue message {id}: {e}"));
                    id += 1;
                    sent.store(id, Ordering::SeqCst);
                    // Pacing, not waiting for a condition: the load is a steady trickle across rebalances.
                    thread::sleep(Duration::from_millis(2));
                }
                producer
            })
        };
        Feeder {
            stop,
            sent,
            handle: Some(handle),
        }
    }

    fn sent(&self) -> usize {
        self.sent.load(Ordering::SeqCst)
    }

    /// Stops, flushes and returns every delivery report; panics on any failed delivery.
    fn finish(mut self) -> Vec<Delivery> {
        self.stop.store(true, Ordering::SeqCst);
        let producer = self
            .handle
            .take()
            .expect("running")
            .join()
            .expect("producer thread");
        flush_delivered(&producer, self.sent(), Duration::from_secs(30))
    }
}

impl Drop for Feeder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

// ------------------------------------------------------------------------------------------------ checks

/// Number of distinct (partition, offset) positions consumed.
fn distinct_seen(seen: &Mutex<Vec<Seen>>) -> usize {
    let seen = seen.lock().unwrap();
    seen.iter()
        .map(|s| (s.partition, s.offset))
        .collect::<HashSet<_>>()
        .len()
}

/// Waits until the group consumed as many distinct positions as were delivered.
fn wait_consumed(broker: &Broker, seen: &Mutex<Vec<Seen>>, delivered: usize) {
    let caught_up = wait_until(SETTLE, || distinct_seen(seen) >= delivered);
    assert!(
        caught_up,
        "group consumed {} of {delivered} messages within {SETTLE:?}; broker log:\n{}",
        distinct_seen(seen),
        broker.logs()
    );
}

/// Every delivered message was consumed by exactly one member, once, and nothing else was consumed.
fn assert_exactly_once(delivered: &[Delivery], seen: &[Seen]) {
    let mut by_position: HashMap<(i32, i64), Vec<&str>> = HashMap::new();
    for s in seen {
        by_position
            .entry((s.partition, s.offset))
            .or_default()
            .push(&s.member);
    }
    let produced: HashSet<(i32, i64)> = delivered.iter().map(|d| (d.partition, d.offset)).collect();
    let mut duplicates: Vec<_> = by_position
        .iter()
        .filter(|(_, members)| members.len() > 1)
        .collect();
    duplicates.sort();
    let mut missing: Vec<_> = produced
        .iter()
        .filter(|p| !by_position.contains_key(p))
        .collect();
    missing.sort();
    let mut unexpected: Vec<_> = by_position
        .keys()
        .filter(|p| !produced.contains(p))
        .collect();
    unexpected.sort();
    assert!(
        duplicates.is_empty() && missing.is_empty() && unexpected.is_empty(),
        "{} produced, {} consumed: {} positions consumed more than once (first: {:?}), {} never consumed \
         (first: {:?}), {} consumed but never produced (first: {:?})",
        produced.len(),
        seen.len(),
        duplicates.len(),
        &duplicates[..duplicates.len().min(10)],
        missing.len(),
        &missing[..missing.len().min(10)],
        unexpected.len(),
        &unexpected[..unexpected.len().min(10)],
    );
}

type Owners = Vec<(String, BTreeSet<i32>)>;

/// Whether every listed member owns some partitions, no two own the same one, and together they own them all.
fn settled(owners: &Owners, partitions: i32) -> bool {
    let mut union = BTreeSet::new();
    for (_, owned) in owners {
        if owned.is_empty() || owned.iter().any(|p| !union.insert(*p)) {
            return false;
        }
    }
    union == (0..partitions).collect()
}

/// Waits until [`settled`] holds for what `owners` reports and returns that assignment by member.
fn wait_settled(
    broker: &Broker,
    what: &str,
    partitions: i32,
    owners: impl Fn() -> Owners,
) -> BTreeMap<String, BTreeSet<i32>> {
    let ok = wait_until(SETTLE, || settled(&owners(), partitions));
    assert!(
        ok,
        "{what}: no disjoint assignment of all {partitions} partitions to every member within {SETTLE:?}; \
         last seen {:?}; broker log:\n{}",
        owners(),
        broker.logs()
    );
    owners().into_iter().collect()
}

fn owners_of(members: &[&Member]) -> Owners {
    members
        .iter()
        .map(|m| (m.name.clone(), m.owned()))
        .collect()
}

fn assert_no_errors(trackers: &[(&str, &Tracker)]) {
    for (name, tracker) in trackers {
        let errors = tracker.errors();
        assert!(errors.is_empty(), "member {name}: {errors:?}");
    }
}

/// Committed offsets of `group` for partitions `0..partitions`, read by a consumer that does not join.
fn committed(bootstrap: &str, group: &str, topic: &str, partitions: i32) -> Vec<Offset> {
    let consumer: BaseConsumer = member_config(bootstrap, group, "reader")
        .create()
        .expect("create consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let result = consumer
        .committed_offsets(tpl, CLIENT_TIMEOUT)
        .unwrap_or_else(|e| panic!("OffsetFetch {group}: {e}"));
    (0..partitions)
        .map(|p| {
            let element = result.find_partition(topic, p).expect("asked partition");
            element
                .error()
                .unwrap_or_else(|e| panic!("OffsetFetch {group} {topic}/{p}: {e}"));
            element.offset()
        })
        .collect()
}

/// The group as ListGroups + DescribeGroups report it; `None` when ListGroups does not list it (librdkafka
/// describes only the groups ListGroups returns).
fn try_describe_group(bootstrap: &str, group: &str) -> Option<GroupInfoSnapshot> {
    let client: BaseConsumer = member_config(bootstrap, "observer", "observer")
        .create()
        .expect("create consumer");
    let list = client
        .fetch_group_list(Some(group), CLIENT_TIMEOUT)
        .unwrap_or_else(|e| panic!("describe group {group}: {e}"));
    let groups = list.groups();
    assert!(groups.len() <= 1, "one group described");
    groups.first().map(GroupInfoSnapshot::of)
}

fn describe_group(bootstrap: &str, group: &str) -> GroupInfoSnapshot {
    try_describe_group(bootstrap, group).unwrap_or_else(|| panic!("group {group} not listed"))
}

/// What [`GroupInfo`] shows, owned.
#[derive(Debug, Clone)]
struct GroupInfoSnapshot {
    name: String,
    state: String,
    protocol_type: String,
    protocol: String,
    /// (member id, client id, client host, metadata length, assignment length)
    members: Vec<(String, String, String, usize, usize)>,
}

impl GroupInfoSnapshot {
    fn of(g: &GroupInfo) -> GroupInfoSnapshot {
        GroupInfoSnapshot {
            name: g.name().to_string(),
            state: g.state().to_string(),
            protocol_type: g.protocol_type().to_string(),
            protocol: g.protocol().to_string(),
            members: g
                .members()
                .iter()
                .map(|m| {
                    (
                        m.id().to_string(),
                        m.client_id().to_string(),
                        m.client_host().to_string(),
                        m.metadata().map_or(0, <[u8]>::len),
                        m.assignment().map_or(0, <[u8]>::len),
                    )
                })
                .collect(),
        }
    }
}

// ------------------------------------------------------------------------------------------------ tests

/// Three members share six partitions; a fourth joins; one closes (LeaveGroup); one is SIGKILLed (the group
/// waits for its session to time out). After each change the live members own all six, disjointly, and with a
/// producer running throughout, the group consumes every message exactly once.
#[test]
fn members_join_leave_and_crash_while_every_message_is_consumed_once() {
    const PARTITIONS: i32 = 6;
    let broker = Broker::start_with(BROKER_CONFIG);
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("groups-churn");
    let group = unique_topic("churn");
    create_topic(&bootstrap, &topic, PARTITIONS);
    let seen: SeenLog = Arc::default();
    let feeder = Feeder::start(&bootstrap, &topic, PARTITIONS);
    let config = |name: &str| member_config(&bootstrap, &group, name);

    let a = Member::spawn("a", config("a"), &topic, Arc::clone(&seen));
    let b = Member::spawn("b", config("b"), &topic, Arc::clone(&seen));
    let child = CrashChild::spawn(&bootstrap, &group, &topic, Arc::clone(&seen));
    let three = wait_settled(&broker, "three members", PARTITIONS, || {
        child.check_alive();
        let mut owners = owners_of(&[&a, &b]);
        owners.push(("child".to_string(), child.owned()));
        owners
    });

    let d = Member::spawn("d", config("d"), &topic, Arc::clone(&seen));
    let four = wait_settled(&broker, "a fourth member joined", PARTITIONS, || {
        child.check_alive();
        let mut owners = owners_of(&[&a, &b, &d]);
        owners.push(("child".to_string(), child.owned()));
        owners
    });
    assert!(
        ["a", "b", "child"].iter().any(|m| four[*m] != three[*m]),
        "partitions moved to the new member: before {three:?}, after {four:?}"
    );

    let b_tracker = b.close();
    assert!(b_tracker.owned().is_empty(), "closing revoked everything");
    wait_settled(&broker, "b closed", PARTITIONS, || {
        child.check_alive();
        let mut owners = owners_of(&[&a, &d]);
        owners.push(("child".to_string(), child.owned()));
        owners
    });

    // The child dies having consumed (and committed) messages of the partitions it owns now.
    let child_seen = || {
        let seen = seen.lock().unwrap();
        seen.iter().filter(|s| s.member == "child").count()
    };
    let child_before = child_seen();
    let more = wait_until(SETTLE, || child_seen() > child_before + 20);
    assert!(more, "the child stopped consuming after b closed");
    child.pause_and_kill();
    wait_settled(&broker, "the child was killed", PARTITIONS, || {
        owners_of(&[&a, &d])
    });

    // The survivors consume what the dead member's partitions got meanwhile, and keep up.
    let after_kill = feeder.sent();
    let progressed = wait_until(SETTLE, || distinct_seen(&seen) > after_kill);
    assert!(progressed, "survivors did not catch up after the crash");
    let delivered = feeder.finish();
    wait_consumed(&broker, &seen, delivered.len());
    let (a_tracker, d_tracker) = (a.close(), d.close());
    assert_no_errors(&[("a", &a_tracker), ("b", &b_tracker), ("d", &d_tracker)]);
    assert_exactly_once(&delivered, &seen.lock().unwrap());

    // Everything consumed was committed: the group's offsets are the partitions' ends.
    let mut ends = vec![0i64; PARTITIONS as usize];
    for d in &delivered {
        ends[d.partition as usize] = ends[d.partition as usize].max(d.offset + 1);
    }
    let expected: Vec<Offset> = ends.into_iter().map(Offset::Offset).collect();
    assert_eq!(committed(&bootstrap, &group, &topic, PARTITIONS), expected);
}

/// A member commits part of what it read and closes; after a broker restart, a new member of the group starts
/// every partition exactly at the committed offset.
#[test]
fn new_member_resumes_at_committed_offsets_after_restart() {
    const PARTITIONS: i32 = 3;
    const MESSAGES: usize = 90;
    const FIRST: usize = 40;
    let mut broker = Broker::start_own_with(BROKER_CONFIG);
    let topic = unique_topic("groups-resume");
    let group = unique_topic("resume");
    create_topic(&broker.bootstrap(), &topic, PARTITIONS);
    let sent: Vec<Msg> = (0..MESSAGES).map(|i| Msg::sample(i, PARTITIONS)).collect();
    produce_all(&producer(&broker.bootstrap(), &[]), &topic, &sent);

    let positions = {
        let consumer: BaseConsumer<Tracker> = member_config(&broker.bootstrap(), &group, "first")
            .create_with_context(Tracker::default())
            .expect("create consumer");
        consumer.subscribe(&[&topic]).expect("subscribe");
        let read = consume_n(&consumer, FIRST, SETTLE);
        assert_eq!(read.len(), FIRST, "first member read");
        let mut positions = vec![0i64; PARTITIONS as usize];
        for m in &read {
            positions[m.partition() as usize] = m.offset() + 1;
        }
        commit_processed(&consumer).expect("commit");
        let committed = consumer.committed(CLIENT_TIMEOUT).expect("committed");
        for p in 0..PARTITIONS {
            let element = committed.find_partition(&topic, p).expect("assigned");
            let expected = match positions[p as usize] {
                0 => Offset::Invalid,
                n => Offset::Offset(n),
            };
            assert_eq!(element.offset(), expected, "committed offset of {p}");
        }
        positions
    };

    broker.restart();
    let bootstrap = broker.bootstrap();
    let expected: Vec<Offset> = positions
        .iter()
        .map(|&n| {
            if n == 0 {
                Offset::Invalid
            } else {
                Offset::Offset(n)
            }
        })
        .collect();
    assert_eq!(
        committed(&bootstrap, &group, &topic, PARTITIONS),
        expected,
        "committed offsets after restart"
    );

    let consumer: BaseConsumer<Tracker> = member_config(&bootstrap, &group, "second")
        .create_with_context(Tracker::default())
        .expect("create consumer");
    consumer.subscribe(&[&topic]).expect("subscribe");
    let rest = consume_n(&consumer, MESSAGES - FIRST, SETTLE);
    assert_eq!(rest.len(), MESSAGES - FIRST, "second member read the rest");
    for p in 0..PARTITIONS {
        let offsets: Vec<i64> = rest
            .iter()
            .filter(|m| m.partition() == p)
            .map(|m| m.offset())
            .collect();
        let end = sent.iter().filter(|m| m.partition == p).count() as i64;
        let wanted: Vec<i64> = (positions[p as usize]..end).collect();
        assert_eq!(
            offsets, wanted,
            "partition {p} resumes at its committed offset"
        );
    }
    // The resumed member's reads match what was produced there.
    for m in &rest {
        let index = m.offset() as usize * PARTITIONS as usize + m.partition() as usize;
        assert_eq!(Msg::from_message(m), sent[index], "message content");
    }
}

/// Session timeout of the members that stay through a broker restart: librdkafka gives up on its session by
/// itself when no heartbeat succeeds for that long, and Kafka's JVM takes seconds to come back.
const RESTART_SESSION_MS: &str = "45000";

/// Polls both consumers once, recording the (partition, offset) of what they hand over.
fn poll_both(members: &[&BaseConsumer<Tracker>; 2], seen: &mut BTreeSet<(i32, i64)>) {
    for consumer in members {
        // Errors here are the reconnections around the restart; what matters is checked below.
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(50)) {
            seen.insert((m.partition(), m.offset()));
        }
    }
}

/// Commits what `consumer` processed, retrying while the coordinator is unreachable (the restart), and fails at
/// once on an answer that says the member lost its place in the group.
fn commit_keeping_membership(
    name: &str,
    consumer: &BaseConsumer<Tracker>,
    others: &BaseConsumer<Tracker>,
    broker: &Broker,
) {
    let deadline = Instant::now() + SETTLE;
    loop {
        match commit_processed(consumer) {
            Ok(()) => return,
            Err(KafkaError::ConsumerCommit(
                code @ (RDKafkaErrorCode::UnknownMemberId
                | RDKafkaErrorCode::IllegalGeneration
                | RDKafkaErrorCode::RebalanceInProgress
                | RDKafkaErrorCode::FencedInstanceId),
            )) => panic!(
                "{name}'s commit after the restart: {code:?}, the group forgot its member; broker log:\n{}",
                broker.logs()
            ),
            Err(e) => {
                assert!(Instant::now() < deadline, "{name} could not commit after the restart: {e}");
                // Keeps both members' callbacks and heartbeats served while the coordinator comes back.
                let _ = consumer.poll(Duration::from_millis(50));
                let _ = others.poll(Duration::from_millis(50));
            }
        }
    }
}

/// Issue #14 item 10: a broker restart is invisible to a stable group. Two members consume and commit; the
/// broker restarts (SIGTERM, same data directory; the clients reconnect through a [`Proxy`], as to a broker
/// that came back on its address). Each member's next commit, under the generation it had, succeeds; neither
/// sees a rebalance, then or while heartbeating on; DescribeGroups shows the same members, Stable.
#[test]
fn a_broker_restart_is_invisible_to_a_stable_group() {
    restart_is_invisible(false, false);
}

/// The same with static members (KIP-345): their instance ids still map to the member ids they use.
#[test]
fn a_broker_restart_is_invisible_to_a_stable_group_of_static_members() {
    restart_is_invisible(true, false);
}

/// The same after kill -9: the group record was flushed before the members got their assignments.
#[test]
fn a_broker_crash_is_invisible_to_a_stable_group() {
    restart_is_invisible(false, true);
}

fn restart_is_invisible(static_members: bool, kill9: bool) {
    const PARTITIONS: i32 = 4;
    const MESSAGES: usize = 40;
    let proxy = Proxy::start();
    let mut broker = Broker::start_own_with(&format!("{BROKER_CONFIG}advertise: {}\n", proxy.addr));
    proxy.point_to(broker.addr());
    let bootstrap = proxy.addr.to_string();
    let topic = unique_topic("groups-restart");
    let group = unique_topic("restart");
    create_topic(&bootstrap, &topic, PARTITIONS);
    let batch = |from: usize| -> Vec<Msg> {
        (from..from + MESSAGES)
            .map(|i| Msg::sample(i, PARTITIONS))
            .collect()
    };
    produce_all(&producer(&bootstrap, &[]), &topic, &batch(0));

    let member = |name: &str| -> BaseConsumer<Tracker> {
        let mut config = member_config(&bootstrap, &group, name);
        config
            .set("session.timeout.ms", RESTART_SESSION_MS)
            // librdkafka requires it to be at least the session timeout.
            .set("max.poll.interval.ms", RESTART_SESSION_MS)
            .set("reconnect.backoff.ms", "10")
            .set("reconnect.backoff.max.ms", "200");
        if static_members {
            config.set("group.instance.id", format!("{group}-{name}"));
        }
        let consumer: BaseConsumer<Tracker> = config
            .create_with_context(Tracker::default())
            .expect("create consumer");
        consumer.subscribe(&[&topic]).expect("subscribe");
        consumer
    };
    let (a, b) = (member("a"), member("b"));
    let members = [&a, &b];
    let mut seen = BTreeSet::new();
    let all: BTreeSet<i32> = (0..PARTITIONS).collect();
    let settled = wait_until(SETTLE, || {
        poll_both(&members, &mut seen);
        let (owned_a, owned_b) = (a.context().owned(), b.context().owned());
        !owned_a.is_empty()
            && !owned_b.is_empty()
            && owned_a.union(&owned_b).copied().collect::<BTreeSet<_>>() == all
            && seen.len() == MESSAGES
    });
    assert!(
        settled,
        "the group did not settle and consume; broker log:\n{}",
        broker.logs()
    );
    // The last join may still be completing: commit once each generation has settled.
    for (name, consumer) in [("a", &a), ("b", &b)] {
        let committed = wait_until(SETTLE, || {
            poll_both(&members, &mut seen);
            commit_processed(consumer).is_ok()
        });
        assert!(committed, "{name} could not commit before the restart");
    }
    let events = (a.context().events(), b.context().events());
    let described = describe_group(&bootstrap, &group);
    assert_eq!(described.state, "Stable");

    if kill9 {
        broker.kill9();
        broker.start_again();
    } else {
        broker.restart();
    }
    proxy.point_to(broker.addr());
    produce_all(&producer(&bootstrap, &[]), &topic, &batch(MESSAGES));
    let consumed = wait_until(SETTLE, || {
        poll_both(&members, &mut seen);
        seen.len() == 2 * MESSAGES
    });
    assert!(
        consumed,
        "{} of {} messages consumed after the restart; broker log:\n{}",
        seen.len(),
        2 * MESSAGES,
        broker.logs()
    );
    commit_keeping_membership("a", &a, &b, &broker);
    commit_keeping_membership("b", &b, &a, &broker);

    // Absence of a rebalance can only be watched for: a member the broker forgot learns it at its next
    // heartbeat (every 300 ms) and rejoins, revoking its partitions.
    let window_end = Instant::now() + Duration::from_millis(3000);
    while Instant::now() < window_end {
        poll_both(&members, &mut seen);
        assert_eq!(
            (a.context().events(), b.context().events()),
            events,
            "a rebalance after the restart; broker log:\n{}",
            broker.logs()
        );
    }
    assert_no_errors(&[("a", a.context()), ("b", b.context())]);
    let after = describe_group(&bootstrap, &group);
    assert_eq!(after.state, "Stable", "after the restart: {after:?}");
    let ids = |g: &GroupInfoSnapshot| -> BTreeSet<String> {
        g.members.iter().map(|m| m.0.clone()).collect()
    };
    assert_eq!(
        ids(&after),
        ids(&described),
        "the same members after the restart"
    );
}

/// Static members (KIP-345) restarted one at a time within the session timeout: each gets its partitions back,
/// and the other members never see a rebalance — not while it restarts, nor once the old incarnation's session
/// would have expired.
#[test]
fn static_member_restart_gets_same_partitions_without_rebalance() {
    const PARTITIONS: i32 = 6;
    let broker = Broker::start_with(BROKER_CONFIG);
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("groups-static");
    let group = unique_topic("static");
    create_topic(&bootstrap, &topic, PARTITIONS);
    let seen: SeenLog = Arc::default();
    let spawn = |i: usize, incarnation: usize| {
        let mut config = member_config(&bootstrap, &group, &format!("s{i}-{incarnation}"));
        config
            .set("group.instance.id", format!("{group}-instance-{i}"))
            .set("session.timeout.ms", STATIC_SESSION_MS.to_string());
        Member::spawn(&format!("s{i}"), config, &topic, Arc::clone(&seen))
    };
    let mut members: Vec<Member> = (0..3).map(|i| spawn(i, 0)).collect();
    let initial = wait_settled(&broker, "three static members", PARTITIONS, || {
        owners_of(&members.iter().collect::<Vec<_>>())
    });
    let event_counts = |members: &[Member]| -> Vec<usize> {
        members.iter().map(|m| m.tracker.events().len()).collect()
    };

    for i in 0..3 {
        let before = event_counts(&members);
        let old = members.remove(i);
        let owned = old.owned();
        let old_tracker = old.close();
        assert_no_errors(&[("old incarnation", &old_tracker)]);
        members.insert(i, spawn(i, 1));
        let back = wait_until(SETTLE, || !members[i].tracker.events().is_empty());
        assert!(
            back,
            "restarted s{i} got no assignment; broker log:\n{}",
            broker.logs()
        );
        assert_eq!(
            members[i].tracker.events(),
            vec![Event::Assign(owned.clone())],
            "restarted s{i} gets its partitions back in one assignment"
        );
        // Absence of a rebalance can only be watched for: others would notice one at their next heartbeat.
        let window_end = Instant::now() + Duration::from_millis(1000);
        while Instant::now() < window_end {
            let now = event_counts(&members);
            for j in (0..3).filter(|&j| j != i) {
                assert_eq!(
                    now[j],
                    before[j],
                    "s{j} saw a rebalance when s{i} restarted: {:?}; broker log:\n{}",
                    members[j].tracker.events(),
                    broker.logs()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    // Past the session timeout of every old incarnation: a broker that still counted one would expire it now.
    let counts = event_counts(&members);
    let window_end = Instant::now() + Duration::from_millis(STATIC_SESSION_MS + 1000);
    while Instant::now() < window_end {
        assert_eq!(
            event_counts(&members),
            counts,
            "a rebalance after the restarts; broker log:\n{}",
            broker.logs()
        );
        thread::sleep(Duration::from_millis(50));
    }
    let now: BTreeMap<String, BTreeSet<i32>> = owners_of(&members.iter().collect::<Vec<_>>())
        .into_iter()
        .collect();
    assert_eq!(now, initial, "every static member kept its partitions");
    let described = describe_group(&bootstrap, &group);
    assert_eq!(described.state, "Stable", "{described:?}");
    assert_eq!(described.members.len(), 3, "{described:?}");
    let trackers: Vec<_> = members.into_iter().map(Member::close).collect();
    for (i, t) in trackers.iter().enumerate() {
        assert_no_errors(&[(&format!("s{i}"), t)]);
    }
}

/// With cooperative-sticky, a joining member takes partitions only from the others' surplus: existing members
/// are revoked just the partitions that move (never one they keep), and with a producer running the group still
/// consumes every message exactly once.
#[test]
fn cooperative_sticky_join_revokes_only_moved_partitions() {
    const PARTITIONS: i32 = 6;
    let broker = Broker::start_with(BROKER_CONFIG);
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("groups-coop");
    let group = unique_topic("coop");
    create_topic(&bootstrap, &topic, PARTITIONS);
    let seen: SeenLog = Arc::default();
    let feeder = Feeder::start(&bootstrap, &topic, PARTITIONS);
    let spawn = |name: &str| {
        let mut config = member_config(&bootstrap, &group, name);
        config.set("partition.assignment.strategy", "cooperative-sticky");
        Member::spawn(name, config, &topic, Arc::clone(&seen))
    };

    let c1 = spawn("c1");
    wait_settled(&broker, "one member", PARTITIONS, || owners_of(&[&c1]));
    let c2 = spawn("c2");
    let two = wait_settled(&broker, "second member joined", PARTITIONS, || {
        owners_of(&[&c1, &c2])
    });
    let c3 = spawn("c3");
    let three = wait_settled(&broker, "third member joined", PARTITIONS, || {
        owners_of(&[&c1, &c2, &c3])
    });
    for name in ["c1", "c2"] {
        assert!(
            three[name].is_subset(&two[name]) && !three[name].is_empty(),
            "{name} keeps a subset of what it had: {:?} then {:?}",
            two[name],
            three[name]
        );
    }

    let delivered = feeder.finish();
    wait_consumed(&broker, &seen, delivered.len());
    // Judge only the rebalances up to here. Closing c1 rebalances the others, and a broker that completes that
    // rebalance before c2 closes (Kafka does) assigns them c1's partitions first.
    let judged: Vec<usize> = [&c1, &c2, &c3]
        .iter()
        .map(|m| m.tracker.events().len())
        .collect();
    let mut histories = Vec::new();
    for (member, judged) in [c1, c2, c3].into_iter().zip(judged) {
        let name = member.name.clone();
        let tracker = member.close();
        // Closing revokes what the member owned at the end: its assignment, and what it took over meanwhile.
        let mut events = tracker.events();
        let after = events.split_off(judged);
        assert!(
            matches!(after.last(), Some(Event::Revoke(parts)) if parts.is_superset(&three[&name])),
            "{name}: close revokes its final assignment {:?}; events since the last check {after:?}",
            three[&name]
        );
        histories.push((name, events, tracker));
    }
    for (name, events, tracker) in &histories {
        assert_no_errors(&[(name, tracker)]);
        let mut owned = BTreeSet::new();
        for event in events {
            match event {
                Event::Assign(parts) => owned.extend(parts.iter().copied()),
                Event::Revoke(parts) => {
                    assert!(
                        parts.is_disjoint(&three[name]),
                        "{name} was revoked {parts:?} but ends up owning {:?}; events {events:?}",
                        three[name]
                    );
                    assert!(
                        parts.is_subset(&owned) && parts.len() < owned.len(),
                        "{name}: an incremental revoke of some owned partitions, not all: {parts:?} of \
                         {owned:?}; events {events:?}"
                    );
                    owned.retain(|p| !parts.contains(p));
                }
            }
        }
        assert_eq!(
            owned, three[name],
            "{name}: events add up to its assignment"
        );
    }
    assert_exactly_once(&delivered, &seen.lock().unwrap());
}

/// ListGroups + DescribeGroups (librdkafka's group list) show the members and states; DeleteGroups refuses a
/// group with members, deletes an empty one with its committed offsets, and reports an unknown group.
#[test]
fn group_list_describe_and_delete() {
    const PARTITIONS: i32 = 2;
    let broker = Broker::start_with(BROKER_CONFIG);
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("groups-admin");
    let group = unique_topic("admin");
    create_topic(&bootstrap, &topic, PARTITIONS);
    let sent: Vec<Msg> = (0..20).map(|i| Msg::sample(i, PARTITIONS)).collect();
    produce_all(&producer(&bootstrap, &[]), &topic, &sent);
    let seen: SeenLog = Arc::default();
    let m1 = Member::spawn(
        "m1",
        member_config(&bootstrap, &group, "m1"),
        &topic,
        Arc::clone(&seen),
    );
    let m2 = Member::spawn(
        "m2",
        member_config(&bootstrap, &group, "m2"),
        &topic,
        Arc::clone(&seen),
    );
    wait_settled(&broker, "two members", PARTITIONS, || {
        owners_of(&[&m1, &m2])
    });
    wait_consumed(&broker, &seen, sent.len());

    let described = describe_group(&bootstrap, &group);
    assert_eq!(described.name, group);
    assert_eq!(described.state, "Stable", "{described:?}");
    assert_eq!(described.protocol_type, "consumer", "{described:?}");
    assert_eq!(described.protocol, "range", "librdkafka's first assignor");
    let mut clients: Vec<&str> = described.members.iter().map(|m| m.1.as_str()).collect();
    clients.sort_unstable();
    assert_eq!(clients, ["groups-m1", "groups-m2"], "{described:?}");
    for (id, client, host, metadata, assignment) in &described.members {
        assert!(
            id.starts_with(client.as_str()),
            "member id {id} of {client}"
        );
        assert_eq!(host, "/127.0.0.1");
        assert!(*metadata > 0 && *assignment > 0, "{described:?}");
    }

    let lister: BaseConsumer = member_config(&bootstrap, "observer", "observer")
        .create()
        .expect("create consumer");
    let listed = lister
        .fetch_group_list(None, CLIENT_TIMEOUT)
        .expect("list groups");
    let ours: Vec<GroupInfoSnapshot> = listed
        .groups()
        .iter()
        .map(GroupInfoSnapshot::of)
        .filter(|g| g.name == group)
        .collect();
    assert_eq!(ours.len(), 1, "the group is listed once");
    assert_eq!(ours[0].members.len(), 2);

    let admin = admin_client(&bootstrap);
    let options = admin_options();
    let delete = |name: &str| {
        let results = block_on(admin.delete_groups(&[name], &options)).expect("DeleteGroups");
        assert_eq!(results.len(), 1);
        results.into_iter().next().unwrap()
    };
    assert_eq!(
        delete(&group),
        Err((group.clone(), RDKafkaErrorCode::NonEmptyGroup))
    );

    let (t1, t2) = (m1.close(), m2.close());
    assert_no_errors(&[("m1", &t1), ("m2", &t2)]);
    let ends: Vec<Offset> = vec![Offset::Offset(10), Offset::Offset(10)];
    assert_eq!(committed(&bootstrap, &group, &topic, PARTITIONS), ends);
    let described = describe_group(&bootstrap, &group);
    assert_eq!(described.state, "Empty", "members left: {described:?}");
    assert!(described.members.is_empty(), "{described:?}");

    assert_eq!(delete(&group), Ok(group.clone()));
    assert_eq!(
        committed(&bootstrap, &group, &topic, PARTITIONS),
        vec![Offset::Invalid; PARTITIONS as usize],
        "offsets deleted with the group"
    );
    let listed = lister
        .fetch_group_list(None, CLIENT_TIMEOUT)
        .expect("list groups");
    assert!(
        listed.groups().iter().all(|g| g.name() != group),
        "deleted group not listed"
    );
    assert!(try_describe_group(&bootstrap, &group).is_none());
    assert_eq!(
        delete(&group),
        Err((group.clone(), RDKafkaErrorCode::GroupIdNotFound))
    );
}

/// A simple consumer (assign, never subscribe) commits offsets with metadata; `committed` returns them, before
/// and after a broker restart, and consumption from the stored offsets starts there.
#[test]
fn simple_consumer_commits_survive_restart() {
    const PARTITIONS: i32 = 3;
    let mut broker = Broker::start_own_with(BROKER_CONFIG);
    let topic = unique_topic("groups-simple");
    let group = unique_topic("simple");
    create_topic(&broker.bootstrap(), &topic, PARTITIONS);
    let sent: Vec<Msg> = (0..30).map(|i| Msg::sample(i, PARTITIONS)).collect();
    produce_all(&producer(&broker.bootstrap(), &[]), &topic, &sent);
    let wanted = [(0, 3i64, "meta-0"), (1, 7, ""), (2, 10, "meta-2")];

    let assigned = |bootstrap: &str, offset: fn(i64) -> Offset| -> BaseConsumer {
        let consumer: BaseConsumer = member_config(bootstrap, &group, "simple")
            .create()
            .expect("create consumer");
        let mut tpl = TopicPartitionList::new();
        for (p, o, _) in wanted {
            tpl.add_partition_offset(&topic, p, offset(o))
                .expect("add partition");
        }
        consumer.assign(&tpl).expect("assign");
        consumer
    };
    let check = |consumer: &BaseConsumer, when: &str| {
        let committed = consumer.committed(CLIENT_TIMEOUT).expect("committed");
        for (p, o, metadata) in wanted {
            let element = committed.find_partition(&topic, p).expect("assigned");
            assert_eq!(
                (element.offset(), element.metadata()),
                (Offset::Offset(o), metadata),
                "partition {p} {when}"
            );
        }
    };
    {
        let consumer = assigned(&broker.bootstrap(), Offset::Offset);
        let mut offsets = TopicPartitionList::new();
        for (p, o, metadata) in wanted {
            offsets
                .add_partition_offset(&topic, p, Offset::Offset(o))
                .expect("add partition");
            offsets
                .find_partition(&topic, p)
                .expect("just added")
                .set_metadata(metadata);
        }
        consumer
            .commit(&offsets, CommitMode::Sync)
            .expect("OffsetCommit from a simple consumer");
        check(&consumer, "after the commit");
    }
    let described = describe_group(&broker.bootstrap(), &group);
    assert_eq!(
        (described.state.as_str(), described.members.len()),
        ("Empty", 0),
        "a group with only offsets: {described:?}"
    );

    broker.restart();
    let consumer = assigned(&broker.bootstrap(), |_| Offset::Stored);
    check(&consumer, "after a restart");
    let rest = consume_n(&consumer, 30 - 20, SETTLE);
    let mut firsts: BTreeMap<i32, i64> = BTreeMap::new();
    for m in &rest {
        firsts.entry(m.partition()).or_insert(m.offset());
    }
    assert_eq!(
        firsts,
        BTreeMap::from([(0, 3), (1, 7)]),
        "consumption from the stored offsets; partition 2 is at its end"
    );
    assert_eq!(rest.len(), 10, "(10 - 3) + (10 - 7) + 0 messages left");
}

/// Partitions added to a subscribed topic reach the group: librdkafka's leader sees the new count in its metadata
/// and rejoins while the group is Stable, which must start a rebalance (a follower rejoining unchanged must not).
#[test]
fn added_partitions_are_assigned_after_leader_rejoins() {
    let broker = Broker::start_with(BROKER_CONFIG);
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("groups-grow");
    let group = unique_topic("grow");
    create_topic(&bootstrap, &topic, 2);
    let seen: SeenLog = Arc::default();
    let spawn = |name: &str| {
        let mut config = member_config(&bootstrap, &group, name);
        config.set("topic.metadata.refresh.interval.ms", "300");
        Member::spawn(name, config, &topic, Arc::clone(&seen))
    };
    let (g1, g2) = (spawn("g1"), spawn("g2"));
    wait_settled(&broker, "two members, two partitions", 2, || {
        owners_of(&[&g1, &g2])
    });

    let admin = admin_client(&bootstrap);
    let options = admin_options();
    let results = block_on(admin.create_partitions(&[NewPartitions::new(&topic, 5)], &options))
        .expect("CreatePartitions");
    assert_eq!(results, vec![Ok(topic.clone())]);
    wait_settled(&broker, "the topic grew to five partitions", 5, || {
        owners_of(&[&g1, &g2])
    });
    let (t1, t2) = (g1.close(), g2.close());
    assert_no_errors(&[("g1", &t1), ("g2", &t2)]);
}

/// OffsetDelete (no client here sends it, so it goes over a raw connection): deletes an empty group's offsets
/// per partition, refuses partitions of topics the group's members subscribe to, and reports an unknown group.
#[test]
fn offset_delete_removes_offsets_except_for_subscribed_topics() {
    let broker = Broker::start_with(BROKER_CONFIG);
    let bootstrap = broker.bootstrap();
    let (subscribed, other) = (
        unique_topic("groups-od-sub"),
        unique_topic("groups-od-other"),
    );
    let group = unique_topic("offset-delete");
    create_topic(&bootstrap, &subscribed, 2);
    create_topic(&bootstrap, &other, 1);

    // A simple consumer commits offsets on both topics.
    let committer: BaseConsumer = member_config(&bootstrap, &group, "committer")
        .create()
        .expect("create consumer");
    let mut offsets = TopicPartitionList::new();
    for (topic, p, o) in [(&subscribed, 0, 5), (&subscribed, 1, 6), (&other, 0, 7)] {
        offsets
            .add_partition_offset(topic, p, Offset::Offset(o))
            .expect("add partition");
    }
    committer
        .commit(&offsets, CommitMode::Sync)
        .expect("OffsetCommit");

    let mut conn = RawConn::connect(broker.addr());
    let mut delete = |group: &str, topic: &str, partition: i32| {
        let request = OffsetDeleteRequest::default()
            .with_group_id(GroupId(str_bytes(group)))
            .with_topics(vec![OffsetDeleteRequestTopic::default()
                .with_name(TopicName(str_bytes(topic)))
                .with_partitions(vec![
                    OffsetDeleteRequestPartition::default().with_partition_index(partition)
                ])]);
        let response = conn.request(0, &request);
        let partition_codes: Vec<i16> = response
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
            .collect();
        (response.error_code, partition_codes)
    };

    // Empty group: any partition's offset can go.
    assert_eq!(delete(&group, &subscribed, 0), (0, vec![0]));
    let after = committed(&bootstrap, &group, &subscribed, 2);
    assert_eq!(after, vec![Offset::Invalid, Offset::Offset(6)]);

    // With a member subscribed to `subscribed`, its offsets stay; `other`'s may go.
    let member = Member::spawn(
        "member",
        member_config(&bootstrap, &group, "member"),
        &subscribed,
        Arc::default(),
    );
    wait_settled(&broker, "one member", 2, || owners_of(&[&member]));
    assert_eq!(
        delete(&group, &subscribed, 1),
        (0, vec![ResponseError::GroupSubscribedToTopic.code()])
    );
    assert_eq!(delete(&group, &other, 0), (0, vec![0]));
    assert_eq!(
        committed(&bootstrap, &group, &other, 1),
        vec![Offset::Invalid]
    );
    let tracker = member.close();
    assert_no_errors(&[("member", &tracker)]);

    let unknown = unique_topic("no-such-group");
    assert_eq!(
        delete(&unknown, &subscribed, 0).0,
        ResponseError::GroupIdNotFound.code()
    );
}

/// With `group_initial_rebalance_delay_ms`, members that start together form the first generation together:
/// each gets one assignment and never has one revoked.
#[test]
fn initial_rebalance_delay_lets_starting_members_join_one_generation() {
    const PARTITIONS: i32 = 3;
    let broker = Broker::start_with(
        "group_min_session_timeout_ms: 500\ngroup_initial_rebalance_delay_ms: 1000\n",
    );
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("groups-delay");
    let group = unique_topic("delay");
    create_topic(&bootstrap, &topic, PARTITIONS);
    let seen: SeenLog = Arc::default();
    let members: Vec<Member> = (0..3)
        .map(|i| {
            let name = format!("d{i}");
            let config = member_config(&bootstrap, &group, &name);
            Member::spawn(&name, config, &topic, Arc::clone(&seen))
        })
        .collect();
    wait_settled(
        &broker,
        "three members starting together",
        PARTITIONS,
        || owners_of(&members.iter().collect::<Vec<_>>()),
    );
    // Read every member's history before any closes: a member leaving rebalances the ones still running.
    let histories: Vec<(String, Vec<Event>)> = members
        .iter()
        .map(|member| (member.name.clone(), member.tracker.events()))
        .collect();
    drop(members);
    for (name, events) in histories {
        assert!(
            matches!(events.as_slice(), [Event::Assign(parts)] if parts.len() == 1),
            "{name}: one assignment of one partition, nothing revoked: {events:?}"
        );
    }
}

/// The coordinator picks the assignor every member supports, by the members' preference, and refuses a member
/// that shares none with the group (INCONSISTENT_GROUP_PROTOCOL) without disturbing the others.
#[test]
fn protocol_is_chosen_among_common_assignors() {
    const PARTITIONS: i32 = 4;
    let broker = Broker::start_with(BROKER_CONFIG);
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("groups-protocol");
    let group = unique_topic("protocol");
    create_topic(&bootstrap, &topic, PARTITIONS);
    let seen: SeenLog = Arc::default();
    let spawn = |name: &str, strategy: &str| {
        let mut config = member_config(&bootstrap, &group, name);
        config.set("partition.assignment.strategy", strategy);
        Member::spawn(name, config, &topic, Arc::clone(&seen))
    };
    let both = spawn("both", "range,roundrobin");
    let rr = spawn("rr", "roundrobin");
    wait_settled(&broker, "range,roundrobin + roundrobin", PARTITIONS, || {
        owners_of(&[&both, &rr])
    });
    let described = describe_group(&bootstrap, &group);
    assert_eq!(
        (described.state.as_str(), described.protocol.as_str()),
        ("Stable", "roundrobin"),
        "{described:?}"
    );

    let odd = spawn("odd", "cooperative-sticky");
    let refused = wait_until(SETTLE, || {
        odd.tracker
            .errors()
            .iter()
            .any(|e| e.contains("InconsistentGroupProtocol") || e.contains("inconsistent"))
    });
    assert!(
        refused,
        "the member with no common assignor is refused: {:?}; broker log:\n{}",
        odd.tracker.errors(),
        broker.logs()
    );
    let described = describe_group(&bootstrap, &group);
    assert_eq!(described.members.len(), 2, "{described:?}");
    assert!(odd.owned().is_empty());
    drop(odd);
    let (t1, t2) = (both.close(), rr.close());
    assert_no_errors(&[("both", &t1), ("rr", &t2)]);
}

/// Two static members starting together with the broker's default initial rebalance delay join
/// one generation: neither is first given everything and then asked to give some of it back
/// (librdkafka's 0102_static_group_rebalance, #14 item 15). With a delay of 0 Sluice completed the
/// first rebalance inside the first JoinGroup; Kafka completes it on a timer, extended while new
/// members keep arriving.
#[test]
fn two_static_members_starting_together_join_one_generation() {
    const PARTITIONS: i32 = 3;
    let broker = Broker::start_with("group_min_session_timeout_ms: 500\n");
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("groups-static-start");
    let group = unique_topic("static-start");
    create_topic(&bootstrap, &topic, PARTITIONS);
    let seen: SeenLog = Arc::default();
    let members: Vec<Member> = (1..=2)
        .map(|i| {
            let name = format!("consumer{i}");
            let mut config = member_config(&bootstrap, &group, &name);
            config
                .set("group.instance.id", &name)
                .set("topic.metadata.refresh.interval.ms", "2000")
                .set("metadata.max.age.ms", "5000");
            Member::spawn(&name, config, &format!("^{topic}.*"), Arc::clone(&seen))
        })
        .collect();
    wait_settled(
        &broker,
        "two static members starting together",
        PARTITIONS,
        || owners_of(&members.iter().collect::<Vec<_>>()),
    );
    for member in members {
        let name = member.name.clone();
        let mut events = member.close().events();
        events.pop(); // the revoke of closing
        assert!(
            matches!(events.as_slice(), [Event::Assign(_)]),
            "{name}: one assignment, nothing revoked before it closed: {events:?}"
        );
    }
}
