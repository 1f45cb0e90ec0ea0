"""confluent-kafka's AdminClient against Sluice: topic administration and configs.

CreateTopics with configs, validate_only and every per-topic error; DescribeConfigs (every Kafka 4.x topic config,
defaults, sources, synonyms, the broker resource); IncrementalAlterConfigs SET/DELETE/APPEND/SUBTRACT and its
validation (rdkafka 0.39 has no IncrementalAlterConfigs, so the Rust suite leaves it to this file);
CreatePartitions; DeleteRecords; DescribeCluster; ListOffsets with every OffsetSpec on CreateTime and
LogAppendTime topics; DescribeTopics; DeleteTopics and recreation under a new topic id.
"""

from __future__ import annotations

import time

import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    TIMESTAMP_CREATE_TIME,
    TIMESTAMP_LOG_APPEND_TIME,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    OffsetSpec,
    ResourceType,
)

from conftest import admin_client, is_reference_kafka, wait_until

TIMEOUT_S = 15

# Every topic config Kafka 4.4 defines (LogConfig): DescribeConfigs lists exactly these for every topic.
KAFKA_TOPIC_CONFIGS = {
    "cleanup.policy", "compression.gzip.level", "compression.lz4.level", "compression.type",
    "compression.zstd.level", "delete.retention.ms", "errors.deadletterqueue.group.enable", "file.delete.delay.ms", "flush.messages", "flush.ms",
    "follower.replication.throttled.replicas", "index.interval.bytes", "leader.replication.throttled.replicas",
    "local.retention.bytes", "local.retention.ms", "max.compaction.lag.ms", "max.decompressed.message.bytes",
    "max.message.bytes",
    "message.timestamp.after.max.ms", "message.timestamp.before.max.ms", "message.timestamp.type",
    "min.cleanable.dirty.ratio", "min.compaction.lag.ms", "min.insync.replicas", "preallocate",
    "remote.copy.lag.bytes", "remote.copy.lag.ms", "remote.log.copy.disable", "remote.log.delete.on.disable", "remote.storage.enable", "retention.bytes",
    "retention.ms", "segment.bytes", "segment.index.bytes", "segment.jitter.ms", "segment.ms",
    "unclean.leader.election.enable",
}


# -- helpers ---------------------------------------------------------------------------------------------------


def error_of(future) -> int | None:
    """The Kafka error code a future failed with, or None when it succeeded."""
    try:
        future.result(timeout=TIMEOUT_S)
    except KafkaException as e:
        return e.args[0].code()
    return None


def create(admin: AdminClient, topic: NewTopic, **kwargs) -> int | None:
    """CreateTopics of one topic; the error code, or None once the created topic is in Metadata.

    Kafka (KRaft) answers CreateTopics when its controller has committed the topic; the broker's metadata lists
    it a moment later (Sluice: at once), so Metadata, DescribeTopics or DescribeConfigs straight after the answer
    may not know the topic yet. Clients wait for it, and so does this helper."""
    futures = admin.create_topics([topic], request_timeout=TIMEOUT_S, **kwargs)
    code = error_of(futures[topic.topic])
    if code is None and not kwargs.get("validate_only"):
        wait_for_metadata(admin, topic.topic)
    return code


def wait_for_metadata(admin: AdminClient, name: str) -> None:
    """Wait until Metadata lists the topic `name` without error."""

    def listed():
        t = admin.list_topics(topic=name, timeout=TIMEOUT_S).topics.get(name)
        return t is not None and t.error is None

    wait_until(listed, TIMEOUT_S, 0.1, f"{name} in Metadata")


def create_ok(admin: AdminClient, name: str, partitions: int = 1, config: dict | None = None) -> None:
    code = create(admin, NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {}))
    assert code is None, f"CreateTopics {name} {config}: {KafkaError(code)}"


def topic_names(admin: AdminClient) -> set[str]:
    return set(admin.list_topics(timeout=TIMEOUT_S).topics)


def describe_topic_configs(admin: AdminClient, topic: str) -> dict[str, ConfigEntry]:
    resource = ConfigResource(ResourceType.TOPIC, topic)
    return admin.describe_configs([resource], request_timeout=TIMEOUT_S)[resource].result(timeout=TIMEOUT_S)


def source(entry: ConfigEntry) -> ConfigSource:
    return ConfigSource(entry.source) if not isinstance(entry.source, ConfigSource) else entry.source


def summary(entry: ConfigEntry) -> tuple:
    """(value, source, is_default) of a described config."""
    return entry.value, source(entry), entry.is_default


def synonym_list(entry: ConfigEntry) -> list[tuple]:
    return [(s.name, s.value, source(s)) for s in entry.synonyms.values()]


def incremental(admin: AdminClient, topic: str, ops: list[tuple], **kwargs) -> int | None:
    """IncrementalAlterConfigs of one topic; ops are (name, value, AlterConfigOpType)."""
    resource = ConfigResource(
        ResourceType.TOPIC, topic,
        incremental_configs=[ConfigEntry(n, v, incremental_operation=op) for n, v, op in ops],
    )
    futures = admin.incremental_alter_configs([resource], request_timeout=TIMEOUT_S, **kwargs)
    return error_of(futures[resource])


def produce(broker, topic: str, records: list[tuple], partition: int = 0) -> list[int]:
    """Sends (key, value, timestamp-or-None) records as one flush; returns their offsets."""
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 50})
    offsets: list = [None] * len(records)
    errors = []

    def report(i):
        def on_delivery(err, msg):
            if err is not None:
                errors.append((i, err))
            else:
                offsets[i] = msg.offset()
        return on_delivery

    for i, (key, value, ts) in enumerate(records):
        kwargs = {"timestamp": ts} if ts is not None else {}
        producer.produce(topic, key=key, value=value, partition=partition, on_delivery=report(i), **kwargs)
    assert producer.flush(TIMEOUT_S) == 0, "undelivered records"
    assert not errors, f"delivery errors: {errors}"
    return offsets


def consume(broker, topic: str, n: int, partition: int = 0, offset: int = OFFSET_BEGINNING) -> list:
    consumer = Consumer({
        "bootstrap.servers": broker.bootstrap, "group.id": "sluice-admin-test", "enable.auto.commit": False,
        "auto.offset.reset": "earliest", "enable.partition.eof": False,
    })
    try:
        consumer.assign([TopicPartition(topic, partition, offset)])
        out = []
        deadline = time.monotonic() + TIMEOUT_S
        while len(out) < n and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            out.append(msg)
        assert len(out) == n, f"consumed {len(out)} of {n} from {topic}/{partition}"
        return out
    finally:
        consumer.close()


def list_offsets(admin: AdminClient, topic: str, spec: OffsetSpec, partition: int = 0):
    tp = TopicPartition(topic, partition)
    return admin.list_offsets({tp: spec}, request_timeout=TIMEOUT_S)[tp].result(timeout=TIMEOUT_S)


def now_ms() -> int:
    return int(time.time() * 1000)


# -- CreateTopics --------------------------------------------------------------------------------------------


def test_create_topics_with_configs_and_validate_only(broker, topic_name):
    admin = admin_client(broker)
    configs = {"cleanup.policy": "compact", "retention.ms": "3600000", "max.message.bytes": "200000"}
    create_ok(admin, topic_name, 2, configs)
    described = describe_topic_configs(admin, topic_name)
    for name, value in configs.items():
        assert summary(described[name]) == (value, ConfigSource.DYNAMIC_TOPIC_CONFIG, False), name

    # validate_only: checked as a real create would be, nothing created.
    dry = f"{topic_name}-dry"
    assert create(admin, NewTopic(dry, 3, 1, config={"retention.ms": "1000"}), validate_only=True) is None
    assert create(admin, NewTopic(dry, 3, 1, config={"retention.ms": "soon"}),
                  validate_only=True) == KafkaError.INVALID_CONFIG
    assert create(admin, NewTopic(topic_name, 1, 1), validate_only=True) == KafkaError.TOPIC_ALREADY_EXISTS
    assert dry not in topic_names(admin)
    # The dry run reserved nothing: a real create of the same name works.
    create_ok(admin, dry, 3)
    md = admin.list_topics(topic=dry, timeout=TIMEOUT_S)
    assert len(md.topics[dry].partitions) == 3


@pytest.mark.broker_config(num_partitions=4)
def test_create_topics_errors_defaults_and_assignments(broker, topic_name):
    admin = admin_client(broker)
    create_ok(admin, topic_name)
    cases = [
        (NewTopic(topic_name, 1, 1), KafkaError.TOPIC_ALREADY_EXISTS),
        (NewTopic("bad name", 1, 1), KafkaError.TOPIC_EXCEPTION),
        (NewTopic("x" * 250, 1, 1), KafkaError.TOPIC_EXCEPTION),
        (NewTopic(f"{topic_name}-p0", 0, 1), KafkaError.INVALID_PARTITIONS),
        (NewTopic(f"{topic_name}-rf3", 1, 3), KafkaError.INVALID_REPLICATION_FACTOR),
        (NewTopic(f"{topic_name}-cfg1", 1, 1, config={"retention.ms": "-7"}), KafkaError.INVALID_CONFIG),
        (NewTopic(f"{topic_name}-cfg2", 1, 1, config={"no.such.config": "1"}), KafkaError.INVALID_CONFIG),
        (NewTopic(f"{topic_name}-cfg3", 1, 1, config={"cleanup.policy": "Compact"}), KafkaError.INVALID_CONFIG),
        (NewTopic(f"{topic_name}-cfg4", 1, 1, config={"min.insync.replicas": "0"}), KafkaError.INVALID_CONFIG),
        (NewTopic(f"{topic_name}-cfg5", 1, 1, config={"message.timestamp.type": "BrokerTime"}),
         KafkaError.INVALID_CONFIG),
        (NewTopic(f"{topic_name}-b2", 1, replica_assignment=[[2]]), KafkaError.INVALID_REPLICA_ASSIGNMENT),
        (NewTopic(f"{topic_name}-b12", 1, replica_assignment=[[1, 2]]), KafkaError.INVALID_REPLICA_ASSIGNMENT),
    ]
    for topic, expected in cases:
        code = create(admin, topic)
        assert code == expected, f"{topic.topic} {topic.config}: got {code and KafkaError(code)}"
    existing = topic_names(admin)
    assert not {t.topic for t, _ in cases[1:]} & existing, "a refused topic was created"

    # Defaults: partitions from the broker (num_partitions: 4), replication factor 1.
    create_ok_default = create(admin, NewTopic(f"{topic_name}-dflt"))
    assert create_ok_default is None
    # A manual assignment on broker 1.
    assert create(admin, NewTopic(f"{topic_name}-man", 3, replica_assignment=[[1], [1], [1]])) is None
    md = admin.list_topics(timeout=TIMEOUT_S)
    assert len(md.topics[f"{topic_name}-dflt"].partitions) == 4
    man = md.topics[f"{topic_name}-man"]
    assert len(man.partitions) == 3
    assert all(p.leader == 1 and p.replicas == [1] for p in man.partitions.values())


# -- DescribeConfigs -----------------------------------------------------------------------------------------


@pytest.mark.broker_config(log_retention_bytes=1073741824)
def test_describe_configs_lists_every_config_with_defaults_and_synonyms(broker, topic_name):
    admin = admin_client(broker)
    create_ok(admin, topic_name, 1, {"cleanup.policy": "compact", "retention.ms": "3600000"})
    described = describe_topic_configs(admin, topic_name)
    assert KAFKA_TOPIC_CONFIGS == set(described), (
        f"missing: {KAFKA_TOPIC_CONFIGS - set(described)}, not Kafka's: {set(described) - KAFKA_TOPIC_CONFIGS}"
    )
    assert "message.format.version" not in described, "removed in Kafka 4.0"
    assert all(not e.is_read_only and not e.is_sensitive for e in described.values())

    assert summary(described["segment.bytes"]) == ("1073741824", ConfigSource.DEFAULT_CONFIG, True)
    assert summary(described["min.cleanable.dirty.ratio"]) == ("0.5", ConfigSource.DEFAULT_CONFIG, True)
    assert summary(described["max.message.bytes"]) == ("1048588", ConfigSource.DEFAULT_CONFIG, True)
    assert summary(described["retention.bytes"]) == ("1073741824", ConfigSource.STATIC_BROKER_CONFIG, False)
    assert summary(described["cleanup.policy"]) == ("compact", ConfigSource.DYNAMIC_TOPIC_CONFIG, False)

    # Synonyms, highest precedence first, as Kafka orders them.
    assert synonym_list(described["cleanup.policy"]) == [
        ("cleanup.policy", "compact", ConfigSource.DYNAMIC_TOPIC_CONFIG),
        ("log.cleanup.policy", "delete", ConfigSource.DEFAULT_CONFIG),
    ]
    assert synonym_list(described["retention.ms"]) == [
        ("retention.ms", "3600000", ConfigSource.DYNAMIC_TOPIC_CONFIG),
    ]
    assert synonym_list(described["delete.retention.ms"]) == [
        ("log.cleaner.delete.retention.ms", "86400000", ConfigSource.DEFAULT_CONFIG),
    ]
    # confluent-kafka keys synonyms by name, so the two log.retention.bytes synonyms (static broker config, then
    # Kafka's default) collapse into one here; the Rust suite checks both over a raw connection.
    assert list(described["retention.bytes"].synonyms) == ["log.retention.bytes"]

    missing = ConfigResource(ResourceType.TOPIC, f"{topic_name}-missing")
    future = admin.describe_configs([missing], request_timeout=TIMEOUT_S)[missing]
    assert error_of(future) == KafkaError.UNKNOWN_TOPIC_OR_PART

    # The broker resource.
    broker_resource = ConfigResource(ResourceType.BROKER, "1")
    configs = admin.describe_configs([broker_resource], request_timeout=TIMEOUT_S)[broker_resource].result(
        timeout=TIMEOUT_S)
    assert summary(configs["log.retention.bytes"]) == ("1073741824", ConfigSource.STATIC_BROKER_CONFIG, False)
    assert summary(configs["log.cleanup.policy"]) == ("delete", ConfigSource.DEFAULT_CONFIG, True)
    if is_reference_kafka():
        # Kafka can change log.cleanup.policy for every broker at run time (a dynamic broker config).
        assert not configs["log.cleanup.policy"].is_read_only
    else:
        # Sluice deliberately has no dynamic broker configs (compat-tests/FINDINGS.md).
        assert configs["log.cleanup.policy"].is_read_only, "Sluice's broker configs are static"


# -- IncrementalAlterConfigs ---------------------------------------------------------------------------------


@pytest.mark.own_broker
def test_incremental_alter_configs_set_delete_append_subtract(broker, topic_name):
    admin = admin_client(broker)
    create_ok(admin, topic_name, 1, {"retention.ms": "1000000", "max.message.bytes": "100000"})
    SET, DELETE, APPEND, SUBTRACT = (AlterConfigOpType.SET, AlterConfigOpType.DELETE, AlterConfigOpType.APPEND,
                                     AlterConfigOpType.SUBTRACT)

    assert incremental(admin, topic_name, [
        ("retention.ms", "2000000", SET),
        ("max.message.bytes", None, DELETE),
        # APPEND starts from the topic config's default ("delete") when the topic has no override.
        ("cleanup.policy", "compact", APPEND),
    ]) is None
    d = describe_topic_configs(admin, topic_name)
    assert summary(d["retention.ms"]) == ("2000000", ConfigSource.DYNAMIC_TOPIC_CONFIG, False)
    assert summary(d["max.message.bytes"]) == ("1048588", ConfigSource.DEFAULT_CONFIG, True)
    assert summary(d["cleanup.policy"]) == ("delete,compact", ConfigSource.DYNAMIC_TOPIC_CONFIG, False)
    # Incremental: configs the request did not name are untouched.
    assert incremental(admin, topic_name, [("cleanup.policy", "compact", APPEND)]) is None
    assert describe_topic_configs(admin, topic_name)["cleanup.policy"].value == "delete,compact", \
        "APPEND of a value already listed adds nothing"
    assert incremental(admin, topic_name, [("cleanup.policy", "delete", SUBTRACT)]) is None
    d = describe_topic_configs(admin, topic_name)
    assert d["cleanup.policy"].value == "compact"
    assert d["retention.ms"].value == "2000000", "untouched by later requests"
    assert incremental(admin, topic_name, [("cleanup.policy", "delete", SUBTRACT)]) is None
    assert describe_topic_configs(admin, topic_name)["cleanup.policy"].value == "compact", \
        "SUBTRACT of an absent value changes nothing"

    # validate_only: checked, not applied.
    assert incremental(admin, topic_name, [("retention.ms", "5", SET)], validate_only=True) is None
    assert describe_topic_configs(admin, topic_name)["retention.ms"].value == "2000000"

    # DELETE of every override: back to defaults, and the change survives a restart.
    assert incremental(admin, topic_name, [("retention.ms", None, DELETE), ("cleanup.policy", None, DELETE)]) is None
    broker.restart()
    d = describe_topic_configs(admin_client(broker), topic_name)
    assert summary(d["retention.ms"]) == ("604800000", ConfigSource.DEFAULT_CONFIG, True)
    assert summary(d["cleanup.policy"]) == ("delete", ConfigSource.DEFAULT_CONFIG, True)


def test_incremental_alter_configs_validation_errors(broker, topic_name):
    admin = admin_client(broker)
    create_ok(admin, topic_name, 1, {"retention.ms": "1000000"})
    SET, APPEND = AlterConfigOpType.SET, AlterConfigOpType.APPEND
    cases = [
        ([("retention.ms", "later", SET)], KafkaError.INVALID_CONFIG),
        ([("retention.ms", "-5", SET)], KafkaError.INVALID_CONFIG),
        ([("no.such.config", "1", SET)], KafkaError.INVALID_CONFIG),
        ([("cleanup.policy", "shred", APPEND)], KafkaError.INVALID_CONFIG),
        # APPEND and SUBTRACT work only on LIST configs.
        ([("retention.ms", "5", APPEND)], KafkaError.INVALID_CONFIG),
        ([("min.compaction.lag.ms", "10000", SET), ("max.compaction.lag.ms", "5000", SET)], KafkaError.INVALID_CONFIG),
        # One bad operation fails the whole resource: the good one is not applied either.
        ([("segment.ms", "100000", SET), ("compression.type", "brotli", SET)], KafkaError.INVALID_CONFIG),
    ]
    for ops, expected in cases:
        code = incremental(admin, topic_name, ops)
        assert code == expected, f"{ops}: got {code and KafkaError(code)}"
        code = incremental(admin, topic_name, ops, validate_only=True)
        assert code == expected, f"{ops} (validate_only): got {code and KafkaError(code)}"
    d = describe_topic_configs(admin, topic_name)
    assert d["retention.ms"].value == "1000000"
    assert source(d["segment.ms"]) == ConfigSource.DEFAULT_CONFIG, "nothing of a refused request is applied"

    assert incremental(admin, f"{topic_name}-missing", [("retention.ms", "5", SET)]) == \
        KafkaError.UNKNOWN_TOPIC_OR_PART

    # Two resources in one request: each gets its own result.
    good = ConfigResource(ResourceType.TOPIC, topic_name,
                          incremental_configs=[ConfigEntry("retention.ms", "7000000", incremental_operation=SET)])
    bad = ConfigResource(ResourceType.TOPIC, f"{topic_name}-missing",
                         incremental_configs=[ConfigEntry("retention.ms", "7", incremental_operation=SET)])
    futures = admin.incremental_alter_configs([good, bad], request_timeout=TIMEOUT_S)
    assert error_of(futures[good]) is None
    assert error_of(futures[bad]) == KafkaError.UNKNOWN_TOPIC_OR_PART
    assert describe_topic_configs(admin, topic_name)["retention.ms"].value == "7000000"


# -- CreatePartitions, DeleteRecords -------------------------------------------------------------------------


def test_create_partitions_then_produce_to_new_partition(broker, topic_name):
    admin = admin_client(broker)
    create_ok(admin, topic_name, 1)

    def grow(count, **kwargs):
        futures = admin.create_partitions([NewPartitions(topic_name, count)], request_timeout=TIMEOUT_S, **kwargs)
        return error_of(futures[topic_name])

    assert grow(5, validate_only=True) is None
    assert len(admin.list_topics(topic=topic_name, timeout=TIMEOUT_S).topics[topic_name].partitions) == 1
    assert grow(3) is None
    assert grow(3) == KafkaError.INVALID_PARTITIONS
    assert grow(2) == KafkaError.INVALID_PARTITIONS
    futures = admin.create_partitions([NewPartitions(f"{topic_name}-missing", 2)], request_timeout=TIMEOUT_S)
    assert error_of(futures[f"{topic_name}-missing"]) == KafkaError.UNKNOWN_TOPIC_OR_PART

    wait_until(lambda: len(admin.list_topics(topic=topic_name, timeout=TIMEOUT_S).topics[topic_name].partitions) == 3,
               TIMEOUT_S, message="three partitions in Metadata")
    assert produce(broker, topic_name, [(b"k", b"on partition 2", None)], partition=2) == [0]
    msg = consume(broker, topic_name, 1, partition=2)[0]
    assert (msg.partition(), msg.offset(), msg.value()) == (2, 0, b"on partition 2")


def test_delete_records(broker, topic_name):
    admin = admin_client(broker)
    create_ok(admin, topic_name, 2)
    produce(broker, topic_name, [(b"k", b"v%d" % i, None) for i in range(20)])

    def delete(partition, offset):
        tp = TopicPartition(topic_name, partition, offset)
        future = admin.delete_records([tp], request_timeout=TIMEOUT_S)[tp]
        try:
            return future.result(timeout=TIMEOUT_S).low_watermark
        except KafkaException as e:
            return e.args[0].code()

    assert delete(0, 12) == 12
    assert list_offsets(admin, topic_name, OffsetSpec.earliest()).offset == 12
    assert list_offsets(admin, topic_name, OffsetSpec.latest()).offset == 20
    assert delete(0, 5) == 12, "below the log start: nothing changes"
    assert delete(0, 21) == KafkaError.OFFSET_OUT_OF_RANGE
    msgs = consume(broker, topic_name, 8)
    assert [m.offset() for m in msgs] == list(range(12, 20))
    assert delete(1, 0) == 0, "an empty partition"
    # OFFSET_END (-1) deletes up to the high watermark.
    assert delete(0, -1) == 20
    assert list_offsets(admin, topic_name, OffsetSpec.earliest()).offset == 20


# -- DescribeCluster, DescribeTopics, DeleteTopics -----------------------------------------------------------


@pytest.mark.own_broker
def test_describe_cluster(broker):
    admin = admin_client(broker)
    result = admin.describe_cluster(include_authorized_operations=True, request_timeout=TIMEOUT_S).result(
        timeout=TIMEOUT_S)
    assert result.cluster_id
    assert result.controller is not None and result.controller.id == 1
    assert [(n.id, n.host, n.port) for n in result.nodes] == [(1, "127.0.0.1", broker.port)]
    assert result.authorized_operations, "authorized operations were asked for"
    # The cluster id is stable across a restart (it lives in the data directory).
    broker.restart()
    admin = admin_client(broker)
    again = admin.describe_cluster(request_timeout=TIMEOUT_S).result(timeout=TIMEOUT_S)
    assert again.cluster_id == result.cluster_id


def test_describe_topics_then_delete_and_recreate_with_new_id(broker, topic_name):
    admin = admin_client(broker)
    create_ok(admin, topic_name, 3)
    produce(broker, topic_name, [(b"k", b"v", None)] * 3)
    missing = f"{topic_name}-missing"
    futures = admin.describe_topics(TopicCollection([topic_name, missing]), include_authorized_operations=True,
                                    request_timeout=TIMEOUT_S)
    description = futures[topic_name].result(timeout=TIMEOUT_S)
    assert description.name == topic_name
    assert description.topic_id is not None and str(description.topic_id) != "AAAAAAAAAAAAAAAAAAAAAA"
    assert not description.is_internal
    assert [p.id for p in description.partitions] == [0, 1, 2]
    for p in description.partitions:
        assert p.leader is not None and p.leader.id == 1
        assert [n.id for n in p.replicas] == [1] and [n.id for n in p.isr] == [1]
    assert description.authorized_operations, "authorized operations were asked for"
    assert error_of(futures[missing]) == KafkaError.UNKNOWN_TOPIC_OR_PART

    old_id = str(description.topic_id)
    assert error_of(admin.delete_topics([topic_name], request_timeout=TIMEOUT_S)[topic_name]) is None
    # As with creation, Kafka's broker drops the topic from its metadata a moment after the answer; Sluice at once.

    def described_as_unknown():
        futures = admin.describe_topics(TopicCollection([topic_name]), request_timeout=TIMEOUT_S)
        return error_of(futures[topic_name]) == KafkaError.UNKNOWN_TOPIC_OR_PART

    wait_until(described_as_unknown, TIMEOUT_S, 0.1, f"DescribeTopics of the deleted {topic_name}: unknown")
    assert error_of(admin.delete_topics([topic_name], request_timeout=TIMEOUT_S)[topic_name]) == \
        KafkaError.UNKNOWN_TOPIC_OR_PART

    create_ok(admin, topic_name, 1)
    recreated = admin.describe_topics(TopicCollection([topic_name]), request_timeout=TIMEOUT_S)[topic_name].result(
        timeout=TIMEOUT_S)
    assert str(recreated.topic_id) != old_id, "a recreated topic gets a new id"
    assert len(recreated.partitions) == 1
    assert list_offsets(admin, topic_name, OffsetSpec.latest()).offset == 0, "recreated topic is empty"


# -- ListOffsets ---------------------------------------------------------------------------------------------


def test_list_offsets_every_spec_on_a_create_time_topic(broker, topic_name):
    admin = admin_client(broker)
    create_ok(admin, topic_name, 1)
    base = now_ms() - 60_000
    # Out of order: the largest timestamp is offset 3.
    deltas = [0, 5000, 2000, 9000, 1000, 3000]
    produce(broker, topic_name, [(b"k", b"v%d" % i, base + d) for i, d in enumerate(deltas[:3])])
    produce(broker, topic_name, [(b"k", b"v%d" % (i + 3), base + d) for i, d in enumerate(deltas[3:])])

    def at(spec):
        r = list_offsets(admin, topic_name, spec)
        return r.offset, r.timestamp

    assert at(OffsetSpec.earliest())[0] == 0
    assert at(OffsetSpec.latest())[0] == 6
    assert at(OffsetSpec.max_timestamp()) == (3, base + 9000)
    assert at(OffsetSpec.for_timestamp(base)) == (0, base)
    assert at(OffsetSpec.for_timestamp(base + 1500)) == (1, base + 5000), "first offset with a timestamp >= t"
    assert at(OffsetSpec.for_timestamp(base + 6000)) == (3, base + 9000)
    assert at(OffsetSpec.for_timestamp(base + 9001))[0] == -1, "no record that late"

    tp = TopicPartition(topic_name, 0, 2)
    assert admin.delete_records([tp], request_timeout=TIMEOUT_S)[tp].result(timeout=TIMEOUT_S).low_watermark == 2
    assert at(OffsetSpec.earliest())[0] == 2
    assert at(OffsetSpec.for_timestamp(0)) == (2, base + 2000), "never below the log start"
    assert at(OffsetSpec.max_timestamp()) == (3, base + 9000)

    # An unknown topic: librdkafka finds no leader in Metadata and fails locally (_NOENT) without asking.
    tp = TopicPartition(f"{topic_name}-missing", 0)
    future = admin.list_offsets({tp: OffsetSpec.latest()}, request_timeout=TIMEOUT_S)[tp]
    assert error_of(future) is not None


def test_list_offsets_on_a_log_append_time_topic(broker, topic_name):
    """With LogAppendTime, every record of a batch carries the broker's clock at append, and ListOffsets answers
    with those timestamps: the producer's timestamps must not show anywhere."""
    admin = admin_client(broker)
    create_ok(admin, topic_name, 1, {"message.timestamp.type": "LogAppendTime"})
    before = now_ms()
    old = before - 3_600_000
    produce(broker, topic_name, [(b"k", b"a", old), (b"k", b"b", old + 1), (b"k", b"c", old)])
    after = now_ms()
    msgs = consume(broker, topic_name, 3)
    stamps = {m.timestamp() for m in msgs}
    assert len(stamps) == 1, f"one append time per batch: {stamps}"
    kind, appended = stamps.pop()
    assert kind == TIMESTAMP_LOG_APPEND_TIME
    assert before <= appended <= after

    def at(spec):
        r = list_offsets(admin, topic_name, spec)
        return r.offset, r.timestamp

    assert at(OffsetSpec.max_timestamp()) == (0, appended)
    assert at(OffsetSpec.for_timestamp(appended)) == (0, appended)
    assert at(OffsetSpec.for_timestamp(appended + 1))[0] == -1
    # Kafka answers (0, append time): the record's own timestamp is the append time.
    assert at(OffsetSpec.for_timestamp(0)) == (0, appended), "producer timestamp leaked into ListOffsets"


def test_create_time_topic_keeps_producer_timestamps(broker, topic_name):
    admin = admin_client(broker)
    create_ok(admin, topic_name, 1)
    ts = now_ms() - 10_000
    produce(broker, topic_name, [(b"k", b"v", ts)])
    assert consume(broker, topic_name, 1)[0].timestamp() == (TIMESTAMP_CREATE_TIME, ts)
    # message.timestamp.after.max.ms (1 hour by default) refuses timestamps too far in the future.
    producer = Producer({"bootstrap.servers": broker.bootstrap, "message.timeout.ms": 10000})
    errors = []
    producer.produce(topic_name, value=b"future", timestamp=now_ms() + 2 * 3_600_000,
                     on_delivery=lambda err, msg: errors.append(err))
    producer.flush(TIMEOUT_S)
    assert len(errors) == 1 and errors[0] is not None and errors[0].code() == KafkaError.INVALID_TIMESTAMP, errors


# -- Offset validation (OffsetForLeaderEpoch) ----------------------------------------------------------------


@pytest.mark.broker_config(log_level="info,sluice::net::connection=debug")
@pytest.mark.own_broker
def test_seek_with_leader_epoch_is_validated_after_restart(broker, topic_name):
    """A seek to a position with a leader epoch makes librdkafka validate it (KIP-320, OffsetForLeaderEpoch)
    before fetching; after a broker restart that must neither stall nor reset the position."""
    admin = admin_client(broker)
    create_ok(admin, topic_name, 1)
    produce(broker, topic_name, [(b"k", b"v%d" % i, None) for i in range(10)])
    consumer = Consumer({
        "bootstrap.servers": broker.bootstrap, "group.id": "sluice-admin-validate", "enable.auto.commit": False,
        "auto.offset.reset": "latest", "enable.partition.eof": False,
    })
    try:
        consumer.assign([TopicPartition(topic_name, 0, 0)])
        seen = []
        deadline = time.monotonic() + TIMEOUT_S
        while len(seen) < 10 and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is not None and msg.error() is None:
                seen.append(msg)
        assert [m.offset() for m in seen] == list(range(10))
        epoch = seen[-1].leader_epoch()
        assert epoch == 0, f"the only leader epoch is 0, consumed messages carry {epoch}"

        broker.restart()
        produce(broker, topic_name, [(b"k", b"after%d" % i, None) for i in range(5)])
        # Back to offset 4 with the epoch it was read in: validated, then fetched from 4.
        consumer.seek(TopicPartition(topic_name, 0, 4, leader_epoch=epoch))
        started = time.monotonic()
        got = []
        while len(got) < 11 and time.monotonic() < started + TIMEOUT_S:
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error() is not None:
                # The old connection's loss is reported once; nothing else may be.
                assert msg.error().code() in (KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN), msg.error()
                continue
            got.append(msg.offset())
        assert got == list(range(4, 15)), f"after the validated seek: {got}"
        assert time.monotonic() - started < 10, "validation stalled consumption"
    finally:
        consumer.close()
    if not is_reference_kafka():
        # Sluice's debug log names every request it serves; Kafka's (at run-kafka.sh's warn level) does not.
        log = broker.log_text().split("----- start #2")[-1]
        assert "api=OffsetForLeaderEpoch" in log, "librdkafka did not validate the seek position"
