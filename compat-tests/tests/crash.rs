//! kill -9 while a producer streams (acks=all, and acks=1): everything acknowledged before the kill
//! survives, and so does everything a consumer could see (the high watermark never goes back).
//!
//! The producer keeps a bounded window of unacknowledged messages in flight, so the kill lands mid-stream
//! rather than after a burst has already been flushed. After the restart the log must hold every acknowledged
//! message at the offset its delivery report named, with offsets contiguous from 0 and no message twice.
//! Several rounds run on the same data directory, so later rounds crash a store that was itself recovered
//! from a crash.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use compat_tests::rdkafka::consumer::Consumer;
use compat_tests::rdkafka::message::Message;
use compat_tests::rdkafka::producer::{BaseRecord, Producer, PurgeConfig};
use compat_tests::{
    assign_from_beginning, consume_n, consumer, create_topic, producer, unique_topic, wait_until,
    watermarks, Broker, Delivery, CLIENT_TIMEOUT,
};

const PARTITIONS: i32 = 3;
const ROUNDS: usize = 3;
/// Messages one round would send if the broker were never killed.
const PER_ROUND: usize = 20_000;
/// Kill once this many messages of the round are acknowledged.
const KILL_AFTER: usize = 5_000;
/// Unacknowledged messages the sender allows in flight.
const WINDOW: usize = 1_000;

fn value(id: usize) -> Vec<u8> {
    format!("crash-{id:08}-{}", "x".repeat(64)).into_bytes()
}

fn id_of(value: &[u8]) -> usize {
    let text = std::str::from_utf8(value).expect("utf-8 value");
    text.strip_prefix("crash-")
        .and_then(|rest| rest.get(..8))
        .and_then(|digits| digits.parse().ok())
        .unwrap_or_else(|| panic!("value not written by this test: {text:?}"))
}

fn partition_of(id: usize) -> i32 {
    (id % PARTITIONS as usize) as i32
}

/// What one round saw before the kill.
struct Round {
    /// Every delivery report (final: none can arrive later).
    reports: Vec<Delivery>,
    /// The ids sent.
    sent: Range<usize>,
    /// The high watermarks a consumer was given just before the kill.
    seen_high: Vec<i64>,
}

/// Streams ids from `first_id` with `acks` until the broker is SIGKILLed after `KILL_AFTER`
/// acknowledgements.
fn stream_until_killed(broker: &mut Broker, topic: &str, first_id: usize, acks: &str) -> Round {
    let watcher = consumer(&broker.bootstrap(), &[]);
    let producer = Arc::new(producer(
        &broker.bootstrap(),
        &[
            ("acks", acks),
            ("linger.ms", "1"),
            ("batch.num.messages", "100"),
            // The broker is about to vanish: fail in-flight messages instead of retrying them.
            ("retries", "0"),
        ],
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(first_id));
    let sender = {
        let (producer, stop, sent, topic) = (
            Arc::clone(&producer),
            Arc::clone(&stop),
            Arc::clone(&sent),
            topic.to_string(),
        );
        thread::spawn(move || {
            for id in first_id..first_id + PER_ROUND {
                // Bounded window: wait for acknowledgements (or the stop signal) before sending more.
                let in_flight =
                    || id - first_id - producer.context().acked() - producer.context().failed();
                while in_flight() >= WINDOW && !stop.load(Ordering::SeqCst) {
                    thread::sleep(Duration::from_millis(1));
                }
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let payload = value(id);
                let record = BaseRecord::<[u8], [u8], usize>::with_opaque_to(&topic, id)
                    .partition(partition_of(id))
                    .payload(payload.as_slice());
                if producer.send(record).is_err() {
                    return;
                }
                sent.store(id + 1, Ordering::SeqCst);
            }
        })
    };

    let reached = wait_until(Duration::from_secs(60), || {
        producer.context().acked() >= KILL_AFTER
    });
    if !reached {
        stop.store(true, Ordering::SeqCst);
        panic!(
            "only {} of {KILL_AFTER} messages acknowledged ({} failed); broker log:\n{}",
            producer.context().acked(),
            producer.context().failed(),
            broker.logs()
        );
    }
    // What a consumer may read now must still be there after the crash.
    let seen_high = watermarks(&watcher, topic, PARTITIONS)
        .into_iter()
        .map(|(_, high)| high)
        .collect();
    broker.kill9();
    stop.store(true, Ordering::SeqCst);
    sender.join().expect("sender thread");

    // Responses that arrived before the kill have their reports queued; purging fails everything else, and
    // the flush delivers both kinds. Dropping the producer then joins its polling thread, so no delivery
    // callback is still running when the reports are read.
    producer.purge(PurgeConfig::default().queue().inflight());
    let _ = producer.flush(Duration::from_secs(10));
    let log = Arc::clone(producer.context());
    drop(producer);
    Round {
        reports: log.reports(),
        sent: first_id..sent.load(Ordering::SeqCst),
        seen_high,
    }
}

/// Reads the whole topic and checks it against every acknowledgement so far and the high
/// watermarks a consumer saw before the last kill.
fn verify(
    broker: &Broker,
    topic: &str,
    acked: &[Delivery],
    sent: &[Range<usize>],
    seen_high: &[i64],
) -> usize {
    let consumer = consumer(&broker.bootstrap(), &[]);
    let metadata = consumer
        .fetch_metadata(Some(topic), CLIENT_TIMEOUT)
        .expect("metadata after restart");
    let partitions = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map(|t| t.partitions().len());
    assert_eq!(
        partitions,
        Some(PARTITIONS as usize),
        "topic (created before any kill) after restart"
    );
    let marks = watermarks(&consumer, topic, PARTITIONS);
    assert!(
        marks.iter().all(|(low, _)| *low == 0),
        "low watermarks {marks:?}"
    );
    for (partition, ((_, high), seen)) in marks.iter().zip(seen_high).enumerate() {
        assert!(
            high >= seen,
            "partition {partition}: high watermark {high} after the restart, but a consumer was given {seen} before the kill"
        );
    }
    let stored: i64 = marks.iter().map(|(_, high)| high).sum();

    assign_from_beginning(&consumer, topic, PARTITIONS);
    let messages = consume_n(&consumer, stored as usize, Duration::from_secs(30));
    assert_eq!(
        messages.len(),
        stored as usize,
        "messages below the high watermarks {marks:?}"
    );

    let mut next: HashMap<i32, i64> = HashMap::new();
    let mut found: HashMap<usize, (i32, i64)> = HashMap::new();
    for message in &messages {
        let partition = message.partition();
        let expected_offset = next.entry(partition).or_insert(0);
        assert_eq!(
            message.offset(),
            *expected_offset,
            "gap in partition {partition}"
        );
        *expected_offset += 1;
        let id = id_of(message.payload().expect("payload"));
        assert!(
            sent.iter().any(|range| range.contains(&id)),
            "message {id} was never sent"
        );
        assert_eq!(
            message.payload(),
            Some(value(id).as_slice()),
            "message {id} corrupted"
        );
        assert_eq!(
            partition,
            partition_of(id),
            "message {id} in the wrong partition"
        );
        if let Some(previous) = found.insert(id, (partition, message.offset())) {
            panic!(
                "message {id} stored twice: at {previous:?} and {partition}/{}",
                message.offset()
            );
        }
    }
    let mut lost = Vec::new();
    for report in acked {
        match found.get(&report.id) {
            Some(&(partition, offset)) => assert_eq!(
                (partition, offset),
                (report.partition, report.offset),
                "message {} is not where its acknowledgement said",
                report.id
            ),
            None => lost.push(report.id),
        }
    }
    assert!(
        lost.is_empty(),
        "{} acknowledged messages lost after kill -9, first ones {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
    stored as usize
}

/// Rounds of stream, kill -9, restart and verify on one data directory.
fn kill9_rounds(acks: &str) {
    let mut broker = Broker::start_own();
    let topic = unique_topic("crash");
    create_topic(&broker.bootstrap(), &topic, PARTITIONS);

    let mut acked = Vec::new();
    let mut sent = Vec::new();
    for round in 0..ROUNDS {
        let r = stream_until_killed(&mut broker, &topic, round * PER_ROUND, acks);
        let round_acked = r.reports.iter().filter(|r| r.error.is_none()).count();
        assert!(
            round_acked >= KILL_AFTER,
            "round {round}: {round_acked} acknowledged"
        );
        acked.extend(r.reports.into_iter().filter(|r| r.error.is_none()));
        sent.push(r.sent.clone());

        broker.start_again();
        let stored = verify(&broker, &topic, &acked, &sent, &r.seen_high);
        eprintln!(
            "acks={acks} round {round}: sent {}, acknowledged {round_acked}; log now holds {stored}, {} acknowledged",
            r.sent.len(),
            acked.len()
        );
    }
}

#[test]
fn kill9_loses_no_acknowledged_message() {
    kill9_rounds("all");
}

/// acks=1 is answered once the leader has the records; Kafka's leader has them in the OS page
/// cache, which a process crash does not lose, so neither may Sluice (#14 item 8: kill -9 lost
/// acks=1 records that were still in sled's memory).
#[test]
fn kill9_loses_no_message_acknowledged_with_acks_1() {
    kill9_rounds("1");
}
