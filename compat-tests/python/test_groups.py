"""Consumer groups (classic protocol) against Sluice with confluent-kafka, kafka-python and kcat.

- confluent-kafka: members join, split the partitions and commit; a new member resumes at the committed offsets
  after a broker restart; AdminClient list/describe/delete groups and list/alter group offsets.
- kafka-python: KafkaConsumer with a group_id joins, commits and a new consumer resumes; two members split the
  partitions; KafkaAdminClient's group calls.
- kcat: the balanced consumer (-G) reads a topic and exits at the end (-e), committing on the way out, so a second
  run reads only what was produced since.

Every broker here accepts short session timeouts (group_min_session_timeout_ms: 500), so rebalances take well under
a second. Waits poll a condition within a deadline.
"""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
from confluent_kafka import (
    OFFSET_INVALID,
    Consumer,
    ConsumerGroupState,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient
from kafka import ConsumerRebalanceListener, KafkaAdminClient, KafkaConsumer
from kafka import TopicPartition as KTopicPartition

from conftest import admin_client, create_topic, is_reference_kafka, wait_until

pytestmark = pytest.mark.broker_config(group_min_session_timeout_ms=500, group_initial_rebalance_delay_ms=0)

TIMEOUT_S = 30
KCAT = shutil.which("kcat") or shutil.which("kafkacat")
PARTITIONS = 3
PER_PARTITION = 20


# --------------------------------------------------------------------------------------------------- helpers


def produce(broker, topic: str, per_partition: int = PER_PARTITION, partitions: int = PARTITIONS,
            start: int = 0) -> dict[tuple[int, int], bytes]:
    """`per_partition` messages into each partition; returns {(partition, offset): value}."""
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5, "acks": "all"})
    placed: dict[tuple[int, int], bytes] = {}
    errors = []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(err)
        else:
            placed[(msg.partition(), msg.offset())] = msg.value()

    for i in range(start, start + per_partition * partitions):
        producer.produce(topic, value=f"v{i}".encode(), partition=i % partitions, on_delivery=on_delivery)
    assert producer.flush(TIMEOUT_S) == 0
    assert not errors, errors
    assert len(placed) == per_partition * partitions
    return placed


def group_consumer(broker, group: str, **conf) -> Consumer:
    """A confluent-kafka group member that commits only when told; offsets are stored as poll returns messages."""
    return Consumer({
        "bootstrap.servers": broker.bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": False,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 300,
        # Sent as the rebalance timeout: bounds a rebalance that waits for a member that never rejoins.
        "max.poll.interval.ms": 20000,
        **conf,
    })


def consume_exactly(consumer: Consumer, n: int, timeout: float = TIMEOUT_S) -> list:
    """Polls one message at a time until `n` arrived (so exactly `n` offsets are stored); fails on any error."""
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < n:
        assert time.monotonic() < deadline, f"timed out with {len(got)} of {n} messages"
        msg = consumer.poll(0.2)
        if msg is None:
            continue
        assert msg.error() is None, msg.error()
        got.append(msg)
    return got


def offsets_by_partition(messages) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for m in messages:
        out.setdefault(m.partition(), []).append(m.offset())
    return out


def commit_on_revoke(consumer: Consumer, _partitions) -> None:
    """Commits what was processed before partitions move, so no other member reads it again."""
    try:
        consumer.commit(asynchronous=False)
    except KafkaException as e:
        if e.args[0].code() != KafkaError._NO_OFFSET:
            raise


def assignment_of(consumer) -> set[int]:
    return {tp.partition for tp in consumer.assignment()}


def disjoint_cover(assignments: list[set[int]], partitions: int) -> bool:
    union: set[int] = set()
    for a in assignments:
        if not a or union & a:
            return False
        union |= a
    return union == set(range(partitions))


def describe(admin: AdminClient, group: str):
    return admin.describe_consumer_groups([group], request_timeout=TIMEOUT_S)[group].result()


def listed_groups(admin: AdminClient, **kwargs) -> dict:
    result = admin.list_consumer_groups(request_timeout=TIMEOUT_S, **kwargs).result()
    assert not result.errors, result.errors
    return {g.group_id: g for g in result.valid}


def group_offsets(admin: AdminClient, group: str) -> dict[tuple[str, int], int]:
    result = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)],
                                               request_timeout=TIMEOUT_S)[group].result()
    for tp in result.topic_partitions:
        assert tp.error is None, tp
    return {(tp.topic, tp.partition): tp.offset for tp in result.topic_partitions}


# --------------------------------------------------------------------------------------------- confluent-kafka


@pytest.mark.own_broker
def test_confluent_group_commit_and_resume_across_restart(broker, topic_name):
    create_topic(broker, topic_name, PARTITIONS)
    placed = produce(broker, topic_name)
    group = f"g-{topic_name}"

    first = group_consumer(broker, group, **{"client.id": "first"})
    first.subscribe([topic_name])
    read = consume_exactly(first, 25)
    positions = {p: max(offsets) + 1 for p, offsets in offsets_by_partition(read).items()}
    first.commit(asynchronous=False)
    committed = first.committed([TopicPartition(topic_name, p) for p in range(PARTITIONS)], timeout=10)
    assert {tp.partition: tp.offset for tp in committed} == {
        p: positions.get(p, OFFSET_INVALID) for p in range(PARTITIONS)}
    first.close()

    broker.restart()

    second = group_consumer(broker, group, **{"client.id": "second"})
    try:
        second.subscribe([topic_name])
        rest = consume_exactly(second, PARTITIONS * PER_PARTITION - 25)
        by_partition = offsets_by_partition(rest)
        for p in range(PARTITIONS):
            assert by_partition.get(p, []) == list(range(positions.get(p, 0), PER_PARTITION)), (
                f"partition {p} resumes at its committed offset")
        for m in rest:
            assert m.value() == placed[(m.partition(), m.offset())]
    finally:
        second.close()


def test_confluent_members_split_partitions_and_admin_apis(broker, topic_name):
    partitions = 4
    create_topic(broker, topic_name, partitions)
    produce(broker, topic_name, per_partition=10, partitions=partitions)
    group = f"g-{topic_name}"
    admin = admin_client(broker)
    members = [group_consumer(broker, group, **{"client.id": f"member-{i}"}) for i in (1, 2)]
    closed = False
    try:
        for m in members:
            m.subscribe([topic_name], on_revoke=commit_on_revoke)
        seen: set[tuple[int, int]] = set()

        def settled():
            for m in members:
                msg = m.poll(0.05)
                if msg is not None:
                    assert msg.error() is None, msg.error()
                    key = (msg.partition(), msg.offset())
                    assert key not in seen, f"{key} delivered twice"
                    seen.add(key)
            return len(seen) == 40 and disjoint_cover([assignment_of(m) for m in members], partitions)

        wait_until(settled, TIMEOUT_S, 0, "two members splitting 4 partitions and reading all 40 messages")
        for m in members:
            m.commit(asynchronous=False)

        # ListGroups, with and without a state filter.
        assert listed_groups(admin)[group].state == ConsumerGroupState.STABLE
        assert not listed_groups(admin)[group].is_simple_consumer_group
        assert group in listed_groups(admin, states={ConsumerGroupState.STABLE})
        assert group not in listed_groups(admin, states={ConsumerGroupState.EMPTY})

        # DescribeGroups: real members, their assignments, the chosen assignor.
        d = describe(admin, group)
        assert d.group_id == group
        assert d.state == ConsumerGroupState.STABLE
        assert not d.is_simple_consumer_group
        assert d.partition_assignor == "range"
        assert sorted(m.client_id for m in d.members) == ["member-1", "member-2"]
        assert all(m.host == "/127.0.0.1" for m in d.members), [m.host for m in d.members]
        assert all(m.member_id.startswith(m.client_id) for m in d.members)
        assert all(m.group_instance_id is None for m in d.members)
        described = [{tp.partition for tp in m.assignment.topic_partitions} for m in d.members]
        assert all(tp.topic == topic_name for m in d.members for tp in m.assignment.topic_partitions)
        assert disjoint_cover(described, partitions), described
        by_client = {m.client_id: {tp.partition for tp in m.assignment.topic_partitions} for m in d.members}
        assert by_client == {f"member-{i}": assignment_of(c) for i, c in zip((1, 2), members)}

        assert group_offsets(admin, group) == {(topic_name, p): 10 for p in range(partitions)}

        # A group with members can be neither deleted nor have its offsets altered from outside.
        with pytest.raises(KafkaException) as refused:
            admin.delete_consumer_groups([group], request_timeout=TIMEOUT_S)[group].result()
        assert refused.value.args[0].code() == KafkaError.NON_EMPTY_GROUP
        altered = admin.alter_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group, [TopicPartition(topic_name, 0, 1)])],
            request_timeout=TIMEOUT_S)[group].result()
        assert [tp.error.code() if tp.error else None for tp in altered.topic_partitions] == [
            KafkaError.UNKNOWN_MEMBER_ID], altered.topic_partitions
        assert group_offsets(admin, group)[(topic_name, 0)] == 10

        for m in members:
            m.close()
        closed = True
        wait_until(lambda: describe(admin, group).state == ConsumerGroupState.EMPTY, TIMEOUT_S, 0.1,
                   "group Empty after both members closed")
        assert describe(admin, group).members == []
        assert group in listed_groups(admin, states={ConsumerGroupState.EMPTY})

        # An empty group's offsets can be altered; a new member starts there.
        result = admin.alter_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group, [TopicPartition(topic_name, 0, 3),
                                                  TopicPartition(topic_name, 1, 5)])],
            request_timeout=TIMEOUT_S)[group].result()
        assert all(tp.error is None for tp in result.topic_partitions), result.topic_partitions
        assert group_offsets(admin, group) == {(topic_name, 0): 3, (topic_name, 1): 5,
                                               (topic_name, 2): 10, (topic_name, 3): 10}
        resumed = group_consumer(broker, group)
        try:
            resumed.subscribe([topic_name])
            got = offsets_by_partition(consume_exactly(resumed, 7 + 5))
            assert got == {0: list(range(3, 10)), 1: list(range(5, 10))}
        finally:
            resumed.close()

        # Deleting the empty group removes it and its offsets.
        assert admin.delete_consumer_groups([group], request_timeout=TIMEOUT_S)[group].result() is None
        assert group not in listed_groups(admin)
        assert group_offsets(admin, group) == {}
        with pytest.raises(KafkaException) as gone:
            admin.delete_consumer_groups([group], request_timeout=TIMEOUT_S)[group].result()
        assert gone.value.args[0].code() == KafkaError.GROUP_ID_NOT_FOUND
    finally:
        if not closed:
            for m in members:
                m.close()


def test_confluent_regex_subscription_picks_up_new_topic(broker):
    """Members subscribed by pattern rejoin with a new subscription when a matching topic appears; the rebalance
    that follows assigns its partitions and the group reads what is produced there."""
    prefix = f"rx{int(time.time() * 1000) % 10**9}"
    first, second = f"{prefix}-a", f"{prefix}-b"
    create_topic(broker, first, 2)
    members = [group_consumer(broker, f"g-{prefix}", **{"client.id": f"rx-{i}",
                                                         "topic.metadata.refresh.interval.ms": 300})
               for i in (1, 2)]
    try:
        for m in members:
            m.subscribe([f"^{prefix}-.*"], on_revoke=commit_on_revoke)
        seen: list[tuple[str, int, int]] = []

        def owned_cover(topics: dict[str, int]):
            for m in members:
                msg = m.poll(0.05)
                if msg is not None:
                    assert msg.error() is None, msg.error()
                    seen.append((msg.topic(), msg.partition(), msg.offset()))
            owned = [{(tp.topic, tp.partition) for tp in m.assignment()} for m in members]
            want = {(t, p) for t, n in topics.items() for p in range(n)}
            return all(owned) and not (owned[0] & owned[1]) and owned[0] | owned[1] == want

        wait_until(lambda: owned_cover({first: 2}), TIMEOUT_S, 0, f"{first} split between the members")
        create_topic(broker, second, 2)
        wait_until(lambda: owned_cover({first: 2, second: 2}), TIMEOUT_S, 0, f"{second} assigned too")
        placed = produce(broker, second, per_partition=3, partitions=2)
        wait_until(lambda: owned_cover({first: 2, second: 2}) and len(seen) >= len(placed), TIMEOUT_S, 0,
                   f"messages of {second} consumed")
        assert sorted(seen) == sorted((second, p, o) for p, o in placed)
    finally:
        for m in members:
            m.close()


@pytest.mark.own_broker
def test_confluent_members_rejoin_after_broker_restart(broker, topic_name):
    """Membership is not persisted: after a restart the members find themselves unknown, rejoin, and carry on from
    the committed offsets. Nothing is lost, and only a message whose commit was not acknowledged is read twice."""
    partitions = 4
    create_topic(broker, topic_name, partitions)
    group = f"g-{topic_name}"
    uncommitted: set[tuple[int, int]] = set()
    seen: list[tuple[int, int]] = []

    def commit_if_possible(consumer, _partitions):
        try:
            consumer.commit(asynchronous=False)
        except KafkaException:
            pass  # _NO_OFFSET, or the member was already unknown after the restart

    members = [group_consumer(broker, group, **{"client.id": f"restart-{i}"}) for i in (1, 2)]
    try:
        for m in members:
            m.subscribe([topic_name], on_revoke=commit_if_possible, on_lost=lambda c, p: None)

        def step(expected: int) -> bool:
            for m in members:
                msg = m.poll(0.05)
                if msg is None:
                    continue
                if msg.error() is not None:
                    # Connection errors while the broker is down are expected; anything fatal is not.
                    assert not msg.error().fatal(), msg.error()
                    continue
                pos = (msg.partition(), msg.offset())
                seen.append(pos)
                try:
                    m.commit(message=msg, asynchronous=False)
                except KafkaException:
                    uncommitted.add(pos)
            return len(set(seen)) >= expected and disjoint_cover([assignment_of(m) for m in members], partitions)

        before = produce(broker, topic_name, per_partition=10, partitions=partitions)
        wait_until(lambda: step(len(before)), TIMEOUT_S, 0, "first batch consumed by two members")
        broker.restart()
        after = produce(broker, topic_name, per_partition=10, partitions=partitions, start=1000)
        placed = {**before, **after}
        wait_until(lambda: step(len(placed)), TIMEOUT_S, 0, "second batch consumed after the restart")
        assert set(seen) == set(placed)
        twice = {pos for pos in seen if seen.count(pos) > 1}
        assert twice <= uncommitted, f"read twice although committed: {sorted(twice - uncommitted)}"
        assert group_offsets(admin_client(broker), group) == {(topic_name, p): 20 for p in range(partitions)}
    finally:
        for m in members:
            m.close()


def test_confluent_static_member_is_described_with_its_instance_id(broker, topic_name):
    create_topic(broker, topic_name, PARTITIONS)
    group = f"g-{topic_name}"
    instance = f"instance-{topic_name}"
    member = group_consumer(broker, group, **{"client.id": "static", "group.instance.id": instance})
    try:
        member.subscribe([topic_name])
        wait_until(lambda: member.poll(0.05) is None and assignment_of(member) == set(range(PARTITIONS)),
                   TIMEOUT_S, 0, "the static member assigned every partition")
        d = describe(admin_client(broker), group)
        assert d.state == ConsumerGroupState.STABLE
        assert [(m.client_id, m.group_instance_id) for m in d.members] == [("static", instance)]
    finally:
        member.close()


def test_confluent_group_whose_members_left_is_still_a_consumer_group(broker, topic_name):
    """Kafka keeps the protocol type of a group whose members all left (only the protocol name is cleared), so
    admin clients still see a consumer group, not a "simple" one (whose protocol type is empty)."""
    create_topic(broker, topic_name, PARTITIONS)
    group = f"g-{topic_name}"
    member = group_consumer(broker, group)
    try:
        member.subscribe([topic_name])
        wait_until(lambda: member.poll(0.05) is None and assignment_of(member) == set(range(PARTITIONS)),
                   TIMEOUT_S, 0, "the member assigned every partition")
    finally:
        member.close()
    admin = admin_client(broker)
    wait_until(lambda: describe(admin, group).state == ConsumerGroupState.EMPTY, TIMEOUT_S, 0.1, "group Empty")
    assert not describe(admin, group).is_simple_consumer_group
    assert not listed_groups(admin)[group].is_simple_consumer_group


def test_confluent_simple_consumer_group_is_listed_as_simple(broker, topic_name):
    """Offsets committed by an assign()-only consumer make a group with no members and no protocol type."""
    create_topic(broker, topic_name, PARTITIONS)
    group = f"g-{topic_name}"
    consumer = group_consumer(broker, group)
    try:
        consumer.assign([TopicPartition(topic_name, p, 0) for p in range(PARTITIONS)])
        consumer.commit(offsets=[TopicPartition(topic_name, 1, 0)], asynchronous=False)
    finally:
        consumer.close()
    admin = admin_client(broker)
    listing = listed_groups(admin)[group]
    assert listing.is_simple_consumer_group
    assert listing.state == ConsumerGroupState.EMPTY
    d = describe(admin, group)
    assert (d.state, d.is_simple_consumer_group, d.members) == (ConsumerGroupState.EMPTY, True, [])
    assert group_offsets(admin, group) == {(topic_name, 1): 0}


# ------------------------------------------------------------------------------------------------ kafka-python


class CommitOnRevoke(ConsumerRebalanceListener):
    """Commits what was processed before partitions move, so no other member reads it again."""

    def __init__(self):
        self.consumer: KafkaConsumer | None = None

    def on_partitions_revoked(self, revoked):
        if revoked and self.consumer is not None:
            self.consumer.commit()

    def on_partitions_assigned(self, assigned):
        pass


def kp_consumer(broker, group: str, topic: str, **kwargs) -> KafkaConsumer:
    """A kafka-python group member subscribed to `topic` that commits only when told, and on revoke."""
    listener = CommitOnRevoke()
    consumer = KafkaConsumer(
        bootstrap_servers=broker.bootstrap,
        group_id=group,
        client_id=kwargs.pop("client_id", "kp-member"),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=300,
        max_poll_interval_ms=20000,
        request_timeout_ms=30000,
        **kwargs,
    )
    listener.consumer = consumer
    consumer.subscribe([topic], listener=listener)
    return consumer


def kp_consume_exactly(consumer: KafkaConsumer, n: int, timeout: float = TIMEOUT_S) -> list:
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < n:
        assert time.monotonic() < deadline, f"timed out with {len(got)} of {n} records"
        for records in consumer.poll(timeout_ms=200, max_records=n - len(got)).values():
            got.extend(records)
    return got


def test_kafka_python_group_commit_and_resume(broker, topic_name):
    create_topic(broker, topic_name, PARTITIONS)
    placed = produce(broker, topic_name)
    group = f"g-{topic_name}"

    first = kp_consumer(broker, group, topic_name)
    read = kp_consume_exactly(first, 25)
    positions: dict[int, int] = {}
    for r in read:
        positions[r.partition] = r.offset + 1
    # kafka-python commits the position of every assigned partition, including ones it has read nothing from.
    assert {tp.partition: first.position(tp) for tp in first.assignment()} == {
        p: positions.get(p, 0) for p in range(PARTITIONS)}
    first.commit()
    for p in range(PARTITIONS):
        assert first.committed(KTopicPartition(topic_name, p)) == positions.get(p, 0), p
    first.close(autocommit=False)

    second = kp_consumer(broker, group, topic_name, client_id="kp-second")
    try:
        # The committed offsets are visible to a new consumer before it joins.
        for p in range(PARTITIONS):
            assert second.committed(KTopicPartition(topic_name, p)) == positions.get(p, 0), p
        rest = kp_consume_exactly(second, PARTITIONS * PER_PARTITION - 25)
        by_partition: dict[int, list[int]] = {}
        for r in rest:
            by_partition.setdefault(r.partition, []).append(r.offset)
            assert r.value == placed[(r.partition, r.offset)]
        for p in range(PARTITIONS):
            assert by_partition.get(p, []) == list(range(positions.get(p, 0), PER_PARTITION)), p
    finally:
        second.close(autocommit=False)


def test_kafka_python_members_split_partitions(broker, topic_name):
    partitions = 4
    create_topic(broker, topic_name, partitions)
    produce(broker, topic_name, per_partition=10, partitions=partitions)
    group = f"g-{topic_name}"
    members = [kp_consumer(broker, group, topic_name, client_id=f"kp-{i}") for i in (1, 2)]
    try:
        seen: set[tuple[int, int]] = set()

        def settled():
            for m in members:
                for records in m.poll(timeout_ms=50).values():
                    for r in records:
                        key = (r.partition, r.offset)
                        assert key not in seen, f"{key} delivered twice"
                        seen.add(key)
            return len(seen) == 40 and disjoint_cover([assignment_of_kp(m) for m in members], partitions)

        wait_until(settled, TIMEOUT_S, 0, "two kafka-python members splitting 4 partitions")
        for m in members:
            m.commit()

        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=30_000)
        try:
            assert (group, "consumer") in [tuple(g)[:2] for g in admin.list_consumer_groups()]
            (d,) = admin.describe_consumer_groups([group])
            assert (d.group, d.state, d.protocol_type, d.protocol) == (group, "Stable", "consumer", "range")
            assert sorted(m.client_id for m in d.members) == ["kp-1", "kp-2"]
            offsets = admin.list_consumer_group_offsets(group)
            assert {(tp.topic, tp.partition): om.offset for tp, om in offsets.items()} == {
                (topic_name, p): 10 for p in range(partitions)}
        finally:
            admin.close()
    finally:
        for m in members:
            m.close(autocommit=False)


def assignment_of_kp(consumer: KafkaConsumer) -> set[int]:
    return {tp.partition for tp in consumer.assignment()}


def test_kafka_python_admin_deletes_empty_group(broker, topic_name):
    create_topic(broker, topic_name, PARTITIONS)
    produce(broker, topic_name, per_partition=2)
    group = f"g-{topic_name}"
    consumer = kp_consumer(broker, group, topic_name)
    kp_consume_exactly(consumer, 2 * PARTITIONS)
    consumer.commit()
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=30_000)
    try:
        (result,) = admin.delete_consumer_groups([group])
        assert result[0] == group and result[1].errno == KafkaError.NON_EMPTY_GROUP, result
        consumer.close(autocommit=False)
        wait_until(lambda: admin.describe_consumer_groups([group])[0].state == "Empty", TIMEOUT_S, 0.1,
                   "group Empty after its member closed")
        (result,) = admin.delete_consumer_groups([group])
        assert result[0] == group and result[1].errno == 0, result
        assert group not in [tuple(g)[0] for g in admin.list_consumer_groups()]
        assert admin.list_consumer_group_offsets(group) == {}
    finally:
        admin.close()


# -------------------------------------------------------------------------------------------------------- kcat


def kcat_group(broker, group: str, topic: str) -> list[str]:
    """kcat's balanced consumer: joins `group`, reads to the end of every assigned partition (-e), commits and
    leaves; returns the values it printed."""
    if KCAT is None:
        pytest.fail("kcat is not installed (scripts/test-all.sh installs Debian's kcat)", pytrace=False)
    cmd = [KCAT, "-b", broker.bootstrap, "-G", group, "-e", "-q", "-f", "%p:%o:%s\\n",
           "-X", "auto.offset.reset=earliest", "-X", "session.timeout.ms=6000",
           "-X", "heartbeat.interval.ms=300", topic]
    proc = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, (
        f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stderr.decode('utf-8', 'replace')[-3000:]}")
    return proc.stdout.decode().splitlines()


def test_kcat_balanced_consumer_reads_and_commits(broker, topic_name):
    create_topic(broker, topic_name, PARTITIONS)
    placed = produce(broker, topic_name, per_partition=5)
    group = f"g-{topic_name}"

    lines = kcat_group(broker, group, topic_name)
    got = {(int(p), int(o)): v.encode() for p, o, v in (line.split(":", 2) for line in lines)}
    assert len(lines) == len(got) == len(placed)
    assert got == placed

    # kcat committed on its way out: the group's offsets are the partition ends, and a second run reads only
    # what was produced since.
    assert group_offsets(admin_client(broker), group) == {(topic_name, p): 5 for p in range(PARTITIONS)}
    more = produce(broker, topic_name, per_partition=2, start=1000)
    lines = kcat_group(broker, group, topic_name)
    got = {(int(p), int(o)): v.encode() for p, o, v in (line.split(":", 2) for line in lines)}
    assert got == more


def test_kafka_python_describes_unknown_group_as_dead(broker):
    """kafka-python asks DescribeGroups v3 for authorized operations. Kafka answers a group it does not know with
    state Dead and no error (v0-5), and since there is no error it fills in the operations too."""
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=30_000)
    try:
        (d,) = admin.describe_consumer_groups(["no-such-group"])
        assert (d.error_code, d.group, d.state, d.members) == (0, "no-such-group", "Dead", [])
        if is_reference_kafka():
            # Kafka 4.x groups also have configs (KIP-848), so their operations include the config ones.
            assert sorted(d.authorized_operations) == [
                "ALTER_CONFIGS", "DELETE", "DESCRIBE", "DESCRIBE_CONFIGS", "READ"]
        else:
            # Sluice has no group configs and does not claim their operations (compat-tests/FINDINGS.md).
            assert sorted(d.authorized_operations) == ["DELETE", "DESCRIBE", "READ"]
    finally:
        admin.close()
