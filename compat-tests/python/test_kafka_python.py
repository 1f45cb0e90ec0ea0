"""kafka-python (PyPI, pure Python, 2.x) against Sluice.

kafka-python infers a broker version from the ApiVersions ranges and then picks each request's version per API
(capped by what it implements), so this exercises a different negotiation path and a different record-batch
encoder/decoder than librdkafka. Consumers use `group_id=None` + `assign()`: Sluice has no consumer groups yet.
"""

from __future__ import annotations

import random
import time

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka import codec as kcodec
from kafka.admin import NewTopic
from kafka.errors import KafkaTimeoutError, TopicAlreadyExistsError, UnknownTopicOrPartitionError

from conftest import wait_until

PARTITIONS = 2
MESSAGES = 1500
TIMEOUT_S = 60
# kafka-python looks for each codec's package at import and silently goes without it. requirements.txt installs
# them all, so a missing one fails (a skip would count as a pass in CI). Per codec: kafka-python's check, the
# package it needs, and its encoder and decoder.
CODECS = {
    "gzip": (kcodec.has_gzip, "the standard library's gzip", kcodec.gzip_encode, kcodec.gzip_decode),
    "snappy": (kcodec.has_snappy, "python-snappy (on cramjam)", kcodec.snappy_encode, kcodec.snappy_decode),
    "lz4": (kcodec.has_lz4, "lz4", kcodec.lz4_encode, kcodec.lz4_decode),
    "zstd": (kcodec.has_zstd, "zstandard", kcodec.zstd_encode, kcodec.zstd_decode),
}


def assert_codec_installed(codec: str) -> None:
    available, package, _, _ = CODECS[codec]
    assert available(), (f"kafka-python cannot use {codec}: {package} is not installed "
                         "(compat-tests/python/requirements.txt)")


ERR_NONE = 0


def admin_client(broker) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=30_000,
                            client_id="sluice-compat-admin")


def topic_errors(response) -> dict[str, int]:
    """{topic: error_code} from a CreateTopics or DeleteTopics response of any version."""
    obj = response.to_object()
    rows = obj.get("topic_errors") or obj.get("topic_error_codes") or obj.get("responses") or []
    return {r.get("topic") or r.get("name"): r["error_code"] for r in rows}


def create_topic(broker, topic: str, partitions: int = PARTITIONS) -> None:
    """CreateTopics through the admin client, then wait until a client's metadata shows every partition.

    (The wait uses the consumer's metadata path, so that the admin client's own Metadata handling is tested by
    test_admin_list_describe_delete alone.)"""
    admin = admin_client(broker)
    try:
        resp = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)],
                                   timeout_ms=10_000)
        assert topic_errors(resp) == {topic: ERR_NONE}, resp
    finally:
        admin.close()
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None, enable_auto_commit=False)
    try:
        want = set(range(partitions))
        wait_until(lambda: consumer.partitions_for_topic(topic) == want, 20, 0.1, f"{topic} partitions {want}")
    finally:
        consumer.close()


def make_records(n: int, seed: int) -> list[dict]:
    rnd = random.Random(seed)
    base_ts = int(time.time() * 1000) - 60_000
    out = []
    for i in range(n):
        key = None if i % 13 == 0 else f"k{i % 40}".encode()
        value = None if i % 97 == 0 and key is not None else (f"value {i} " + "data " * rnd.randint(0, 30)).encode() + rnd.randbytes(3)
        headers = [] if i % 4 == 0 else [("i", str(i).encode()), ("raw", rnd.randbytes(5))]
        if i % 9 == 0:
            # kafka-python's producer only accepts bytes header values (no NULL), but repeated names are fine.
            headers += [("dup", b"a"), ("dup", b""), ("empty-ish", b"")]
        out.append({"key": key, "value": value, "headers": headers, "timestamp": base_ts + i})
    return out


def produce_records(broker, topic: str, records: list[dict], **conf) -> dict[tuple[int, int], dict]:
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=10, acks="all",
                             request_timeout_ms=30_000, **conf)
    try:
        futures = [
            (producer.send(topic, value=r["value"], key=r["key"], headers=r["headers"], timestamp_ms=r["timestamp"]), r)
            for r in records
        ]
        producer.flush(timeout=TIMEOUT_S)
        placed = {}
        for fut, r in futures:
            md = fut.get(timeout=TIMEOUT_S)
            placed[(md.partition, md.offset)] = r
        assert len(placed) == len(records), "two records were given the same offset"
        return placed
    finally:
        producer.close(timeout=10)


def consume_records(broker, topic: str, partitions: int, expected: int) -> dict[tuple[int, int], object]:
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None, enable_auto_commit=False,
                             auto_offset_reset="none", fetch_max_wait_ms=100, request_timeout_ms=30_000)
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning()
        got = {}
        deadline = time.monotonic() + TIMEOUT_S
        while len(got) < expected:
            assert time.monotonic() < deadline, f"timed out with {len(got)}/{expected} records"
            for tp, recs in consumer.poll(timeout_ms=500, max_records=1000).items():
                for rec in recs:
                    pos = (rec.partition, rec.offset)
                    assert pos not in got, f"duplicate delivery of {pos}"
                    got[pos] = rec
        # Nothing beyond what was produced.
        assert not any(consumer.poll(timeout_ms=300).values())
        return got
    finally:
        consumer.close()


def compare(placed, got, topic):
    assert sorted(got) == sorted(placed)
    for pos, r in placed.items():
        rec = got[pos]
        assert rec.topic == topic
        assert rec.key == r["key"], pos
        assert rec.value == r["value"], pos
        assert list(rec.headers) == r["headers"], pos
        assert rec.timestamp == r["timestamp"], pos
        assert rec.timestamp_type == 0, pos  # CreateTime


@pytest.mark.parametrize("codec", sorted(CODECS))
def test_codec_package_round_trips(codec):
    """Each codec's package is installed and works: kafka-python's own encoder and decoder round-trip a payload
    (python-snappy without cramjam, say, imports but cannot compress)."""
    assert_codec_installed(codec)
    _, _, encode, decode = CODECS[codec]
    payload = b"sluice compat codec check; " * 200
    encoded = encode(payload)
    assert len(encoded) < len(payload), f"{codec} did not compress a repetitive payload"
    assert decode(encoded) == payload


@pytest.mark.parametrize("codec", [None, "gzip", "snappy", "lz4", "zstd"])
def test_roundtrip_every_field(broker, topic_name, codec):
    if codec is not None:
        assert_codec_installed(codec)
    create_topic(broker, topic_name)
    records = make_records(MESSAGES, seed=len(codec or ""))
    placed = produce_records(broker, topic_name, records, compression_type=codec)
    for p in range(PARTITIONS):
        offsets = sorted(o for (pp, o) in placed if pp == p)
        assert offsets == list(range(len(offsets))), f"partition {p}: offsets not contiguous from 0"
    compare(placed, consume_records(broker, topic_name, PARTITIONS, MESSAGES), topic_name)


def test_beginning_and_end_offsets(broker, topic_name):
    create_topic(broker, topic_name, partitions=3)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=5)
    try:
        for i in range(25):
            producer.send(topic_name, value=b"%d" % i, partition=i % 3)
        producer.flush(timeout=TIMEOUT_S)
    finally:
        producer.close(timeout=10)
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic_name, p) for p in range(3)]
        assert consumer.beginning_offsets(tps) == {tp: 0 for tp in tps}
        assert consumer.end_offsets(tps) == {tps[0]: 9, tps[1]: 8, tps[2]: 8}
        assert consumer.partitions_for_topic(topic_name) == {0, 1, 2}
    finally:
        consumer.close()


def test_offsets_for_times(broker, topic_name):
    create_topic(broker, topic_name, partitions=1)
    base = 1_700_000_000_000
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=5, batch_size=200)
    try:
        for i in range(30):
            producer.send(topic_name, value=b"%d" % i, partition=0, timestamp_ms=base + 10 * i)
        producer.flush(timeout=TIMEOUT_S)
    finally:
        producer.close(timeout=10)
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None, enable_auto_commit=False)
    try:
        tp = TopicPartition(topic_name, 0)
        for ts, want in {base - 1: 0, base + 55: 6, base + 290: 29}.items():
            res = consumer.offsets_for_times({tp: ts})[tp]
            assert res is not None and res.offset == want, (ts, res)
            assert res.timestamp == base + 10 * want
        assert consumer.offsets_for_times({tp: base + 291})[tp] is None
    finally:
        consumer.close()


def test_seek_to_offset_and_fetch_limits(broker, topic_name):
    create_topic(broker, topic_name, partitions=1)
    big = [bytes([i]) * 300_000 for i in range(6)]  # several fetches' worth with a small max_partition_fetch_bytes
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=0, max_request_size=2_000_000)
    try:
        for v in big:
            producer.send(topic_name, value=v, partition=0)
        producer.flush(timeout=TIMEOUT_S)
    finally:
        producer.close(timeout=10)
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None, enable_auto_commit=False,
                             max_partition_fetch_bytes=100_000, fetch_max_bytes=150_000)
    try:
        tp = TopicPartition(topic_name, 0)
        consumer.assign([tp])
        consumer.seek(tp, 2)
        got = []
        deadline = time.monotonic() + TIMEOUT_S
        while len(got) < 4:
            assert time.monotonic() < deadline, f"timed out with {len(got)} of 4 records"
            for recs in consumer.poll(timeout_ms=500).values():
                got += [(r.offset, r.value) for r in recs]
        # A record larger than the fetch limits still comes back (KIP-74: at least one record batch).
        assert got == [(i, big[i]) for i in range(2, 6)]
    finally:
        consumer.close()


def test_admin_list_describe_delete(broker, topic_name):
    create_topic(broker, topic_name)
    admin = admin_client(broker)
    try:
        assert topic_name in admin.list_topics()
        (t,) = admin.describe_topics([topic_name])
        assert t["topic"] == topic_name and t["error_code"] == ERR_NONE, t
        assert sorted(p["partition"] for p in t["partitions"]) == list(range(PARTITIONS))
        assert all(p["leader"] >= 0 for p in t["partitions"]), t
        cluster = admin.describe_cluster()
        assert len(cluster["brokers"]) == 1
        b = cluster["brokers"][0]
        assert (b["host"], b["port"]) == ("127.0.0.1", broker.port)

        # The admin client raises the per-topic error code as an exception.
        with pytest.raises(TopicAlreadyExistsError):
            admin.create_topics([NewTopic(topic_name, num_partitions=1, replication_factor=1)])

        resp = admin.delete_topics([topic_name], timeout_ms=10_000)
        assert topic_errors(resp) == {topic_name: ERR_NONE}
        wait_until(lambda: topic_name not in admin.list_topics(), 20, 0.1, f"{topic_name} deleted")
        with pytest.raises(UnknownTopicOrPartitionError):
            admin.delete_topics([topic_name], timeout_ms=10_000)
    finally:
        admin.close()


def test_producer_auto_creates_topic(broker, topic_name):
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, max_block_ms=20_000)
    try:
        md = producer.send(topic_name, key=b"k", value=b"v").get(timeout=TIMEOUT_S)
    except KafkaTimeoutError as e:
        raise AssertionError(f"auto-creation of {topic_name} on produce did not happen: {e}") from e
    finally:
        producer.close(timeout=10)
    assert (md.topic, md.partition, md.offset) == (topic_name, 0, 0)
    got = consume_records(broker, topic_name, 1, 1)
    assert (got[(0, 0)].key, got[(0, 0)].value) == (b"k", b"v")
