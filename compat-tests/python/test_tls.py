"""TLS listeners with confluent-kafka and kcat: produce and consume over SSL, and mutual TLS with
``ssl_client_auth: required`` (a certificate the trusted CA signed is served; none, or one from an untrusted CA,
is refused). The certificates are compat-tests/certs (see its gen.sh)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from conftest import create_topic, wait_until

CERTS = Path(__file__).resolve().parents[1] / "certs"
KCAT = shutil.which("kcat") or shutil.which("kafkacat")
TIMEOUT_S = 60
# How long a refused client keeps trying before the test takes the refusal as final.
REFUSED_FOR_S = 5

LISTENERS = "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0"
SSL = dict(listeners=LISTENERS, ssl_keystore_location=str(CERTS / "server-keystore.pem"))
MTLS = dict(SSL, ssl_client_auth="required", ssl_truststore_location=str(CERTS / "ca.pem"))


def ssl_config(broker, cert: str | None = None) -> dict:
    config = {
        "bootstrap.servers": broker.listener("SSL"),
        "security.protocol": "ssl",
        "ssl.ca.location": str(CERTS / "ca.pem"),
        "ssl.endpoint.identification.algorithm": "https",
    }
    if cert:
        config["ssl.certificate.location"] = str(CERTS / f"{cert}.pem")
        config["ssl.key.location"] = str(CERTS / f"{cert}.key")
    return config


def produce_consume(broker, config: dict, n: int = 20) -> None:
    topic = f"tls-py-{id(config)}-{n}"
    create_topic(broker, topic, 1)
    producer = Producer({**config, "message.timeout.ms": 30000})
    errors = []
    for i in range(n):
        producer.produce(topic, value=f"m{i}".encode(), key=str(i).encode(),
                         on_delivery=lambda err, msg: err and errors.append(err))
    assert producer.flush(TIMEOUT_S) == 0, "messages left undelivered"
    assert not errors, errors
    consumer = Consumer({**config, "group.id": "tls-py", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    got = []

    def more():
        msg = consumer.poll(0.2)
        if msg is not None:
            assert msg.error() is None, msg.error()
            got.append(msg.value())
        return len(got) >= n

    wait_until(more, TIMEOUT_S, 0, f"{n} messages over TLS")
    consumer.close()
    assert got == [f"m{i}".encode() for i in range(n)]


def served(config: dict, timeout: float) -> bool:
    try:
        AdminClient(config).list_topics(timeout=timeout)
        return True
    except KafkaException:
        return False


@pytest.mark.broker_config(**SSL)
def test_confluent_kafka_over_ssl(broker):
    produce_consume(broker, ssl_config(broker))


@pytest.mark.broker_config(**MTLS)
def test_confluent_kafka_mutual_tls(broker):
    produce_consume(broker, ssl_config(broker, "alice"))
    assert not served(ssl_config(broker), REFUSED_FOR_S), "served without a client certificate"
    assert not served(ssl_config(broker, "mallory"), REFUSED_FOR_S), "served with an untrusted CA's certificate"
    assert served(ssl_config(broker, "alice"), TIMEOUT_S), "alice no longer served after the refusals"


def kcat(broker, config: dict, *args: str, data: bytes = b"", check: bool = True) -> subprocess.CompletedProcess:
    if KCAT is None:
        pytest.fail("kcat is not installed (scripts/test-all.sh installs Debian's kcat)", pytrace=False)
    cmd = [KCAT, "-b", config["bootstrap.servers"], "-m", "15"]
    for key, value in config.items():
        if key != "bootstrap.servers":
            cmd += ["-X", f"{key}={value}"]
    proc = subprocess.run([*cmd, *args], input=data, capture_output=True, timeout=TIMEOUT_S)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} exited {proc.returncode}: {proc.stderr.decode('utf-8', 'replace')[-3000:]}")
    return proc


@pytest.mark.broker_config(**SSL)
def test_kcat_over_ssl(broker):
    topic = "tls-kcat"
    create_topic(broker, topic, 1)
    config = ssl_config(broker)
    kcat(broker, config, "-P", "-t", topic, data=b"one\ntwo\nthree\n")
    out = kcat(broker, config, "-C", "-t", topic, "-o", "beginning", "-e", "-q").stdout
    assert out.split() == [b"one", b"two", b"three"]


@pytest.mark.broker_config(**MTLS)
def test_kcat_mutual_tls(broker):
    topic = "tls-kcat-mtls"
    create_topic(broker, topic, 1)
    alice = ssl_config(broker, "alice")
    kcat(broker, alice, "-P", "-t", topic, data=b"hello\n")
    out = kcat(broker, alice, "-C", "-t", topic, "-o", "beginning", "-e", "-q").stdout
    assert out.split() == [b"hello"]
    kcat(broker, alice, "-L", "-m", str(REFUSED_FOR_S))
    refused = kcat(broker, ssl_config(broker), "-L", "-m", str(REFUSED_FOR_S), check=False)
    assert refused.returncode != 0, "kcat without a client certificate was served"
