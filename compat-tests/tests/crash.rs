//! kill -9 while an acks=all producer streams: everything acknowledged before the kill survives.
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

/// Streams ids from `first_id` until the broker is SIGKILLed after `KILL_AFTER` acknowledgements.
/// Returns every delivery report (final: none can arrive later) and the ids sent.
fn stream_until_killed(
    broker: &mut Broker,
    topic: &str,
    first_id: usize,
) -> (Vec<Delivery>, Range<usize>) {
    let producer = Arc::new(producer(
        &broker.bootstrap(),
        &[
            ("acks", "all"),
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
    (log.reports(), first_id..sent.load(Ordering::SeqCst))
}

/// Reads the whole topic and checks it against every acknowledgement so far.
fn verify(broker: &Broker, topic: &str, acked: &[Delivery], sent: &[Range<usize>]) -> usize {
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

#[test]
fn kill9_loses_no_acknowledged_message() {
    let mut broker = Broker::start();
    let topic = unique_topic("crash");
    create_topic(&broker.bootstrap(), &topic, PARTITIONS);

    let mut acked = Vec::new();
    let mut sent = Vec::new();
    for round in 0..ROUNDS {
        let (reports, ids) = stream_until_killed(&mut broker, &topic, round * PER_ROUND);
        let round_acked = reports.iter().filter(|r| r.error.is_none()).count();
        assert!(
            round_acked >= KILL_AFTER,
            "round {round}: {round_acked} acknowledged"
        );
        acked.extend(reports.into_iter().filter(|r| r.error.is_none()));
        sent.push(ids.clone());

        broker.start_again();
        let stored = verify(&broker, &topic, &acked, &sent);
        eprintln!(
            "round {round}: sent {}, acknowledged {round_acked}; log now holds {stored}, {} acknowledged",
            ids.len(),
            acked.len()
        );
    }
}
