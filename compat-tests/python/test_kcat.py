"""kcat (Debian's 1.7.1 on librdkafka 2.0.2) against Sluice.

An old, strict librdkafka is the point: it negotiates API versions from ApiVersions, refuses malformed metadata,
and verifies record-batch CRCs on fetch. Consumers use partition assignment (`-C` without `-G`): Sluice has no
consumer groups yet.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import time

import pytest

from conftest import free_port, wait_until

KCAT = shutil.which("kcat") or shutil.which("kafkacat")
TIMEOUT_S = 60


def kcat(broker, *args: str, input: bytes | None = None, timeout: float = TIMEOUT_S, check: bool = True,
         bootstrap: str | None = None) -> subprocess.CompletedProcess:
    if KCAT is None:
        pytest.fail("kcat is not installed (scripts/test-all.sh installs Debian's kcat)", pytrace=False)
    cmd = [KCAT, "-b", bootstrap or broker.bootstrap, "-m", "15", *args]
    proc = subprocess.run(cmd, input=input if input is not None else b"", capture_output=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]!r}\n"
            f"--- stderr\n{proc.stderr.decode('utf-8', 'replace')[-4000:]}"
        )
    return proc


def produce(broker, topic: str, data: bytes, *args: str) -> None:
    kcat(broker, "-P", "-t", topic, *args, input=data)


def consume(broker, topic: str, *args: str) -> bytes:
    """Everything from the beginning of every partition up to the end, then exit (-e)."""
    return kcat(broker, "-C", "-t", topic, "-o", "beginning", "-e", "-q", *args).stdout


def metadata_json(broker, *args: str) -> dict:
    return json.loads(kcat(broker, "-L", "-J", *args).stdout)


def topic_in_metadata(broker, topic: str) -> dict | None:
    """The topic's entry in `-L -J` once it has partitions with a leader (auto-creation may take a moment)."""
    md = metadata_json(broker, "-t", topic)
    for t in md.get("topics", []):
        if t.get("topic") == topic and not t.get("error") and t.get("partitions"):
            if all(p.get("leader", -1) >= 0 for p in t["partitions"]):
                return t
    return None


def test_list_metadata_shows_broker_and_auto_created_topic(broker, topic_name):
    produce(broker, topic_name, b"hello\n")

    out = kcat(broker, "-L").stdout.decode()
    assert re.search(r"^\s*1 brokers:\s*$", out, re.M), out
    m = re.search(r"^\s*broker (-?\d+) at (\S+)", out, re.M)
    assert m, out
    assert m.group(2) == broker.bootstrap, f"advertised address {m.group(2)} != {broker.bootstrap}"
    leader = m.group(1)
    assert re.search(rf'^\s*topic "{re.escape(topic_name)}" with 1 partitions:\s*$', out, re.M), out
    assert re.search(rf"^\s*partition 0, leader {leader}, replicas: {leader}, isrs: {leader}\s*$", out, re.M), out


def test_list_single_topic_auto_creates_it(broker, topic_name):
    # Metadata for a named topic auto-creates it (Kafka may first answer LEADER_NOT_AVAILABLE: poll).
    t = wait_until(lambda: topic_in_metadata(broker, topic_name), 20, 0.2, f"topic {topic_name} in metadata")
    assert [p["partition"] for p in t["partitions"]] == [0]


def test_list_json_parses(broker, topic_name):
    produce(broker, topic_name, b"x\n")
    md = metadata_json(broker)
    assert isinstance(md["originating_broker"]["id"], int)
    assert md["originating_broker"]["name"].startswith(broker.bootstrap)
    assert len(md["brokers"]) == 1
    b = md["brokers"][0]
    assert b["name"] == broker.bootstrap
    topics = {t["topic"]: t for t in md["topics"]}
    assert topic_name in topics, topics.keys()
    t = topics[topic_name]
    assert "error" not in t, t
    assert len(t["partitions"]) == 1
    p = t["partitions"][0]
    assert p["partition"] == 0
    assert p["leader"] == b["id"]
    assert [r["id"] for r in p["replicas"]] == [b["id"]]
    assert [r["id"] for r in p["isrs"]] == [b["id"]]


def test_produce_consume_lines_byte_for_byte(broker, topic_name):
    lines = [f"line {i} " + "x" * (i % 97) for i in range(500)]
    # (kcat's producer skips empty lines, so there are none.)
    lines += ["  leading and trailing spaces  ", "tab\tinside", "utf-8: h\u00e9llo w\u00f6rld \u2603 \U0001F600"]
    data = ("\n".join(lines) + "\n").encode()
    produce(broker, topic_name, data)
    assert consume(broker, topic_name) == data


def test_produce_consume_with_keys(broker, topic_name):
    msgs = [(f"key-{i % 7}", f"value {i}") for i in range(300)] + [("", "empty key"), ("k", "")]
    data = "".join(f"{k}:{v}\n" for k, v in msgs).encode()
    produce(broker, topic_name, data, "-K:")
    assert consume(broker, topic_name, "-K:") == data

    out = consume(broker, topic_name, "-f", r"%p|%o|%K|%k|%S|%s\n").decode()
    rows = [line.split("|", 5) for line in out.splitlines()]
    assert len(rows) == len(msgs)
    for offset, ((k, v), row) in enumerate(zip(msgs, rows)):
        assert row == ["0", str(offset), str(len(k)), k, str(len(v)), v], (offset, row)


def test_null_keys_and_values(broker, topic_name):
    # -Z on produce sends empty input as NULL; -Z on consume prints NULL for NULL fields.
    data = b"a:1\n:2\nb:\n:\n"
    produce(broker, topic_name, data, "-K:", "-Z")
    out = consume(broker, topic_name, "-Z", "-f", r"%K %k|%S %s\n").decode()
    # With -Z an empty key or value is NULL; lengths print as -1 for NULL.
    assert out.splitlines() == ["1 a|1 1", "-1 NULL|1 2", "1 b|-1 NULL", "-1 NULL|-1 NULL"], out


def test_binary_payloads_with_custom_delimiter(broker, topic_name):
    payloads = [bytes(range(256)), b"\x00" * 10, b"a\nb\r\nc\t", b"\xff\xfe\xfd", bytes(range(255, -1, -1)) * 40]
    delim = b"\xde\xad<EOM>"  # A multi-byte delimiter, with \xNN escapes, in none of the payloads.
    assert not any(delim in p for p in payloads)
    produce(broker, topic_name, delim.join(payloads) + delim, "-D", r"\xde\xad<EOM>")
    # %R prefixes each payload with its length as a binary big-endian int32: unambiguous for any bytes.
    out = consume(broker, topic_name, "-f", "%R%s")
    assert parse_length_prefixed(out) == payloads


def test_binary_payloads_from_files(broker, topic_name, tmp_path):
    payloads = [bytes(range(256)) * 4, b"\n\n\n", b"\x00", b"plain text file\n", bytes(200_000)]
    files = []
    for i, p in enumerate(payloads):
        f = tmp_path / f"msg{i}.bin"
        f.write_bytes(p)
        files.append(str(f))
    # Each file is sent whole as one message; -p 0 keeps them in order on one partition.
    kcat(broker, "-P", "-t", topic_name, "-p", "0", *files)
    assert parse_length_prefixed(consume(broker, topic_name, "-f", "%R%s")) == payloads


def parse_length_prefixed(buf: bytes) -> list[bytes]:
    out, i = [], 0
    while i < len(buf):
        (n,) = struct.unpack_from(">i", buf, i)
        i += 4
        assert n >= 0, f"NULL payload at byte {i}"
        out.append(buf[i:i + n])
        i += n
    assert i == len(buf)
    return out


def test_format_string_key_offset_partition_headers_timestamp(broker, topic_name):
    before = int(time.time() * 1000)
    data = "".join(f"k{i}:v{i}\n" for i in range(50)).encode()
    produce(broker, topic_name, data, "-K:", "-H", "h1=one", "-H", "h2=two")
    after = int(time.time() * 1000)
    out = consume(broker, topic_name, "-f", r"%t|%p|%o|%k|%s|%h|%T\n").decode()
    rows = [line.split("|") for line in out.splitlines()]
    assert len(rows) == 50
    for i, row in enumerate(rows):
        assert row[:6] == [topic_name, "0", str(i), f"k{i}", f"v{i}", "h1=one,h2=two"], row
        assert before - 1000 <= int(row[6]) <= after + 1000, f"timestamp {row[6]} not in [{before}, {after}]"


def test_json_consumer_envelope(broker, topic_name):
    produce(broker, topic_name, b"k1:v1\nk2:v2\n", "-K:", "-H", "hdr=val")
    out = consume(broker, topic_name, "-J")
    msgs = [json.loads(line) for line in out.decode().splitlines()]
    assert [(m["topic"], m["partition"], m["offset"], m["key"], m["payload"]) for m in msgs] == [
        (topic_name, 0, 0, "k1", "v1"),
        (topic_name, 0, 1, "k2", "v2"),
    ]
    for m in msgs:
        assert m["tstype"] == "create", m
        # kcat 1.7.1 prints headers as a flat [name, value, ...] list (its help text says an object).
        assert m["headers"] in (["hdr", "val"], {"hdr": "val"}), m


def test_consume_from_absolute_and_relative_offsets(broker, topic_name):
    produce(broker, topic_name, "".join(f"m{i}\n" for i in range(20)).encode())
    out = kcat(broker, "-C", "-t", topic_name, "-p", "0", "-o", "15", "-e", "-q").stdout
    assert out == b"".join(f"m{i}\n".encode() for i in range(15, 20))
    out = kcat(broker, "-C", "-t", topic_name, "-p", "0", "-o", "-3", "-e", "-q").stdout
    assert out == b"m17\nm18\nm19\n"
    out = kcat(broker, "-C", "-t", topic_name, "-p", "0", "-o", "beginning", "-c", "4", "-q").stdout
    assert out == b"m0\nm1\nm2\nm3\n"


def test_consume_empty_topic_and_end(broker, topic_name):
    wait_until(lambda: topic_in_metadata(broker, topic_name), 20, 0.2, f"topic {topic_name} in metadata")
    assert consume(broker, topic_name) == b""
    produce(broker, topic_name, b"a\nb\n")
    assert kcat(broker, "-C", "-t", topic_name, "-o", "end", "-e", "-q").stdout == b""


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compressed_produce(broker, topic_name, codec):
    # Several hundred compressible messages per batch; Sluice stores batches as received and librdkafka
    # decompresses and checks the CRC on fetch.
    lines = [f"{codec} message {i:05d} " + "abc" * (i % 50) for i in range(2000)]
    data = ("\n".join(lines) + "\n").encode()
    produce(broker, topic_name, data, "-X", f"compression.codec={codec}", "-X", "linger.ms=50")
    assert consume(broker, topic_name) == data


def test_query_offsets(broker, topic_name):
    produce(broker, topic_name, b"".join(b"q%d\n" % i for i in range(10)))
    # -Q with timestamp -1 (latest) and -2 (earliest) is ListOffsets; the output names the offset.
    out = kcat(broker, "-Q", "-t", f"{topic_name}:0:-1").stdout.decode()
    assert re.search(rf"{re.escape(topic_name)} \[0\]\s+offset 10\b", out), out
    out = kcat(broker, "-Q", "-t", f"{topic_name}:0:-2").stdout.decode()
    assert re.search(rf"{re.escape(topic_name)} \[0\]\s+offset 0\b", out), out


@pytest.mark.own_broker
def test_data_survives_restart(broker, topic_name):
    data = "".join(f"k{i}:persisted {i}\n" for i in range(100)).encode()
    produce(broker, topic_name, data, "-K:")
    broker.restart()
    assert consume(broker, topic_name, "-K:") == data
    produce(broker, topic_name, b"k100:after restart\n", "-K:")
    out = consume(broker, topic_name, "-f", r"%o %k %s\n").decode().splitlines()
    assert len(out) == 101
    assert out[-1] == "100 k100 after restart"


ADVERTISED_PORT = free_port()


@pytest.mark.broker_args("--node-id", "7", "--advertise", f"localhost:{ADVERTISED_PORT}")
def test_node_id_and_advertised_address(broker, topic_name):
    # Bootstrap through the real port; metadata must name node 7 at the advertised address. Nothing listens
    # there, so only metadata is checked.
    md = metadata_json(broker)
    assert [(b["id"], b["name"]) for b in md["brokers"]] == [(7, f"localhost:{ADVERTISED_PORT}")]
    assert md["controllerid"] in (7, -1), md
