//! Long-poll Fetch: a consumer parked at the end of a partition is woken by new data, an empty Fetch waits
//! out its `max_wait_ms`, and an idle consumer costs the broker next to nothing.
//!
//! The consumers use `fetch.wait.max.ms=5000`, so a broker that only answers when the wait expires shows up
//! as multi-second latencies, and one that answers empty fetches at once (a busy poll on both sides) shows up
//! as many Fetch requests and CPU time while idle. librdkafka statistics tell when a Fetch is parked at the
//! broker, so each measurement starts from that state rather than after a guessed delay.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use compat_tests::raw::{self, RawConn};
use compat_tests::rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use compat_tests::rdkafka::message::Message;
use compat_tests::rdkafka::producer::{BaseRecord, Producer};
use compat_tests::rdkafka::statistics::Statistics;
use compat_tests::rdkafka::ClientContext;
use compat_tests::{
    assign_from_beginning, consume_n, consumer_config, create_topic, produce_all, producer,
    unique_topic, Broker, Msg, CLIENT_TIMEOUT,
};

/// How long the broker may hold a Fetch: far above any wake-up latency the tests accept.
const FETCH_WAIT_MS: &str = "5000";
/// A parked Fetch must be answered this soon after new data is acknowledged.
const WAKE_UP_LIMIT: Duration = Duration::from_secs(2);

/// Keeps the latest librdkafka statistics of a consumer.
#[derive(Default)]
struct StatsContext {
    latest: Mutex<Option<Statistics>>,
}

impl ClientContext for StatsContext {
    fn stats(&self, statistics: Statistics) {
        *self.latest.lock().expect("stats lock") = Some(statistics);
    }
}

impl ConsumerContext for StatsContext {}

type StatsConsumer = BaseConsumer<StatsContext>;

fn long_poll_consumer(bootstrap: &str) -> StatsConsumer {
    consumer_config(bootstrap)
        .set("fetch.wait.max.ms", FETCH_WAIT_MS)
        .set("statistics.interval.ms", "20")
        .create_with_context(StatsContext::default())
        .expect("create consumer")
}

/// True when the partition is being fetched and a request on the connection that fetches it awaits its
/// response: with nothing else going on, that request is a Fetch parked at the broker.
fn fetch_parked(stats: &Statistics, topic: &str) -> bool {
    let fetching = stats
        .topics
        .get(topic)
        .and_then(|t| t.partitions.get(&0))
        .is_some_and(|p| p.fetch_state == "active");
    fetching
        && stats.brokers.values().any(|b| {
            b.nodeid >= 0 && b.waitresp_cnt > 0 && b.toppars.values().any(|tp| tp.topic == topic)
        })
}

/// Fetch requests sent so far, over all broker connections.
fn fetch_requests(stats: &Statistics) -> i64 {
    stats
        .brokers
        .values()
        .filter_map(|b| b.req.get("Fetch"))
        .sum()
}

/// Polls the consumer (which is what delivers statistics) until fresh statistics show a parked Fetch.
fn wait_for_parked_fetch(consumer: &StatsConsumer, topic: &str) -> Statistics {
    // Statistics from before the call may describe a Fetch that has since been answered.
    *consumer.context().latest.lock().expect("stats lock") = None;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(20)) {
            panic!(
                "unexpected message at offset {} while waiting",
                message.offset()
            );
        }
        let latest = consumer.context().latest.lock().expect("stats lock");
        if let Some(stats) = latest.as_ref().filter(|s| fetch_parked(s, topic)) {
            return stats.clone();
        }
    }
    panic!(
        "consumer never parked a Fetch; last statistics: {:?}",
        consumer.context().latest.lock().expect("stats lock")
    );
}

#[test]
fn parked_fetch_wakes_on_produce() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("long-poll-wake");
    create_topic(&bootstrap, &topic, 1);
    let producer = producer(&bootstrap, &[("acks", "1"), ("linger.ms", "0")]);
    // Connect and learn the leader now, so the measured time is the broker's, not the producer's start-up.
    producer
        .client()
        .fetch_metadata(Some(&topic), CLIENT_TIMEOUT)
        .expect("producer metadata");
    let consumer = long_poll_consumer(&bootstrap);
    assign_from_beginning(&consumer, &topic, 1);

    for round in 0..3 {
        wait_for_parked_fetch(&consumer, &topic);
        let payload = format!("wake-up {round}");
        let started = Instant::now();
        producer
            .send(
                BaseRecord::<[u8], [u8], usize>::with_opaque_to(&topic, round)
                    .payload(payload.as_bytes()),
            )
            .map_err(|(e, _)| e)
            .expect("enqueue");
        let received = consume_n(&consumer, 1, Duration::from_secs(10));
        let latency = started.elapsed();
        assert_eq!(received.len(), 1, "round {round}: message never arrived");
        assert_eq!(received[0].payload(), Some(payload.as_bytes()));
        assert_eq!(received[0].offset(), round as i64);
        assert!(
            latency < WAKE_UP_LIMIT,
            "round {round}: a Fetch parked for up to {FETCH_WAIT_MS} ms took {latency:?} to deliver new data"
        );
    }
    producer.flush(CLIENT_TIMEOUT).expect("flush");
}

#[test]
fn idle_consumer_does_not_busy_poll() {
    let broker = Broker::start_own();
    let topic = unique_topic("long-poll-idle");
    create_topic(&broker.bootstrap(), &topic, 1);
    let consumer = long_poll_consumer(&broker.bootstrap());
    assign_from_beginning(&consumer, &topic, 1);

    let before = wait_for_parked_fetch(&consumer, &topic);
    let cpu_before = broker.cpu_time();
    let window = Instant::now();
    // The measurement window: keep the consumer polling, as an idle application would.
    while window.elapsed() < Duration::from_secs(2) {
        if let Some(result) = consumer.poll(Duration::from_millis(50)) {
            panic!(
                "unexpected poll result on an empty topic: {:?}",
                result.map(|m| m.offset())
            );
        }
    }
    let cpu = broker.cpu_time() - cpu_before;
    let elapsed = window.elapsed();
    let after = consumer
        .context()
        .latest
        .lock()
        .expect("stats lock")
        .clone()
        .expect("statistics");
    let fetches = fetch_requests(&after) - fetch_requests(&before);

    // With a 5 s wait, a broker that parks fetches sees at most one new Fetch in 2 s.
    assert!(
        fetches <= 3,
        "{fetches} Fetch requests in {elapsed:?} with fetch.wait.max.ms={FETCH_WAIT_MS}: empty fetches are answered at once"
    );
    assert!(
        cpu < Duration::from_millis(200),
        "broker used {cpu:?} of CPU in {elapsed:?} with one idle consumer"
    );
}

#[test]
fn empty_fetch_waits_for_max_wait_then_answers() {
    let broker = Broker::start();
    let topic = unique_topic("long-poll-expiry");
    create_topic(&broker.bootstrap(), &topic, 1);
    let version = raw::fetch_version(broker.addr());
    let mut conn = RawConn::connect(broker.addr());

    let started = Instant::now();
    let response = conn.request(version, &raw::fetch_request(&topic, 0, 0, 500));
    let waited = started.elapsed();
    let partition = &response.responses[0].partitions[0];
    assert_eq!(partition.error_code, 0);
    assert_eq!(partition.high_watermark, 0);
    assert!(
        partition.records.as_ref().is_none_or(|r| r.is_empty()),
        "records from an empty partition"
    );
    // Slack below 500 ms covers timer granularity; far above it would mean the broker lost the deadline.
    assert!(
        waited >= Duration::from_millis(450) && waited < Duration::from_secs(3),
        "Fetch with max_wait_ms=500 on an empty partition answered after {waited:?}"
    );

    let started = Instant::now();
    conn.request(version, &raw::fetch_request(&topic, 0, 0, 0));
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_millis(300),
        "Fetch with max_wait_ms=0 answered after {waited:?}"
    );
}

#[test]
fn fetch_with_data_available_does_not_wait() {
    let broker = Broker::start();
    let topic = unique_topic("long-poll-data");
    create_topic(&broker.bootstrap(), &topic, 1);
    let producer = producer(&broker.bootstrap(), &[("acks", "all")]);
    produce_all(&producer, &topic, &[Msg::sample(1, 1)]);
    let version = raw::fetch_version(broker.addr());

    let started = Instant::now();
    let response =
        RawConn::connect(broker.addr()).request(version, &raw::fetch_request(&topic, 0, 0, 5000));
    let waited = started.elapsed();
    let partition = &response.responses[0].partitions[0];
    assert_eq!(partition.error_code, 0);
    assert_eq!(partition.high_watermark, 1);
    assert!(
        partition.records.as_ref().is_some_and(|r| !r.is_empty()),
        "no records"
    );
    assert!(
        waited < Duration::from_secs(1),
        "Fetch with data available answered after {waited:?}"
    );
}
