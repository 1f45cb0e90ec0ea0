"""SASL with confluent-kafka and kcat: produce and consume over a SASL_PLAINTEXT listener with SCRAM-SHA-512
and PLAIN; a wrong password is an authentication error, not a hang, and the broker keeps serving."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from conftest import create_topic, is_reference_kafka, wait_until
from test_kcat import kcat

CONFIG = dict(
    listeners="PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
    sasl_enabled_mechanisms="PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER",
    sasl_plain_users={"alice": "alice-secret"},
    sasl_scram_users={"scrammer": "scram-secret"},
)

CREDENTIALS = [
    ("PLAIN", "alice", "alice-secret"),
    ("SCRAM-SHA-512", "scrammer", "scram-secret"),
]


def sasl(broker, mechanism: str, user: str, password: str) -> dict:
    return {
        "bootstrap.servers": broker.listener("SASL_PLAINTEXT"),
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": mechanism,
        "sasl.username": user,
        "sasl.password": password,
    }


def new_topic(broker) -> str:
    topic = f"sasl-{uuid.uuid4().hex[:8]}"
    create_topic(broker, topic, 1)
    return topic


@pytest.mark.broker_config(**CONFIG)
@pytest.mark.parametrize("mechanism,user,password", CREDENTIALS)
def test_confluent_kafka_produces_and_consumes(broker, mechanism, user, password):
    topic = new_topic(broker)
    conf = sasl(broker, mechanism, user, password)
    errors = []
    p = Producer({**conf, "message.timeout.ms": 30000})
    for i in range(10):
        p.produce(topic, value=f"v{i}".encode(), on_delivery=lambda err, msg: err and errors.append(err))
    assert p.flush(30) == 0
    assert errors == []
    c = Consumer({**conf, "group.id": f"g-{topic}", "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, 0)])
    got = []

    def read():
        m = c.poll(0.5)
        if m is not None:
            assert m.error() is None, m.error()
            got.append(m.value())
        return len(got) == 10

    wait_until(read, 60, message="ten records over SASL")
    c.close()
    assert got == [f"v{i}".encode() for i in range(10)]


@pytest.mark.broker_config(**CONFIG)
def test_a_wrong_password_is_an_authentication_error(broker):
    seen = []
    conf = sasl(broker, "SCRAM-SHA-512", "scrammer", "wrong")
    p = Producer({**conf, "error_cb": seen.append})

    def failed():
        p.poll(0.2)
        return any(e.code() == KafkaError._AUTHENTICATION for e in seen)

    wait_until(failed, 30, message="an authentication error")
    # The broker still serves a client with the right password.
    topic = new_topic(broker)
    ok = Producer(sasl(broker, "PLAIN", "alice", "alice-secret"))
    ok.produce(topic, value=b"x")
    assert ok.flush(30) == 0


def kcat_sasl(broker, mechanism: str, user: str, password: str) -> list[str]:
    return ["-X", "security.protocol=SASL_PLAINTEXT", "-X", f"sasl.mechanisms={mechanism}",
            "-X", f"sasl.username={user}", "-X", f"sasl.password={password}"]


@pytest.mark.broker_config(**CONFIG)
@pytest.mark.parametrize("mechanism,user,password", CREDENTIALS)
def test_kcat_produces_and_consumes(broker, mechanism, user, password):
    if mechanism.startswith("SCRAM") and is_reference_kafka():
        pytest.skip("Kafka 4.4 refuses the SCRAM of Debian's kcat (librdkafka 2.0.2); FINDINGS.md SASL6")
    topic = new_topic(broker)
    args = kcat_sasl(broker, mechanism, user, password)
    bootstrap = broker.listener("SASL_PLAINTEXT")
    kcat(broker, "-P", "-t", topic, *args, input=b"a\nb\nc\n", bootstrap=bootstrap)
    out = kcat(broker, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-c", "3", "-e", *args,
               bootstrap=bootstrap)
    assert out.stdout.split() == [b"a", b"b", b"c"]


@pytest.mark.broker_config(**CONFIG)
def test_kcat_with_a_wrong_password_fails(broker):
    args = kcat_sasl(broker, "PLAIN", "alice", "nope")
    proc = kcat(broker, "-L", *args, check=False, timeout=60, bootstrap=broker.listener("SASL_PLAINTEXT"))
    assert proc.returncode != 0
    assert b"Authentication failed" in proc.stderr or b"uthentication" in proc.stderr, proc.stderr[-2000:]
