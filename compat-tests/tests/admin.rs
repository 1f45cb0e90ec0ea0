//! Topic administration through librdkafka: listing every topic, CreateTopics and DeleteTopics with their
//! per-topic errors, and what a deleted topic leaves behind (nothing: recreating it starts empty).

use compat_tests::rdkafka::admin::{NewTopic, TopicReplication};
use compat_tests::rdkafka::consumer::Consumer;
use compat_tests::rdkafka::error::RDKafkaErrorCode;
use compat_tests::rdkafka::types::RDKafkaRespErr;
use compat_tests::{
    admin_client, admin_options, block_on, consumer, create_topic, produce_all, producer,
    unique_topic, wait_for_topic, wait_for_topic_gone, watermarks, Broker, Msg, CLIENT_TIMEOUT,
};

/// The error CreateTopics reports for one topic, or `None` when it was created and Metadata lists it (Kafka's
/// broker lists a created topic a moment after CreateTopics answers: see `wait_for_topic`).
fn create(
    broker: &Broker,
    name: &str,
    partitions: i32,
    replication: i32,
) -> Option<RDKafkaErrorCode> {
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(replication));
    let results =
        block_on(admin_client(&broker.bootstrap()).create_topics([&topic], &admin_options()))
            .unwrap_or_else(|e| panic!("CreateTopics {name}: {e}"));
    assert_eq!(results.len(), 1);
    let code = results
        .into_iter()
        .next()
        .expect("one result")
        .err()
        .map(|(_, code)| code);
    if code.is_none() {
        wait_for_topic(&broker.bootstrap(), name);
    }
    code
}

fn delete(broker: &Broker, name: &str) -> Option<RDKafkaErrorCode> {
    let results =
        block_on(admin_client(&broker.bootstrap()).delete_topics(&[name], &admin_options()))
            .unwrap_or_else(|e| panic!("DeleteTopics {name}: {e}"));
    assert_eq!(results.len(), 1);
    results
        .into_iter()
        .next()
        .expect("one result")
        .err()
        .map(|(_, code)| code)
}

/// Partition count of `topic` as a consumer sees it (consumers never auto-create), or its error.
fn describe(broker: &Broker, topic: &str) -> Result<usize, RDKafkaRespErr> {
    let consumer = consumer(&broker.bootstrap(), &[]);
    let metadata = consumer
        .fetch_metadata(Some(topic), CLIENT_TIMEOUT)
        .unwrap_or_else(|e| panic!("Metadata {topic}: {e}"));
    let described = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .unwrap_or_else(|| panic!("{topic} missing from its own Metadata response"));
    match described.error() {
        Some(error) => Err(error),
        None => Ok(described.partitions().len()),
    }
}

/// librdkafka's "list topics" (`rd_kafka_metadata` with all topics), as kcat -L and admin tools use it.
#[test]
fn metadata_for_all_topics_lists_every_topic() {
    let broker = Broker::start();
    let topics = [(unique_topic("list-a"), 1), (unique_topic("list-b"), 4)];
    for (name, partitions) in &topics {
        create_topic(&broker.bootstrap(), name, *partitions);
    }
    let consumer = consumer(&broker.bootstrap(), &[]);
    let metadata = consumer
        .fetch_metadata(None, CLIENT_TIMEOUT)
        .unwrap_or_else(|e| {
            panic!(
                "Metadata for all topics: {e}; broker log:\n{}",
                broker.logs()
            )
        });
    assert_eq!(metadata.brokers().len(), 1, "one broker");
    assert_eq!(
        i32::from(broker.addr().port()),
        metadata.brokers()[0].port(),
        "advertised port"
    );
    for (name, partitions) in &topics {
        let listed = metadata
            .topics()
            .iter()
            .find(|t| t.name() == name.as_str())
            .unwrap_or_else(|| panic!("{name} not listed"));
        assert!(listed.error().is_none(), "{name}: {:?}", listed.error());
        assert_eq!(
            listed.partitions().len(),
            *partitions as usize,
            "{name} partitions"
        );
        for partition in listed.partitions() {
            assert_eq!(
                partition.leader(),
                metadata.brokers()[0].id(),
                "leader of {name}/{}",
                partition.id()
            );
        }
    }
}

#[test]
fn create_topics_reports_per_topic_errors() {
    let broker = Broker::start();
    let name = unique_topic("create");
    assert_eq!(create(&broker, &name, 3, 1), None, "first create");
    assert_eq!(describe(&broker, &name), Ok(3));
    assert_eq!(
        create(&broker, &name, 3, 1),
        Some(RDKafkaErrorCode::TopicAlreadyExists),
        "second create of the same name"
    );
    assert_eq!(
        describe(&broker, &name),
        Ok(3),
        "a failed create changes nothing"
    );

    let zero = unique_topic("create-zero");
    assert_eq!(
        create(&broker, &zero, 0, 1),
        Some(RDKafkaErrorCode::InvalidPartitions)
    );
    assert_eq!(
        create(&broker, &unique_topic("create-rf3"), 1, 3),
        Some(RDKafkaErrorCode::InvalidReplicationFactor),
        "replication factor 3 on one broker"
    );
    assert_eq!(
        create(&broker, "has space", 1, 1),
        Some(RDKafkaErrorCode::InvalidTopic),
        "invalid name"
    );
    assert_eq!(
        describe(&broker, &zero),
        Err(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART),
        "rejected topics do not exist"
    );
}

#[test]
fn deleted_topic_is_gone_and_recreated_empty() {
    let broker = Broker::start();
    let name = unique_topic("delete");
    create_topic(&broker.bootstrap(), &name, 2);
    let messages: Vec<Msg> = (0..20).map(|i| Msg::sample(i, 2)).collect();
    produce_all(
        &producer(&broker.bootstrap(), &[("acks", "all")]),
        &name,
        &messages,
    );

    assert_eq!(delete(&broker, &name), None, "delete");
    // Kafka's broker drops the topic from its metadata a moment after DeleteTopics answers.
    wait_for_topic_gone(&broker.bootstrap(), &name);
    assert_eq!(
        describe(&broker, &name),
        Err(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART),
        "deleted topic in Metadata"
    );
    assert_eq!(
        delete(&broker, &name),
        Some(RDKafkaErrorCode::UnknownTopicOrPartition),
        "second delete"
    );

    // Same name, new topic: none of the old messages or offsets may come back.
    create_topic(&broker.bootstrap(), &name, 2);
    let consumer = consumer(&broker.bootstrap(), &[]);
    assert_eq!(
        watermarks(&consumer, &name, 2),
        vec![(0, 0), (0, 0)],
        "recreated topic"
    );
    let deliveries = produce_all(
        &producer(&broker.bootstrap(), &[("acks", "all")]),
        &name,
        &messages[..2],
    );
    assert!(
        deliveries.iter().all(|d| d.offset == 0),
        "first offsets after recreation: {deliveries:?}"
    );
}
