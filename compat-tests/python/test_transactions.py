"""Transactions (#15) with confluent-kafka: commit and abort as read_committed and read_uncommitted consumers see
them, a consume-transform-produce loop with send_offsets_to_transaction, and fencing by a second producer with the
same transactional.id. The librdkafka (Rust) suite in compat-tests/tests/transactions.rs goes further; this file
stays lean, as it runs against both Sluice and Kafka in CI.

Every wait polls a condition within a deadline. A consumer has read everything once its position reaches the high
watermark, which counts the markers: consumers skip markers and aborted records, and move past them.
"""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition

from conftest import create_topic, wait_until

pytestmark = pytest.mark.broker_config(group_initial_rebalance_delay_ms=0)

TIMEOUT_S = 30


def txn_producer(broker, txn_id: str) -> Producer:
    producer = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": txn_id,
                         "message.timeout.ms": 30000})
    producer.init_transactions(TIMEOUT_S)
    return producer


def consumer(broker, isolation: str, group: str = "txn-reader", **conf) -> Consumer:
    return Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "isolation.level": isolation,
                     "enable.auto.commit": False, "auto.offset.reset": "earliest", **conf})


def settled_ends(broker, topic: str, partitions: int) -> list[int]:
    """High watermarks once each equals the last stable offset: Kafka answers EndTxn before its markers are
    written, so a partition may lack its marker for a moment after commit or abort returned."""
    committed, uncommitted = consumer(broker, "read_committed"), consumer(broker, "read_uncommitted")
    try:
        def ends():
            lso = [committed.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)]
            high = [uncommitted.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                    for p in range(partitions)]
            return high if lso == high else None
        return wait_until(ends, TIMEOUT_S, message=f"{topic}: last stable offsets to reach the high watermarks")
    finally:
        committed.close()
        uncommitted.close()


def read_to_end(broker, topic: str, partitions: int, isolation: str) -> list[tuple[int, str]]:
    """(partition, value) of everything `isolation` returns from the beginning to the high watermarks."""
    ends = settled_ends(broker, topic, partitions)
    c = consumer(broker, isolation)
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    seen: list[tuple[int, str]] = []
    try:
        def at_end():
            m = c.poll(0.05)
            if m is not None:
                assert m.error() is None, m.error()
                seen.append((m.partition(), m.value().decode()))
            positions = [tp.offset for tp in c.position([TopicPartition(topic, p) for p in range(partitions)])]
            return all(at >= end for at, end in zip(positions, ends))
        wait_until(at_end, TIMEOUT_S, interval=0, message=f"{isolation} consumer to reach {ends}; read {seen}")
    finally:
        c.close()
    return seen


def test_commit_and_abort_as_read_committed_and_read_uncommitted_see_them(broker, topic_name):
    create_topic(broker, topic_name, 2)
    producer = txn_producer(broker, f"txn-{uuid.uuid4()}")

    producer.begin_transaction()
    for i in range(10):
        producer.produce(topic_name, f"aborted-{i}", partition=i % 2)
    producer.flush(TIMEOUT_S)
    producer.abort_transaction(TIMEOUT_S)
    producer.begin_transaction()
    for i in range(10):
        producer.produce(topic_name, f"committed-{i}", partition=i % 2)
    producer.commit_transaction(TIMEOUT_S)

    committed = read_to_end(broker, topic_name, 2, "read_committed")
    assert sorted(committed) == sorted((i % 2, f"committed-{i}") for i in range(10))
    everything = read_to_end(broker, topic_name, 2, "read_uncommitted")
    assert sorted(everything) == sorted([(i % 2, f"aborted-{i}") for i in range(10)]
                                        + [(i % 2, f"committed-{i}") for i in range(10)])
    # In order within each partition, the aborted transaction first.
    assert [v for p, v in everything if p == 0] == [f"aborted-{i}" for i in range(0, 10, 2)] + \
        [f"committed-{i}" for i in range(0, 10, 2)]


def test_send_offsets_to_transaction_loop_processes_each_record_once(broker, topic_name):
    source, sink, group = f"{topic_name}-in", f"{topic_name}-out", f"{topic_name}-group"
    create_topic(broker, source, 2)
    create_topic(broker, sink, 2)
    plain = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(20):
        plain.produce(source, f"in-{i}", partition=i % 2)
    assert plain.flush(TIMEOUT_S) == 0

    producer = txn_producer(broker, f"txn-{uuid.uuid4()}")
    worker = consumer(broker, "read_committed", group=group)
    worker.subscribe([source])
    done = 0
    deadline = time.monotonic() + 60
    while done < 20:
        assert time.monotonic() < deadline, f"stuck after {done} of 20 records"
        batch = worker.consume(num_messages=5, timeout=0.5)
        if not batch:
            continue
        producer.begin_transaction()
        offsets: dict[int, int] = {}
        for m in batch:
            assert m.error() is None, m.error()
            producer.produce(sink, f"out-{m.value().decode()}", partition=m.partition())
            offsets[m.partition()] = m.offset() + 1
        producer.send_offsets_to_transaction([TopicPartition(source, p, o) for p, o in offsets.items()],
                                             worker.consumer_group_metadata(), TIMEOUT_S)
        producer.commit_transaction(TIMEOUT_S)
        done += len(batch)
    worker.close()

    output = read_to_end(broker, sink, 2, "read_committed")
    assert sorted(v for _, v in output) == sorted(f"out-in-{i}" for i in range(20))
    checker = consumer(broker, "read_committed", group=group)
    committed = checker.committed([TopicPartition(source, p) for p in range(2)], timeout=TIMEOUT_S)
    checker.close()
    assert [tp.offset for tp in committed] == [10, 10], "the group's offsets: the end of the input"


def test_second_producer_with_the_same_transactional_id_fences_the_first(broker, topic_name):
    create_topic(broker, topic_name, 1)
    txn_id = f"txn-{uuid.uuid4()}"
    zombie = txn_producer(broker, txn_id)
    zombie.begin_transaction()
    for i in range(3):
        zombie.produce(topic_name, f"zombie-{i}", partition=0)
    zombie.flush(TIMEOUT_S)

    successor = txn_producer(broker, txn_id)
    with pytest.raises(KafkaException) as raised:
        zombie.commit_transaction(TIMEOUT_S)
    error = raised.value.args[0]
    assert error.fatal(), error
    assert error.code() == KafkaError._FENCED, error

    successor.begin_transaction()
    successor.produce(topic_name, "successor", partition=0)
    successor.commit_transaction(TIMEOUT_S)
    assert read_to_end(broker, topic_name, 1, "read_committed") == [(0, "successor")]
