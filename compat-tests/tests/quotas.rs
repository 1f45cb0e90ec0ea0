//! Client quotas enforced (#17): a producer over a `producer_byte_rate` and a consumer over a
//! `consumer_byte_rate` set with AlterClientQuotas are told to back off (librdkafka reports the
//! throttle time of the responses in its statistics), and removing the quota stops it. What is
//! asserted is that a throttle was reported, never how long: the numbers depend on timing.

use std::cell::Cell;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use compat_tests::raw::{str_bytes, RawConn};
use compat_tests::rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use compat_tests::rdkafka::producer::{BaseRecord, Producer};
use compat_tests::rdkafka::producer::{ProducerContext, ThreadedProducer};
use compat_tests::rdkafka::statistics::Statistics;
use compat_tests::rdkafka::ClientContext;
use compat_tests::{
    assign_from_beginning, consumer_config, create_topic, producer_config, unique_topic,
    wait_until, Broker,
};
use kafka_protocol::messages::alter_client_quotas_request as alter;
use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
use kafka_protocol::messages::{
    AlterClientQuotasRequest, DescribeClientQuotasRequest, DescribeClientQuotasResponse,
};

/// 10 KB/s: a burst of a few hundred KB is well over it, and the throttle times stay seconds.
const RATE: f64 = 10_000.0;
const WAIT: Duration = Duration::from_secs(60);

/// The largest throttle time reported in librdkafka's statistics since the last reset, and how
/// many statistics have been emitted.
#[derive(Default)]
struct Throttles {
    max_ms: AtomicI64,
    emitted: AtomicU64,
}

impl ClientContext for Throttles {
    fn stats(&self, statistics: Statistics) {
        let max = statistics
            .brokers
            .values()
            .filter_map(|b| b.throttle.as_ref())
            .map(|w| w.max)
            .max()
            .unwrap_or(0);
        self.max_ms.fetch_max(max, Ordering::SeqCst);
        self.emitted.fetch_add(1, Ordering::SeqCst);
    }
}

impl ConsumerContext for Throttles {}

impl ProducerContext for Throttles {
    type DeliveryOpaque = ();
    fn delivery(
        &self,
        _: &compat_tests::rdkafka::message::DeliveryResult<'_>,
        _: Self::DeliveryOpaque,
    ) {
    }
}

impl Throttles {
    fn throttled(&self) -> bool {
        self.max_ms.load(Ordering::SeqCst) > 0
    }

    /// Waits until statistics covering every response received so far have been emitted
    /// (librdkafka rolls its windows over at each emission; `poll` is what delivers them to a
    /// consumer), and returns the largest throttle time reported since the last `reset`.
    fn settle(&self, poll: impl Fn()) -> i64 {
        let seen = self.emitted.load(Ordering::SeqCst);
        assert!(
            wait_until(WAIT, || {
                poll();
                self.emitted.load(Ordering::SeqCst) >= seen + 2
            }),
            "no statistics emitted"
        );
        self.max_ms.load(Ordering::SeqCst)
    }

    fn reset(&self) {
        self.max_ms.store(0, Ordering::SeqCst);
    }
}

/// Sets (`Some`) or removes a quota of `client_id`, and waits until the broker describes it.
fn set_client_quota(conn: &mut RawConn, client_id: &str, key: &str, value: Option<f64>) {
    let entry = alter::EntryData::default()
        .with_entity(vec![alter::EntityData::default()
            .with_entity_type(str_bytes("client-id"))
            .with_entity_name(Some(str_bytes(client_id)))])
        .with_ops(vec![alter::OpData::default()
            .with_key(str_bytes(key))
            .with_value(value.unwrap_or(0.0))
            .with_remove(value.is_none())]);
    let r = conn.request(
        1,
        &AlterClientQuotasRequest::default().with_entries(vec![entry]),
    );
    assert_eq!(
        r.entries[0].error_code, 0,
        "{:?}",
        r.entries[0].error_message
    );
    // Kafka's broker applies what its controller committed once the metadata reaches it.
    let expected: Vec<(String, f64)> = value.map(|v| (key.to_string(), v)).into_iter().collect();
    assert!(
        wait_until(WAIT, || {
            let r: DescribeClientQuotasResponse = conn.request(
                1,
                &DescribeClientQuotasRequest::default()
                    .with_strict(true)
                    .with_components(vec![ComponentData::default()
                        .with_entity_type(str_bytes("client-id"))
                        .with_match_type(0)
                        .with_match(Some(str_bytes(client_id)))]),
            );
            let values: Vec<(String, f64)> = r
                .entries
                .unwrap_or_default()
                .iter()
                .flat_map(|e| e.values.iter().map(|v| (v.key.to_string(), v.value)))
                .collect();
            values == expected
        }),
        "the quota of {client_id} is not {value:?}"
    );
}

/// Produces `n` records of 1 KB and waits until all are acknowledged.
fn produce_burst(producer: &ThreadedProducer<Throttles>, topic: &str, n: usize) {
    let value = vec![b'q'; 1000];
    for i in 0..n {
        let key = i.to_string();
        let mut record = BaseRecord::to(topic).key(&key).payload(&value);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((e, r)) => {
                    assert!(
                        matches!(
                            e.rdkafka_error_code(),
                            Some(compat_tests::rdkafka::types::RDKafkaErrorCode::QueueFull)
                        ),
                        "{e}"
                    );
                    record = r;
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
    }
    producer.flush(WAIT).expect("every record acknowledged");
}

fn stats_producer(broker: &Broker, client_id: &str) -> ThreadedProducer<Throttles> {
    producer_config(&broker.bootstrap())
        .set("client.id", client_id)
        .set("statistics.interval.ms", "100")
        .set("message.timeout.ms", "60000")
        .create_with_context(Throttles::default())
        .expect("create producer")
}

#[test]
fn a_producer_over_its_byte_rate_is_throttled_until_the_quota_is_removed() {
    let broker = Broker::start();
    let topic = unique_topic("quota-produce");
    create_topic(&broker.bootstrap(), &topic, 1);
    let client_id = unique_topic("quota-producer");
    let mut conn = RawConn::connect(broker.addr());
    set_client_quota(&mut conn, &client_id, "producer_byte_rate", Some(RATE));

    let producer = stats_producer(&broker, &client_id);
    // 150 KB at once: half again the rate over Kafka's 10 s minimum window.
    produce_burst(&producer, &topic, 150);
    assert!(
        wait_until(WAIT, || producer.context().throttled()),
        "no throttle time reported to a producer over its quota"
    );

    set_client_quota(&mut conn, &client_id, "producer_byte_rate", None);
    producer.context().settle(|| {});
    producer.context().reset();
    produce_burst(&producer, &topic, 150);
    let after = producer.context().settle(|| {});
    assert_eq!(after, 0, "throttled after the quota was removed");
}

#[test]
fn a_consumer_over_its_byte_rate_is_throttled_until_the_quota_is_removed() {
    let broker = Broker::start();
    let topic = unique_topic("quota-fetch");
    create_topic(&broker.bootstrap(), &topic, 1);
    let loader = stats_producer(&broker, &unique_topic("quota-loader"));
    produce_burst(&loader, &topic, 300);

    let client_id = unique_topic("quota-consumer");
    let mut conn = RawConn::connect(broker.addr());
    set_client_quota(&mut conn, &client_id, "consumer_byte_rate", Some(RATE));
    let consumer: BaseConsumer<Throttles> = consumer_config(&broker.bootstrap())
        .set("client.id", &client_id)
        .set("statistics.interval.ms", "100")
        // Small fetches, so the quota is crossed over several of them.
        .set("fetch.max.bytes", "50000")
        .set("message.max.bytes", "50000")
        .set("max.partition.fetch.bytes", "50000")
        .create_with_context(Throttles::default())
        .expect("create consumer");
    assign_from_beginning(&consumer, &topic, 1);
    let consumed = Cell::new(0usize);
    let poll = || {
        if let Some(m) = consumer.poll(Duration::from_millis(50)) {
            m.expect("consumed without error");
            consumed.set(consumed.get() + 1);
        }
    };
    assert!(
        wait_until(WAIT, || {
            poll();
            consumer.context().throttled()
        }),
        "no throttle time reported to a consumer over its quota"
    );

    set_client_quota(&mut conn, &client_id, "consumer_byte_rate", None);
    // Past any throttle reported for responses from before the removal.
    consumer.context().settle(poll);
    consumer.context().reset();
    produce_burst(&loader, &topic, 300);
    // Everything not read yet and the new burst, at once: well over the old quota.
    let total = 600;
    assert!(
        wait_until(WAIT, || {
            poll();
            consumed.get() >= total
        }),
        "consumed {} of {total}",
        consumed.get()
    );
    let after = consumer.context().settle(poll);
    assert_eq!(after, 0, "throttled after the quota was removed");
}

#[test]
fn a_client_over_its_request_percentage_is_throttled() {
    let broker = Broker::start();
    let topic = unique_topic("quota-requests");
    create_topic(&broker.bootstrap(), &topic, 1);
    let client_id = unique_topic("quota-request-client");
    let mut conn = RawConn::connect(broker.addr());
    // A thousandth of a percent: 0.1 ms of handling in Kafka's 10 s window.
    set_client_quota(&mut conn, &client_id, "request_percentage", Some(0.001));
    let producer = stats_producer(&broker, &client_id);
    assert!(
        wait_until(WAIT, || {
            // One Produce request each time: each one's handling counts.
            produce_burst(&producer, &topic, 1);
            producer.context().throttled()
        }),
        "no throttle time reported to a client over its request_percentage"
    );
}
