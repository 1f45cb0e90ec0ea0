"""KIP-848 consumer groups (``group.protocol: consumer``) with confluent-kafka (librdkafka 2.12 or later), the core
story of compat-tests/tests/consumer_protocol.rs, smaller: two members split a topic, one leaves and the other takes
over from its commits with no record read twice or lost; the AdminClient describes a CONSUMER group; a new member
resumes at the group's commits after a broker restart.

The broker hands members a 500 ms heartbeat interval (with KIP-848 a member learns of a new assignment only from a
heartbeat; Kafka's default is 5 s). Members are polled in turn from the test thread and commit each record
synchronously before the next poll. Waits poll a condition within a deadline.
"""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, ConsumerGroupType, KafkaException, Producer

from conftest import admin_client, create_topic, wait_until

pytestmark = pytest.mark.broker_config(
    group_consumer_heartbeat_interval_ms=500, group_consumer_min_heartbeat_interval_ms=500)

TIMEOUT_S = 45
PARTITIONS = 4


def member(broker, group: str, name: str) -> Consumer:
    return Consumer({
        "bootstrap.servers": broker.bootstrap,
        "group.id": group,
        "group.protocol": "consumer",
        "client.id": f"py-consumer-protocol-{name}",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    })


def produce(broker, topic: str, ids: range) -> None:
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for i in ids:
        producer.produce(topic, key=f"k{i}", value=f"m{i}", partition=i % PARTITIONS)
    assert producer.flush(30) == 0, "every record delivered"


def poll_all(members: list[Consumer], seen: list[str]) -> None:
    """Polls each member once, briefly; a record is committed before the member is polled again."""
    for m in members:
        msg = m.poll(0.05)
        if msg is None or msg.error():
            continue
        seen.append(msg.value().decode())
        deadline = time.monotonic() + 10
        while True:
            try:
                m.commit(message=msg, asynchronous=False)
                break
            except KafkaException:
                # The member's epoch moved under the commit (a rebalance in flight): retry, as applications do.
                assert time.monotonic() < deadline, f"could not commit {msg.partition()}@{msg.offset()}"


def settle(members: list[Consumer], seen: list[str], sizes: list[int], expected: int, what: str) -> None:
    def done() -> bool:
        poll_all(members, seen)
        return [len(m.assignment()) for m in members] == sizes and len(set(seen)) >= expected

    wait_until(done, TIMEOUT_S, interval=0, message=f"{what}: assignment sizes {sizes} and {expected} records")
    twice = sorted({v for v in seen if seen.count(v) > 1})
    assert not twice, f"records read more than once: {twice}"


def test_members_split_a_topic_and_one_takes_over_when_the_other_leaves(broker, topic_name):
    create_topic(broker, topic_name, PARTITIONS)
    group = f"g-{topic_name}"
    produce(broker, topic_name, range(0, 40))
    a, b = member(broker, group, "a"), member(broker, group, "b")
    seen: list[str] = []
    try:
        a.subscribe([topic_name])
        b.subscribe([topic_name])
        settle([a, b], seen, [2, 2], 40, "two members")
        assert {(tp.topic, tp.partition) for tp in a.assignment() + b.assignment()} == {
            (topic_name, p) for p in range(PARTITIONS)}

        admin = admin_client(broker)
        description = admin.describe_consumer_groups([group])[group].result(TIMEOUT_S)
        assert description.type == ConsumerGroupType.CONSUMER, description
        assert len(description.members) == 2, description
        assert sorted(len(m.assignment.topic_partitions) for m in description.members) == [2, 2], description

        b.close()
        produce(broker, topic_name, range(40, 60))
        settle([a], seen, [4], 60, "after b left")
        assert len(set(seen)) == 60
    finally:
        a.close()


@pytest.mark.own_broker
def test_a_new_member_resumes_at_the_commits_after_a_broker_restart(broker, topic_name):
    create_topic(broker, topic_name, PARTITIONS)
    group = f"g-{topic_name}"
    produce(broker, topic_name, range(0, 20))
    first = member(broker, group, "first")
    seen: list[str] = []
    first.subscribe([topic_name])
    settle([first], seen, [4], 20, "the first member")
    first.close()

    broker.restart()
    produce(broker, topic_name, range(20, 30))
    second = member(broker, group, "second")
    try:
        second.subscribe([topic_name])
        settle([second], seen, [4], 30, "the second member after the restart")
        assert sorted(seen[20:], key=lambda v: int(v[1:])) == [f"m{i}" for i in range(20, 30)], (
            "the second member read only what was produced after the first member's commits")
    finally:
        second.close()
