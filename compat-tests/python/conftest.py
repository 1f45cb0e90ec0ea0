"""Fixtures for the Python-client compatibility suite.

The `broker` fixture starts the Sluice binary (``SLUICE_BIN``, else ``<repo>/target/release/sluice``) on a fresh
data directory with ``--listen 127.0.0.1:0``, reads the real port from the start-up line
(``listen=127.0.0.1:PORT``), keeps draining stderr in a thread, and on teardown sends SIGTERM and asserts exit
code 0. ``broker.restart()`` does the same stop and starts again on the same data directory and the same port, so
a client's bootstrap string stays valid across the restart.

Per-test broker options come from the ``broker_config`` marker (YAML keys of ``--config``) and the ``broker_args``
marker (extra command-line arguments), e.g.::

    @pytest.mark.broker_config(num_partitions=4)
    @pytest.mark.broker_args("--node-id", "7")

``SLUICE_TEST_LOG_LEVEL=debug`` sets ``log_level`` for every broker (the log is kept per test in the test's
temporary directory and shown in the report of a failing test).

``SLUICE_BIN=compat-tests/kafka/run-kafka.sh`` runs the suite against Apache Kafka; ``is_reference_kafka()`` tells
the few tests where Sluice deliberately differs (compat-tests/FINDINGS.md) which broker they face. There the tests
with the same options share one Kafka for the session (tests must not assume an empty cluster); a test that
restarts its broker is marked ``own_broker``, and ``SLUICE_SHARED_KAFKA=0`` gives every test its own.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

REPO_ROOT = Path(__file__).resolve().parents[2]
LISTEN_RE = re.compile(r"listen=(127\.0\.0\.1|\[?[0-9a-fA-F:.]+\]?|[\w.-]+):(\d+)")
# The start-up line's every listener: listeners=NAME://HOST:PORT,... (named listeners, #17).
LISTENERS_RE = re.compile(r"listeners=\"?([^\s\"]+)")
START_TIMEOUT_S = 30.0
# The reference Kafka's JVM takes seconds to start, more on a loaded machine.
KAFKA_START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 20.0
LOG_TAIL_LINES = 80


def sluice_bin() -> Path:
    path = Path(os.environ.get("SLUICE_BIN") or REPO_ROOT / "target" / "release" / "sluice")
    if not path.is_file():
        pytest.fail(f"Sluice binary not found at {path} (set SLUICE_BIN or run cargo build --release)", pytrace=False)
    return path


def is_reference_kafka() -> bool:
    """Whether the broker under test is Apache Kafka (run-kafka.sh) rather than Sluice: ``SLUICE_TARGET=kafka``
    (or ``sluice``) says so explicitly, otherwise a ``SLUICE_BIN`` named ``run-kafka*``."""
    target = os.environ.get("SLUICE_TARGET")
    if target:
        return target.lower() == "kafka"
    return Path(os.environ.get("SLUICE_BIN") or "sluice").name.startswith("run-kafka")


def wait_until(predicate, timeout: float, interval: float = 0.05, message: str = "condition"):
    """Poll `predicate` until it returns a truthy value or `timeout` seconds pass; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {message}")
        time.sleep(interval)


def admin_client(broker) -> AdminClient:
    """A confluent-kafka AdminClient of `broker`."""
    return AdminClient({"bootstrap.servers": broker.bootstrap})


# How long create_topic waits for CreateTopics' answer, and then for the topic's partitions in Metadata.
CREATE_TIMEOUT_S = 30
CREATE_READY_TIMEOUT_S = 20


def create_topic(broker, topic: str, partitions: int) -> None:
    """CreateTopics of `topic` (replication factor 1) through confluent-kafka, asserting success, then waits until
    Metadata lists all its partitions, each with a leader: Kafka (KRaft) lists a created topic a moment after it
    answers CreateTopics, and clients wait for it too."""
    admin = admin_client(broker)
    futures = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)],
                                  operation_timeout=10, request_timeout=CREATE_TIMEOUT_S)
    assert futures[topic].result(timeout=CREATE_TIMEOUT_S) is None
    wait_until(lambda: topic_ready(admin, topic, partitions), CREATE_READY_TIMEOUT_S, 0.1,
               f"{topic} with {partitions} partitions, each with a leader")


def topic_ready(admin: AdminClient, topic: str, partitions: int) -> bool:
    """Whether Metadata lists `topic` without error, with `partitions` partitions, each with a leader."""
    t = admin.list_topics(topic=topic, timeout=10).topics.get(topic)
    return bool(t and t.error is None and len(t.partitions) == partitions
                and all(p.leader >= 0 for p in t.partitions.values()))


def _yaml_scalar(value) -> str:
    if isinstance(value, dict):
        # A flow mapping (sasl_plain_users, sasl_scram_users).
        return "{" + ", ".join(f"{_yaml_scalar(str(k))}: {_yaml_scalar(v)}" for k, v in value.items()) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


class Broker:
    """One Sluice process on a data directory that outlives restarts."""

    def __init__(self, workdir: Path, config: dict | None = None, args: tuple[str, ...] = ()):
        self.binary = sluice_bin()
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "broker.log"
        self.config = dict(config or {})
        level = os.environ.get("SLUICE_TEST_LOG_LEVEL")
        if level and "log_level" not in self.config:
            self.config["log_level"] = level
        self.args = tuple(args)
        self.config_path: Path | None = None
        if self.config:
            self.config_path = workdir / "sluice.yaml"
            self.config_path.write_text("".join(f"{k}: {_yaml_scalar(v)}\n" for k, v in self.config.items()))
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        # Every listener's bound address by name (from the start-up line's listeners=).
        self.listeners: dict[str, str] = {}
        self.starts = 0
        # Shared by the tests of one config against Kafka (the `broker` fixture): never restarted by one.
        self.shared = False
        self._lines: list[str] = []
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._drainer: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        assert self.port is not None, "broker not started"
        return f"127.0.0.1:{self.port}"

    def listener(self, name: str) -> str:
        """bootstrap.servers for the listener `name` of the config's `listeners`."""
        assert name in self.listeners, f"no listener {name} among {self.listeners}"
        return self.listeners[name]

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, port: int = 0, timeout: float | None = None) -> None:
        assert not self.running, "broker already running"
        if timeout is None:
            timeout = KAFKA_START_TIMEOUT_S if is_reference_kafka() else START_TIMEOUT_S
        cmd = [str(self.binary), "--data-dir", str(self.data_dir)]
        if "listeners" not in self.config:
            cmd += ["--listen", f"127.0.0.1:{port}"]
        if self.config_path:
            cmd += ["--config", str(self.config_path)]
        cmd += list(self.args)
        self.starts += 1
        with self._lock:
            first_line = len(self._lines)
            self._lines.append(f"----- start #{self.starts}: {' '.join(cmd)}\n")
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, env={**os.environ, "NO_COLOR": "1"},
        )
        self._drainer = threading.Thread(target=self._drain, args=(self.proc,), daemon=True)
        self._drainer.start()

        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self._lines[first_line:]:
                    m = LISTEN_RE.search(line)
                    if m and not line.startswith("-----"):
                        self.port = int(m.group(2))
                        named = LISTENERS_RE.search(line)
                        self.listeners = {}
                        for entry in (named.group(1).split(",") if named else []):
                            name, _, addr = entry.partition("://")
                            self.listeners[name] = addr
                        return
                if self.proc.poll() is not None and self._drainer_done():
                    raise RuntimeError(
                        f"sluice exited with code {self.proc.returncode} before logging listen=...\n{self.log_tail()}"
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.proc.kill()
                    raise RuntimeError(f"no listen=HOST:PORT line within {timeout}s\n{self.log_tail()}")
                self._cond.wait(min(remaining, 0.2))

    def _drainer_done(self) -> bool:
        return self._drainer is None or not self._drainer.is_alive()

    def _drain(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        with open(self.log_path, "ab") as log:
            for raw in iter(proc.stdout.readline, b""):
                log.write(raw)
                log.flush()
                with self._cond:
                    self._lines.append(raw.decode("utf-8", "replace"))
                    self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM the broker and wait for it to exit; return its exit code."""
        assert self.proc is not None, "broker not started"
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                raise AssertionError(f"sluice did not exit within {timeout}s of SIGTERM\n{self.log_tail()}")
        if self._drainer is not None:
            self._drainer.join(5)
        return self.proc.returncode

    def stop_ok(self) -> None:
        code = self.stop()
        assert code == 0, f"sluice exited with code {code} after SIGTERM\n{self.log_tail()}"

    def restart(self, timeout: float | None = None) -> None:
        """Graceful stop (exit code 0 asserted), then start on the same data directory and port."""
        assert not self.shared, "a test that restarts its broker needs @pytest.mark.own_broker"
        port = self.port
        self.stop_ok()
        # The port was just released; the broker's listener sets SO_REUSEADDR, but give the kernel a bounded
        # moment in case a re-bind races with the old socket's close.
        deadline = time.monotonic() + 10.0
        while True:
            try:
                self.start(port=port or 0, timeout=timeout)
                break
            except RuntimeError:
                if time.monotonic() >= deadline or not _port_busy(port):
                    raise
                time.sleep(0.2)
        assert self.port == port, f"restarted broker bound port {self.port}, expected {port}"

    # -- diagnostics -----------------------------------------------------------------------------------------

    def log_text(self) -> str:
        with self._lock:
            return "".join(self._lines)

    def log_tail(self, n: int = LOG_TAIL_LINES) -> str:
        with self._lock:
            return "".join(self._lines[-n:])

    def wait_for_log(self, pattern: str, timeout: float = 5.0) -> re.Match:
        rx = re.compile(pattern)
        return wait_until(lambda: rx.search(self.log_text()), timeout, message=f"broker log matching {pattern!r}")


def _port_busy(port: int | None) -> bool:
    if not port:
        return False
    with socket.socket() as s:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
            return False
        except OSError:
            return True


def free_port() -> int:
    """A port that was free a moment ago, for tests that must know the port before the broker starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Against the reference Kafka, tests that ask for the same config and args share one broker (a JVM start per
# test was most of the Kafka pass's time); `own_broker` tests (they restart it) and `SLUICE_SHARED_KAFKA=0` get
# their own. Against Sluice every test gets its own: a broker costs milliseconds, and isolation finds more.
_SHARED_BROKERS: dict[tuple, Broker] = {}


def _share_brokers() -> bool:
    return is_reference_kafka() and os.environ.get("SLUICE_SHARED_KAFKA", "1") != "0"


@pytest.fixture
def broker(request, tmp_path, tmp_path_factory):
    cfg_marker = request.node.get_closest_marker("broker_config")
    args_marker = request.node.get_closest_marker("broker_args")
    config = cfg_marker.kwargs if cfg_marker else None
    args = args_marker.args if args_marker else ()
    if _share_brokers() and request.node.get_closest_marker("own_broker") is None:
        key = (repr(sorted((config or {}).items())), tuple(args))
        b = _SHARED_BROKERS.get(key)
        if b is None or not b.running:
            b = Broker(tmp_path_factory.mktemp("shared-broker"), config=config, args=args)
            b.shared = True
            b.start()
            _SHARED_BROKERS[key] = b
        request.node._sluice_broker = b
        yield b
        return
    b = Broker(tmp_path / "broker", config=config, args=args)
    request.node._sluice_broker = b
    b.start()
    yield b
    if b.proc is not None:
        b.stop_ok()


def pytest_sessionfinish(session, exitstatus):
    for b in _SHARED_BROKERS.values():
        if b.proc is not None:
            b.stop()
    _SHARED_BROKERS.clear()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    b = getattr(item, "_sluice_broker", None)
    if b is not None and report.failed:
        report.sections.append((f"sluice log ({b.log_path})", b.log_tail(200)))


@pytest.fixture
def topic_name(request):
    """A topic name unique to the test (kept short and within Kafka's legal characters)."""
    base = re.sub(r"[^A-Za-z0-9._-]", "-", request.node.name)[:180]
    return f"t-{base}-{os.getpid() % 10000}-{int(time.time() * 1000) % 100000}"
