"""confluent-kafka (PyPI; bundles a current librdkafka 2.x) against Sluice.

Consumers use manual assignment only (`assign`, never `subscribe`, no commits): Sluice has no consumer groups yet.
"""

from __future__ import annotations

import random
import time

import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    TIMESTAMP_CREATE_TIME,
    Consumer,
    KafkaError,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import NewTopic

from conftest import admin_client, create_topic, topic_ready, wait_until

PARTITIONS = 3
MESSAGES = 3000
TIMEOUT_S = 60
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def make_messages(n: int, seed: int) -> list[dict]:
    """Keys (some NULL), values (some NULL or empty, a few large), headers (some absent, repeated names,
    NULL header values) and explicit create timestamps, all deterministic for `seed`."""
    rnd = random.Random(seed)
    base_ts = int(time.time() * 1000) - 60_000
    msgs = []
    for i in range(n):
        key = None if i % 17 == 0 else f"key-{i % 50}".encode()
        if i % 101 == 0:
            value = None
        elif i % 103 == 0:
            value = b""
        elif i % 499 == 0:
            value = rnd.randbytes(20_000)
        else:
            # Compressible text plus a few random bytes.
            value = (f"message {i} " + "lorem ipsum " * rnd.randint(0, 20)).encode() + rnd.randbytes(rnd.randint(0, 8))
        if i % 5 == 0:
            headers = None
        else:
            headers = [("idx", str(i).encode()), ("bin", rnd.randbytes(4))]
            if i % 7 == 0:
                headers += [("dup", b"1"), ("dup", b"2"), ("nullval", None)]
        msgs.append({"key": key, "value": value, "headers": headers, "timestamp": base_ts + i})
    return msgs


def produce_all(broker, topic: str, msgs: list[dict], **conf) -> dict[tuple[int, int], dict]:
    """Produce every message, wait for every delivery report; return {(partition, offset): message}."""
    producer = Producer({
        "bootstrap.servers": broker.bootstrap,
        "linger.ms": 20,
        "batch.num.messages": 500,
        "acks": "all",
        **conf,
    })
    placed: dict[tuple[int, int], dict] = {}
    errors = []

    def on_delivery(err, msg, m):
        if err is not None:
            errors.append(err)
        else:
            placed[(msg.partition(), msg.offset())] = m

    for m in msgs:
        while True:
            try:
                producer.produce(topic, value=m["value"], key=m["key"], headers=m["headers"],
                                 timestamp=m["timestamp"], on_delivery=lambda e, r, m=m: on_delivery(e, r, m))
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    remaining = producer.flush(TIMEOUT_S)
    assert remaining == 0, f"{remaining} messages still in flight after {TIMEOUT_S}s"
    assert not errors, f"{len(errors)} delivery errors, first: {errors[0]}"
    assert len(placed) == len(msgs)
    return placed


def check_offsets_contiguous(placed: dict[tuple[int, int], dict], partitions: int, start: int = 0) -> dict[int, int]:
    """Offsets in each partition are start, start+1, ... with no gap; return {partition: count}."""
    counts = {}
    for p in range(partitions):
        offsets = sorted(o for (pp, o) in placed if pp == p)
        assert offsets == list(range(start, start + len(offsets))), f"partition {p}: offsets not contiguous"
        counts[p] = len(offsets)
    return counts


def consume_all(broker, topic: str, partitions: int, expected: int) -> dict[tuple[int, int], object]:
    consumer = Consumer({
        "bootstrap.servers": broker.bootstrap,
        "group.id": "sluice-compat-unused",  # required by the client; never used: no subscribe, no commits
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "error",
        "fetch.wait.max.ms": 100,
    })
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        got: dict[tuple[int, int], object] = {}
        eof: set[int] = set()
        deadline = time.monotonic() + TIMEOUT_S
        while len(got) < expected or len(eof) < partitions:
            assert time.monotonic() < deadline, (
                f"timed out: {len(got)}/{expected} messages, EOF on partitions {sorted(eof)}")
            for msg in consumer.consume(num_messages=1000, timeout=0.5):
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        eof.add(msg.partition())
                        continue
                    raise AssertionError(f"consumer error: {err}")
                key = (msg.partition(), msg.offset())
                assert key not in got, f"duplicate delivery of {key}"
                got[key] = msg
        return got
    finally:
        consumer.close()


def compare(placed: dict[tuple[int, int], dict], got: dict[tuple[int, int], object], topic: str) -> None:
    assert sorted(got) == sorted(placed)
    for pos, m in placed.items():
        msg = got[pos]
        assert msg.topic() == topic
        assert msg.key() == m["key"], pos
        assert msg.value() == m["value"], pos
        assert msg.headers() == m["headers"], pos
        assert msg.timestamp() == (TIMESTAMP_CREATE_TIME, m["timestamp"]), pos


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.own_broker
def test_roundtrip_every_field_across_restart(broker, topic_name, codec):
    create_topic(broker, topic_name, PARTITIONS)
    msgs = make_messages(MESSAGES, seed=CODECS.index(codec))
    placed = produce_all(broker, topic_name, msgs, **{"compression.type": codec})
    counts = check_offsets_contiguous(placed, PARTITIONS)
    assert sum(counts.values()) == MESSAGES
    assert all(counts.values()), f"keyed messages should spread over every partition: {counts}"

    compare(placed, consume_all(broker, topic_name, PARTITIONS, MESSAGES), topic_name)

    broker.restart()
    compare(placed, consume_all(broker, topic_name, PARTITIONS, MESSAGES), topic_name)

    # Offsets continue from the persisted high watermark after the restart.
    more = make_messages(30, seed=7)
    placed_more = produce_all(broker, topic_name, more, **{"compression.type": codec})
    for (p, o) in placed_more:
        assert o >= counts[p], f"offset {o} on partition {p} reused after restart (had {counts[p]})"
    placed.update(placed_more)
    compare(placed, consume_all(broker, topic_name, PARTITIONS, MESSAGES + 30), topic_name)


def test_list_topics(broker, topic_name):
    create_topic(broker, topic_name, PARTITIONS)
    admin = admin_client(broker)
    md = admin.list_topics(timeout=10)  # Metadata for all topics
    assert len(md.brokers) == 1
    (b,) = md.brokers.values()
    assert (b.host, b.port) == ("127.0.0.1", broker.port)
    # The answer may come over the bootstrap connection (id -1) before librdkafka learns the id.
    assert md.orig_broker_id in (b.id, -1)
    t = md.topics[topic_name]
    assert t.error is None
    assert sorted(t.partitions) == list(range(PARTITIONS))
    for p in t.partitions.values():
        assert p.error is None
        assert (p.leader, p.replicas, p.isrs) == (b.id, [b.id], [b.id])


def test_watermark_offsets(broker, topic_name):
    create_topic(broker, topic_name, PARTITIONS)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5})
    for i in range(30):
        producer.produce(topic_name, value=b"v%d" % i, partition=i % PARTITIONS)
    assert producer.flush(TIMEOUT_S) == 0

    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "sluice-compat-unused",
                         "enable.auto.commit": False})
    try:
        for p in range(PARTITIONS):
            # ListOffsets (earliest, latest) straight from the broker.
            assert consumer.get_watermark_offsets(TopicPartition(topic_name, p), timeout=10, cached=False) == (0, 10)
    finally:
        consumer.close()


def test_offsets_for_times(broker, topic_name):
    create_topic(broker, topic_name, partitions=1)
    base = 1_700_000_000_000
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5, "batch.num.messages": 7})
    for i in range(40):
        producer.produce(topic_name, value=b"%d" % i, partition=0, timestamp=base + 10 * i)
    assert producer.flush(TIMEOUT_S) == 0
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "sluice-compat-unused",
                         "enable.auto.commit": False})
    try:
        cases = {base - 5: 0, base: 0, base + 1: 1, base + 125: 13, base + 390: 39, base + 391: -1}
        for ts, want in cases.items():
            (res,) = consumer.offsets_for_times([TopicPartition(topic_name, 0, ts)], timeout=10)
            assert res.error is None, res.error
            # -1 (OFFSET_END) when no record has a timestamp >= ts.
            assert res.offset == want, f"timestamp {ts}: offset {res.offset}, expected {want}"
    finally:
        consumer.close()


def test_delete_topic(broker, topic_name):
    create_topic(broker, topic_name, PARTITIONS)
    admin = admin_client(broker)
    assert topic_name in admin.list_topics(timeout=10).topics
    futures = admin.delete_topics([topic_name], operation_timeout=10, request_timeout=30)
    assert futures[topic_name].result(timeout=30) is None
    wait_until(lambda: topic_name not in admin.list_topics(timeout=10).topics, 20, 0.1, f"{topic_name} deleted")

    # Deleting it again: UNKNOWN_TOPIC_OR_PARTITION.
    futures = admin.delete_topics([topic_name], operation_timeout=10, request_timeout=30)
    with pytest.raises(Exception) as excinfo:
        futures[topic_name].result(timeout=30)
    assert excinfo.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART, excinfo.value


def test_create_existing_topic_fails(broker, topic_name):
    create_topic(broker, topic_name, PARTITIONS)
    admin = admin_client(broker)
    futures = admin.create_topics([NewTopic(topic_name, num_partitions=1, replication_factor=1)],
                                  request_timeout=30)
    with pytest.raises(Exception) as excinfo:
        futures[topic_name].result(timeout=30)
    assert excinfo.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS, excinfo.value


def test_create_topic_validate_only(broker, topic_name):
    admin = admin_client(broker)
    probe = topic_name + "-validate"
    futures = admin.create_topics([NewTopic(probe, num_partitions=2, replication_factor=1)],
                                  validate_only=True, request_timeout=30)
    assert futures[probe].result(timeout=30) is None
    assert probe not in admin.list_topics(timeout=10).topics


@pytest.mark.broker_config(max_message_bytes=4096)
def test_message_too_large_is_rejected_per_batch(broker, topic_name):
    create_topic(broker, topic_name, partitions=1)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0, "retries": 0})
    results = []
    producer.produce(topic_name, value=b"small", partition=0, on_delivery=lambda e, m: results.append(e))
    assert producer.flush(TIMEOUT_S) == 0
    producer.produce(topic_name, value=b"x" * 20_000, partition=0, on_delivery=lambda e, m: results.append(e))
    assert producer.flush(TIMEOUT_S) == 0
    assert results[0] is None
    assert results[1] is not None and results[1].code() == KafkaError.MSG_SIZE_TOO_LARGE, results[1]


@pytest.mark.broker_config(num_partitions=4)
def test_auto_create_uses_configured_partition_count(broker, topic_name):
    admin = admin_client(broker)
    wait_until(lambda: topic_ready(admin, topic_name, 4), 20, 0.2, f"{topic_name} auto-created with 4 partitions")


@pytest.mark.broker_config(auto_create_topics=False)
def test_no_auto_create_when_disabled(broker, topic_name):
    admin = admin_client(broker)
    t = admin.list_topics(topic=topic_name, timeout=10).topics[topic_name]
    assert t.error is not None and t.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART, t.error
    assert topic_name not in admin.list_topics(timeout=10).topics


def test_long_poll_fetch_wakes_on_produce(broker, topic_name):
    """A consumer parked in a long-poll Fetch (fetch.wait.max.ms=5000) gets a new record well before the wait
    runs out: the broker must answer the pending Fetch when data arrives, not when its timer fires."""
    create_topic(broker, topic_name, partitions=1)
    consumer = Consumer({
        "bootstrap.servers": broker.bootstrap,
        "group.id": "sluice-compat-unused",
        "enable.auto.commit": False,
        "fetch.wait.max.ms": 5000,
        "fetch.min.bytes": 1,
    })
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
    try:
        consumer.assign([TopicPartition(topic_name, 0, OFFSET_BEGINNING)])
        # Let the consumer reach the (empty) end and park its Fetch.
        assert consumer.poll(1.5) is None
        latencies = []
        for i in range(3):
            producer.produce(topic_name, value=b"wake %d" % i, partition=0)
            assert producer.flush(TIMEOUT_S) == 0
            sent = time.monotonic()
            msg = None
            while msg is None and time.monotonic() - sent < 10:
                msg = consumer.poll(0.05)
            assert msg is not None and msg.error() is None, msg and msg.error()
            assert (msg.offset(), msg.value()) == (i, b"wake %d" % i)
            latencies.append(time.monotonic() - sent)
            # No further record, and time for the next Fetch to park before the next produce.
            assert consumer.poll(0.5) is None
        assert max(latencies) < 2.5, f"delivery latencies {latencies}: the parked Fetch did not wake on new data"
    finally:
        consumer.close()
