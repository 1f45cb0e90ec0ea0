//! Named listeners (`listeners`, `advertised_listeners`, `listener_security_protocol_map`): each client is told
//! the address of the listener it connected through, the Docker set-up where one address cannot serve both the
//! host and other containers. Runs against Kafka too (run-kafka.sh maps the same keys).

use std::time::Duration;

use std::net::SocketAddr;

use compat_tests::raw::RawConn;
use compat_tests::rdkafka::consumer::BaseConsumer;
use compat_tests::{
    assign_from_beginning, consume_n, consumer, create_topic, produce_all, producer, unique_topic,
    Broker, Msg,
};
use kafka_protocol::messages::MetadataRequest;

/// Two plaintext listeners: HOST advertised as localhost with its bound port, DOCKER as a container name.
const TWO_LISTENERS: &str = "listeners: \"HOST://127.0.0.1:0,DOCKER://127.0.0.1:0\"\n\
     advertised_listeners: \"HOST://localhost:0,DOCKER://sluice:29092\"\n\
     listener_security_protocol_map: \"HOST:PLAINTEXT,DOCKER:PLAINTEXT\"\n";

/// The brokers Metadata lists to a client connected to `listener`, as `host:port`. Raw Metadata on one
/// connection: a client library would go on to connect to what is advertised (`sluice` does not resolve here).
fn advertised(listener: SocketAddr) -> Vec<String> {
    let mut conn = RawConn::connect(listener);
    let response = conn.request(4, &MetadataRequest::default().with_topics(Some(vec![])));
    response
        .brokers
        .iter()
        .map(|b| format!("{}:{}", b.host.as_str(), b.port))
        .collect()
}

#[test]
fn each_listener_advertises_its_own_address() {
    let broker = Broker::start_with(TWO_LISTENERS);
    let host = broker.listener("HOST");
    let docker = broker.listener("DOCKER");
    assert_ne!(host.port(), docker.port(), "two listeners, two ports");
    assert_eq!(advertised(host), vec![format!("localhost:{}", host.port())]);
    assert_eq!(advertised(docker), vec!["sluice:29092"]);
}

#[test]
fn clients_of_the_host_listener_produce_and_consume() {
    let broker = Broker::start_with(TWO_LISTENERS);
    let bootstrap = broker.listener("HOST").to_string();
    let topic = unique_topic("listeners");
    create_topic(&bootstrap, &topic, 1);
    let messages: Vec<Msg> = (0..20).map(|i| Msg::sample(i, 1)).collect();
    produce_all(&producer(&bootstrap, &[]), &topic, &messages);
    let reader: BaseConsumer = consumer(&bootstrap, &[]);
    assign_from_beginning(&reader, &topic, 1);
    let read = consume_n(&reader, messages.len(), Duration::from_secs(30));
    let read: Vec<Msg> = read.iter().map(Msg::from_message).collect();
    assert_eq!(read, messages);
}
