//! What a graceful restart (SIGTERM, exit 0, start on the same data directory) must keep: every message with
//! every field, the offsets ListOffsets reports (earliest, latest and by timestamp), topics with no messages,
//! and the next offset to assign. Sluice also writes its store's snapshot at the stop (so the next start does
//! not replay the log).

use std::time::Duration;

use compat_tests::rdkafka::consumer::{BaseConsumer, Consumer};
use compat_tests::rdkafka::message::Message;
use compat_tests::rdkafka::{Offset, TopicPartitionList};
use compat_tests::{
    assign_from_beginning, consume_n, consumer, create_topic, is_reference_kafka, produce_all,
    producer, unique_topic, watermarks, Broker, Msg, CLIENT_TIMEOUT, SAMPLE_BASE_TIMESTAMP,
};

const PARTITIONS: i32 = 3;
const MESSAGES: usize = 3000;

/// Everything in the topic as (partition, offset, message), partitions in order.
fn read_all(bootstrap: &str, topic: &str, count: usize) -> Vec<(i32, i64, Msg)> {
    let consumer = consumer(bootstrap, &[]);
    assign_from_beginning(&consumer, topic, PARTITIONS);
    let messages = consume_n(&consumer, count, Duration::from_secs(30));
    assert_eq!(messages.len(), count, "messages read back");
    let mut all: Vec<_> = messages
        .iter()
        .map(|m| (m.partition(), m.offset(), Msg::from_message(m)))
        .collect();
    // Interleaving across partitions depends on fetch timing; the order within a partition is the log's.
    all.sort_by_key(|(partition, offset, _)| (*partition, *offset));
    all
}

/// ListOffsets by timestamp for a few probes per partition: before the first message, exactly on one,
/// between two, and after the last.
fn offsets_for_times(consumer: &BaseConsumer, topic: &str) -> Vec<(i32, i64, Offset)> {
    let probes = [
        0,
        SAMPLE_BASE_TIMESTAMP,
        SAMPLE_BASE_TIMESTAMP + 10 * 1500,
        SAMPLE_BASE_TIMESTAMP + 10 * 1500 + 1,
        SAMPLE_BASE_TIMESTAMP + 10 * MESSAGES as i64,
    ];
    let mut answers = Vec::new();
    for probe in probes {
        let mut query = TopicPartitionList::new();
        for partition in 0..PARTITIONS {
            query
                .add_partition_offset(topic, partition, Offset::Offset(probe))
                .expect("add partition");
        }
        let result = consumer
            .offsets_for_times(query, CLIENT_TIMEOUT)
            .unwrap_or_else(|e| panic!("ListOffsets by timestamp {probe}: {e}"));
        for element in result.elements() {
            element.error().unwrap_or_else(|e| {
                panic!("ListOffsets {probe} partition {}: {e}", element.partition())
            });
            answers.push((element.partition(), probe, element.offset()));
        }
    }
    answers.sort_by_key(|(partition, probe, _)| (*partition, *probe));
    answers
}

/// The offset Kafka answers for a timestamp probe: the first message whose timestamp is at least the probe.
fn expected_offset_for_time(sent: &[Msg], partition: i32, probe: i64) -> Offset {
    sent.iter()
        .filter(|m| m.partition == partition)
        .position(|m| {
            m.timestamp
                .to_millis()
                .expect("sample timestamps are explicit")
                >= probe
        })
        .map_or(Offset::End, |position| Offset::Offset(position as i64))
}

#[test]
fn graceful_restart_keeps_messages_and_offsets() {
    let mut broker = Broker::start_own();
    let topic = unique_topic("persist");
    create_topic(&broker.bootstrap(), &topic, PARTITIONS);
    let sent: Vec<Msg> = (0..MESSAGES).map(|i| Msg::sample(i, PARTITIONS)).collect();
    // Compressed, so timestamp lookups must look inside compressed batches.
    {
        let producer = producer(
            &broker.bootstrap(),
            &[("acks", "all"), ("compression.codec", "zstd")],
        );
        produce_all(&producer, &topic, &sent);
    }

    let before = read_all(&broker.bootstrap(), &topic, MESSAGES);
    let (marks_before, times_before) = {
        let consumer = consumer(&broker.bootstrap(), &[]);
        (
            watermarks(&consumer, &topic, PARTITIONS),
            offsets_for_times(&consumer, &topic),
        )
    };
    for (partition, probe, offset) in &times_before {
        assert_eq!(
            *offset,
            expected_offset_for_time(&sent, *partition, *probe),
            "ListOffsets partition {partition} timestamp {probe}"
        );
    }

    broker.restart();

    let after = read_all(&broker.bootstrap(), &topic, MESSAGES);
    assert!(before == after, "messages differ after restart");
    let consumer = consumer(&broker.bootstrap(), &[]);
    assert_eq!(
        watermarks(&consumer, &topic, PARTITIONS),
        marks_before,
        "watermarks after restart"
    );
    assert_eq!(
        offsets_for_times(&consumer, &topic),
        times_before,
        "ListOffsets by timestamp after restart"
    );

    // The next offset continues from the high watermark: a restart must not reuse or skip offsets.
    let more: Vec<Msg> = (MESSAGES..MESSAGES + PARTITIONS as usize)
        .map(|i| Msg::sample(i, PARTITIONS))
        .collect();
    let producer = producer(&broker.bootstrap(), &[("acks", "all")]);
    let deliveries = produce_all(&producer, &topic, &more);
    for delivery in deliveries {
        let (_, high) = marks_before[delivery.partition as usize];
        assert_eq!(
            delivery.offset, high,
            "first offset after restart on partition {}",
            delivery.partition
        );
    }
}

#[test]
fn graceful_restart_keeps_empty_topics() {
    let mut broker = Broker::start_own();
    let topic = unique_topic("persist-empty");
    create_topic(&broker.bootstrap(), &topic, PARTITIONS);

    broker.restart();

    let consumer = consumer(&broker.bootstrap(), &[]);
    let metadata = consumer
        .fetch_metadata(Some(&topic), CLIENT_TIMEOUT)
        .expect("metadata after restart");
    let described = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .expect("topic in metadata");
    assert!(
        described.error().is_none(),
        "topic error after restart: {:?}",
        described.error()
    );
    assert_eq!(
        described.partitions().len(),
        PARTITIONS as usize,
        "partition count after restart"
    );
    assert_eq!(
        watermarks(&consumer, &topic, PARTITIONS),
        vec![(0, 0); PARTITIONS as usize],
        "empty partitions after restart"
    );
}

#[test]
fn repeated_restarts_keep_appending() {
    let mut broker = Broker::start_own();
    let topic = unique_topic("persist-repeat");
    create_topic(&broker.bootstrap(), &topic, PARTITIONS);
    let rounds = 3;
    let per_round = 300;
    let mut sent = Vec::new();
    for round in 0..rounds {
        let batch: Vec<Msg> = (round * per_round..(round + 1) * per_round)
            .map(|i| Msg::sample(i, PARTITIONS))
            .collect();
        let producer = producer(&broker.bootstrap(), &[("acks", "all")]);
        produce_all(&producer, &topic, &batch);
        drop(producer);
        sent.extend(batch);
        let status = broker.terminate();
        assert!(status.success(), "exit status after SIGTERM: {status}");
        if !is_reference_kafka() {
            // The store was reopened once more to write sled's snapshot, which fails (after a
            // wait) if anything still held the database when the broker stopped.
            let log = broker.logs();
            assert!(
                log.contains("wrote the store's snapshot"),
                "no snapshot written at the clean stop:\n{log}"
            );
        }
        broker.start_again();
    }
    let all = read_all(&broker.bootstrap(), &topic, sent.len());
    for partition in 0..PARTITIONS {
        let expected: Vec<&Msg> = sent.iter().filter(|m| m.partition == partition).collect();
        let got: Vec<&Msg> = all
            .iter()
            .filter(|(p, _, _)| *p == partition)
            .map(|(_, _, m)| m)
            .collect();
        assert!(
            expected == got,
            "partition {partition} differs after {rounds} restarts"
        );
        let offsets: Vec<i64> = all
            .iter()
            .filter(|(p, _, _)| *p == partition)
            .map(|(_, o, _)| *o)
            .collect();
        assert_eq!(
            offsets,
            (0..expected.len() as i64).collect::<Vec<_>>(),
            "offsets partition {partition}"
        );
    }
}
