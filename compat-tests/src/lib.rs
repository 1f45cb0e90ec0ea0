//! Test harness for running real Kafka clients against a real `sluice` process.
//!
//! # Layout
//! - [`Broker`]: starts the `sluice` binary on a fresh data directory, learns its port from the start-up log,
//!   and restarts it gracefully (SIGTERM) or brutally (SIGKILL) on the same data directory.
//! - Client helpers: [`producer`] / [`consumer`] build librdkafka clients configured for what the broker
//!   supports today (no consumer groups: consumers use `assign()`), [`admin_client`] and [`admin_options`] are
//!   the admin API's, [`create_topic`] goes through it, and [`Msg`] is a message with every field the tests
//!   compare.
//! - [`raw`]: a blocking, hand-driven Kafka connection for sending what no well-behaved client would.
//! - [`proxy`]: a TCP forwarder, so clients keep one address while the broker restarts on another port.
//! - Waiting: [`wait_until`] and [`consume_n`] poll conditions inside a deadline; nothing here sleeps for a
//!   fixed time hoping a condition became true.
//!
//! # Running
//! The binary is `$SLUICE_BIN`, or `target/release/sluice` in this workspace. `cargo test -p compat-tests`
//! does not build it: run `cargo build --release -p sluice` first, then
//! `cargo test --release -p compat-tests`. Each test starts its own broker on a port the kernel picks and a
//! temporary data directory, so tests run in parallel. `SLUICE_TEST_LOG=1` echoes every broker log line;
//! failures show the last lines anyway.
//!
//! `SLUICE_BIN=$PWD/compat-tests/kafka/run-kafka.sh` runs the same tests against Apache Kafka: add
//! `-- --test-threads=4` as scripts/test-all.sh does (see compat-tests/FINDINGS.md). There [`Broker::start`] and [`Broker::start_with`] share
//! one Kafka per test binary and config (`SLUICE_SHARED_KAFKA=0`: a JVM per test); tests that restart or kill
//! the broker use [`Broker::start_own`]. [`is_reference_kafka`] tells the few tests where
//! Sluice deliberately differs which broker they face.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage, Timestamp};
use rdkafka::metadata::MetadataTopic;
use rdkafka::producer::{
    BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer,
};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

pub mod proxy;
pub mod raw;

pub use rdkafka;

/// How long the broker may take to print its `listen=` line, or to exit after SIGTERM.
const PROCESS_TIMEOUT: Duration = Duration::from_secs(15);
/// The same against the reference Kafka, whose JVM starts in seconds, not milliseconds (more under load).
const KAFKA_PROCESS_TIMEOUT: Duration = Duration::from_secs(90);
/// Timeout for one librdkafka metadata or admin round trip on loopback.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
/// How many of the broker's last log lines a failure message shows.
const LOG_LINES_KEPT: usize = 200;

/// The `sluice` binary under test.
pub fn sluice_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("SLUICE_BIN") {
        return PathBuf::from(bin);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("compat-tests lives inside the workspace")
        .join("target/release/sluice")
}

/// Whether the broker under test is the reference Apache Kafka (`compat-tests/kafka/run-kafka.sh`) rather than
/// Sluice: `SLUICE_TARGET=kafka` (or `sluice`) says so explicitly, otherwise a `SLUICE_BIN` named `run-kafka*`.
/// Tests use it only where Sluice deliberately differs from Kafka, and say why (compat-tests/FINDINGS.md).
pub fn is_reference_kafka() -> bool {
    match std::env::var("SLUICE_TARGET") {
        Ok(target) if !target.is_empty() => target.eq_ignore_ascii_case("kafka"),
        _ => sluice_bin()
            .file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with("run-kafka")),
    }
}

fn process_timeout() -> Duration {
    if is_reference_kafka() {
        KAFKA_PROCESS_TIMEOUT
    } else {
        PROCESS_TIMEOUT
    }
}

/// A running `sluice` process that owns a temporary data directory.
///
/// The directory outlives restarts of the process and is removed when the `Broker` is dropped.
pub struct Broker {
    process: Option<Process>,
    /// The last log lines of the process that last exited, for [`Broker::logs`] after a stop.
    exited_log: Option<String>,
    /// Root of the temporary tree: `data/` is the broker's data dir, `sluice.yaml` its optional config. None
    /// for a handle on a shared Kafka, whose tree is its own.
    root: Option<tempfile::TempDir>,
    config: Option<PathBuf>,
    /// The executable: [`sluice_bin`], unless started with [`Broker::start_bin`].
    bin: PathBuf,
    /// A handle on the test process's shared reference Kafka for this config (see [`Broker::start`]), whose
    /// process this `Broker` does not own: `process` stays `None`.
    shared: Option<Arc<SharedKafka>>,
}

/// A reference Kafka shared by the tests of one test binary that ask for the same config, so the reference pass
/// starts a JVM per test binary and config rather than per test. It runs under a `sh` that stops it (SIGTERM,
/// a clean stop) and removes its data directory once its stdin closes, that is when the test process exits,
/// however it exits: nothing has to run at exit.
struct SharedKafka {
    addr: SocketAddr,
    listeners: BTreeMap<String, SocketAddr>,
    log: Arc<Mutex<VecDeque<String>>>,
    child: Mutex<Child>,
    _stdin: Mutex<std::process::ChildStdin>,
}

/// Whether [`Broker::start`] and [`Broker::start_with`] hand out the shared reference Kafka: against Kafka,
/// unless `SLUICE_SHARED_KAFKA=0`. Against Sluice every test gets its own broker, as a broker costs milliseconds.
fn share_reference_kafka() -> bool {
    is_reference_kafka() && std::env::var("SLUICE_SHARED_KAFKA").map_or(true, |v| v != "0")
}

type SharedMap = Mutex<std::collections::HashMap<Option<String>, Arc<SharedKafka>>>;
static SHARED_KAFKAS: std::sync::OnceLock<SharedMap> = std::sync::OnceLock::new();

fn shared_kafka(config_yaml: Option<&str>) -> Arc<SharedKafka> {
    let map = SHARED_KAFKAS.get_or_init(Default::default);
    // Held while a JVM starts, so two tests wanting the same config start one, not two.
    let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
    let key = config_yaml.map(str::to_string);
    if let Some(shared) = map.get(&key) {
        let alive = matches!(
            shared
                .child
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .try_wait(),
            Ok(None)
        );
        if alive {
            return Arc::clone(shared);
        }
    }
    let root = tempfile::Builder::new()
        .prefix("sluice-compat-shared-")
        .tempdir()
        .expect("create temp dir")
        .keep();
    std::fs::create_dir(root.join("data")).expect("create data dir");
    let bin = sluice_bin();
    let mut command = Command::new("sh");
    // `cat` returns when the test process is gone and with it the pipe's write end; a SIGTERM to the whole
    // process group (scripts/test-all.sh's clean-up after a step) also stops Kafka and removes the tree.
    command
        .arg("-c")
        .arg(concat!(
            r#"root="$1"; shift; "$@" & k=$!; "#,
            r#"stop() { kill -TERM "$k" 2>/dev/null; wait "$k"; rm -rf "$root"; exit 0; }; "#,
            r#"trap stop TERM INT; cat > /dev/null; stop"#
        ))
        .arg("sh")
        .arg(&root)
        .arg(&bin)
        .arg("--data-dir")
        .arg(root.join("data"));
    if !names_listeners(config_yaml) {
        command.arg("--listen").arg("127.0.0.1:0");
    }
    if let Some(yaml) = config_yaml {
        let path = root.join("sluice.yaml");
        std::fs::write(&path, yaml).expect("write broker config");
        command.arg("--config").arg(path);
    }
    command.stdin(Stdio::piped());
    let mut process = spawn_process(command, &bin);
    let stdin = process.child.stdin.take().expect("stdin is piped");
    let shared = Arc::new(SharedKafka {
        addr: process.addr,
        listeners: process.listeners.clone(),
        log: Arc::clone(&process.log),
        child: Mutex::new(process.child),
        _stdin: Mutex::new(stdin),
    });
    map.insert(key, Arc::clone(&shared));
    shared
}

struct Process {
    child: Child,
    addr: SocketAddr,
    /// Every listener's bound address by name, from the start-up line's `listeners=`.
    listeners: BTreeMap<String, SocketAddr>,
    log: Arc<Mutex<VecDeque<String>>>,
    drain: Option<JoinHandle<()>>,
}

impl Broker {
    /// Starts a broker with default configuration on a fresh data directory. Against the reference Kafka, the
    /// test shares one broker with the other tests of its binary that asked for the same config (a JVM per test
    /// made the reference pass the longest part of CI), so such a test must not assume an empty cluster; one
    /// that restarts, kills or inspects the broker's process or files takes [`Broker::start_own`].
    pub fn start() -> Broker {
        Broker::launch(None)
    }

    /// Starts a broker with `config_yaml` written to a file and passed as `--config`; shared against Kafka as
    /// [`Broker::start`] says.
    pub fn start_with(config_yaml: &str) -> Broker {
        Broker::launch(Some(config_yaml))
    }

    /// A broker of the test's own, also against Kafka: for tests that restart or kill it, or read its files.
    pub fn start_own() -> Broker {
        Broker::launch_bin(sluice_bin(), None)
    }

    /// [`Broker::start_with`], of the test's own, also against Kafka.
    pub fn start_own_with(config_yaml: &str) -> Broker {
        Broker::launch_bin(sluice_bin(), Some(config_yaml))
    }

    /// Starts `bin` (a Sluice binary, or run-kafka.sh) with default configuration, whatever `$SLUICE_BIN` says:
    /// for tests that need both brokers at once (`differential.rs`).
    pub fn start_bin(bin: &Path) -> Broker {
        Broker::launch_bin(bin.to_path_buf(), None)
    }

    fn launch(config_yaml: Option<&str>) -> Broker {
        if share_reference_kafka() {
            return Broker {
                process: None,
                exited_log: None,
                root: None,
                config: None,
                bin: sluice_bin(),
                shared: Some(shared_kafka(config_yaml)),
            };
        }
        Broker::launch_bin(sluice_bin(), config_yaml)
    }

    /// Panics for what only a broker of the test's own can do.
    fn own(&self, what: &str) {
        assert!(
            self.shared.is_none(),
            "{what} needs a broker of the test's own: start it with Broker::start_own or start_own_with \
             (against Kafka, Broker::start and start_with share one broker per test binary and config)"
        );
    }

    fn launch_bin(bin: PathBuf, config_yaml: Option<&str>) -> Broker {
        let root = tempfile::Builder::new()
            .prefix("sluice-compat-")
            .tempdir()
            .expect("create temp dir");
        std::fs::create_dir(root.path().join("data")).expect("create data dir");
        let config = config_yaml.map(|yaml| {
            let path = root.path().join("sluice.yaml");
            std::fs::write(&path, yaml).expect("write broker config");
            path
        });
        let mut broker = Broker {
            process: None,
            exited_log: None,
            root: Some(root),
            config,
            bin,
            shared: None,
        };
        broker.spawn();
        broker
    }

    fn spawn(&mut self) {
        self.own("starting the broker again");
        assert!(self.process.is_none(), "broker is already running");
        let bin = self.bin.clone();
        let mut command = Command::new(&bin);
        command
            .arg("--data-dir")
            .arg(self.data_dir())
            .stdin(Stdio::null());
        let yaml = self
            .config
            .as_ref()
            .map(|path| std::fs::read_to_string(path).expect("read broker config"));
        if !names_listeners(yaml.as_deref()) {
            command.arg("--listen").arg("127.0.0.1:0");
        }
        if let Some(config) = &self.config {
            command.arg("--config").arg(config);
        }
        self.process = Some(spawn_process(command, &bin));
    }

    fn process(&self) -> &Process {
        self.process.as_ref().expect("broker is not running")
    }

    /// The broker's data directory, kept across restarts.
    pub fn data_dir(&self) -> PathBuf {
        self.own("the data directory");
        self.root
            .as_ref()
            .expect("a broker of its own has a root")
            .path()
            .join("data")
    }

    /// The listening address of the current process.
    pub fn addr(&self) -> SocketAddr {
        match &self.shared {
            Some(shared) => shared.addr,
            None => self.process().addr,
        }
    }

    /// The bound address of the listener `name` (of the config's `listeners`; PLAINTEXT without it).
    pub fn listener(&self, name: &str) -> SocketAddr {
        let listeners = match &self.shared {
            Some(shared) => &shared.listeners,
            None => &self.process().listeners,
        };
        *listeners
            .get(name)
            .unwrap_or_else(|| panic!("no listener {name} among {listeners:?}"))
    }

    /// `bootstrap.servers` for the current process.
    pub fn bootstrap(&self) -> String {
        self.addr().to_string()
    }

    pub fn pid(&self) -> u32 {
        self.own("the broker's process id");
        self.process().child.id()
    }

    /// The last lines the broker logged, for failure messages.
    /// The last log lines of the running process, or of the one that last exited.
    pub fn logs(&self) -> String {
        if let Some(shared) = &self.shared {
            return render_log(&shared.log);
        }
        match (&self.process, &self.exited_log) {
            (Some(p), _) => render_log(&p.log),
            (None, Some(log)) => log.clone(),
            (None, None) => "(broker not running)".to_string(),
        }
    }

    /// Whether the process is still alive (it has not exited or been killed).
    pub fn is_running(&mut self) -> bool {
        if let Some(shared) = &self.shared {
            let mut child = shared.child.lock().unwrap_or_else(|e| e.into_inner());
            return matches!(child.try_wait(), Ok(None));
        }
        match &mut self.process {
            Some(p) => matches!(p.child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Sends SIGTERM and waits for a clean exit, then starts a new process on the same data directory.
    /// The new process may listen on a different port: call [`Broker::bootstrap`] again.
    pub fn restart(&mut self) {
        let status = self.terminate();
        assert!(
            status.success(),
            "broker did not exit cleanly on SIGTERM: {status}"
        );
        self.spawn();
    }

    /// Sends SIGTERM and waits (bounded) for the process to exit; returns its exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        self.own("stopping the broker");
        let mut process = self.process.take().expect("broker is not running");
        let pid = process.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid} failed: {sent}");
        let timeout = process_timeout();
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = process.child.try_wait().expect("wait for broker") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = process.child.kill();
                let _ = process.child.wait();
                panic!(
                    "broker still running {timeout:?} after SIGTERM; last log lines:\n{}",
                    render_log(&process.log)
                );
            }
            thread::sleep(Duration::from_millis(10));
        };
        if let Some(drain) = process.drain.take() {
            let _ = drain.join();
        }
        self.exited_log = Some(render_log(&process.log));
        if !status.success() {
            eprintln!(
                "broker exited with {status} after SIGTERM; last log lines:\n{}",
                render_log(&process.log)
            );
        }
        status
    }

    /// SIGKILLs the process and reaps it. The data directory stays for [`Broker::start_again`].
    pub fn kill9(&mut self) {
        self.own("killing the broker");
        let mut process = self.process.take().expect("broker is not running");
        // `Child::kill` sends SIGKILL on Unix: the broker gets no chance to flush anything.
        process.child.kill().expect("SIGKILL broker");
        process.child.wait().expect("reap broker");
        if let Some(drain) = process.drain.take() {
            let _ = drain.join();
        }
    }

    /// Starts a new process on the existing data directory after [`Broker::kill9`] or [`Broker::terminate`].
    pub fn start_again(&mut self) {
        self.spawn();
    }

    /// CPU time (user + system) the broker process has used so far.
    pub fn cpu_time(&self) -> Duration {
        process_cpu_time(self.pid())
    }

    /// Panics unless the process is alive and a fresh librdkafka client can fetch metadata from it.
    ///
    /// The client asks for one named topic (auto-created), as producers and consumers do: an all-topics
    /// request exercises a different encoding in librdkafka, which `admin.rs` tests on its own.
    pub fn assert_healthy(&mut self) {
        assert!(
            self.is_running(),
            "broker process died; last log lines:\n{}",
            self.logs()
        );
        let client: BaseProducer = producer_config(&self.bootstrap())
            .create()
            .expect("create metadata client");
        let metadata = client
            .client()
            .fetch_metadata(Some("sluice-health-check"), CLIENT_TIMEOUT)
            .unwrap_or_else(|e| {
                panic!(
                    "broker alive but a new client cannot fetch metadata: {e}; last log lines:\n{}",
                    self.logs()
                )
            });
        let port = i32::from(self.addr().port());
        assert!(
            metadata.brokers().iter().any(|b| b.port() == port),
            "metadata does not advertise the listening port {port}: {:?}",
            metadata
                .brokers()
                .iter()
                .map(|b| format!("{}:{}", b.host(), b.port()))
                .collect::<Vec<_>>()
        );
    }
}

/// Spawns `command` (a broker, with stderr piped) and waits for the `listen=ADDR` line of its log.
fn spawn_process(mut command: Command, bin: &Path) -> Process {
    assert!(
        bin.is_file(),
        "sluice binary not found at {}: run `cargo build --release -p sluice` or set SLUICE_BIN",
        bin.display()
    );
    command
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
    // The reader thread keeps draining stderr for the life of the process: a full pipe would block the
    // broker's logging and, with it, whatever task was logging.
    let stderr = child.stderr.take().expect("stderr is piped");
    let log = Arc::new(Mutex::new(VecDeque::new()));
    let (addr_tx, addr_rx) = mpsc::channel();
    let drain = {
        let log = Arc::clone(&log);
        let echo = std::env::var_os("SLUICE_TEST_LOG").is_some();
        thread::spawn(move || drain_stderr(stderr, log, addr_tx, echo))
    };

    // The sender is dropped when stderr closes, so a broker that dies during start-up ends the wait at once.
    let (addr, listeners) = match addr_rx.recv_timeout(process_timeout()) {
        Ok(found) => found,
        Err(e) => {
            let _ = child.kill();
            let status = child.wait();
            let _ = drain.join();
            panic!(
                "broker did not report `listen=ADDR` ({e}); exit status {status:?}; last log lines:\n{}",
                render_log(&log)
            );
        }
    };
    Process {
        child,
        addr,
        listeners,
        log,
        drain: Some(drain),
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.child.kill();
            let _ = process.child.wait();
            if let Some(drain) = process.drain.take() {
                let _ = drain.join();
            }
        }
    }
}

fn drain_stderr(
    stderr: std::process::ChildStderr,
    log: Arc<Mutex<VecDeque<String>>>,
    addr_tx: mpsc::Sender<(SocketAddr, BTreeMap<String, SocketAddr>)>,
    echo: bool,
) {
    let mut reader = BufReader::new(stderr);
    let mut addr_tx = Some(addr_tx);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let line = String::from_utf8_lossy(&buf).trim_end().to_string();
        if echo {
            eprintln!("[sluice] {line}");
        }
        if addr_tx.is_some() {
            if let Some(addr) = parse_listen(&line) {
                let listeners = parse_listeners(&line);
                let _ = addr_tx.take().expect("checked").send((addr, listeners));
            }
        }
        let mut log = log.lock().expect("log lock");
        if log.len() == LOG_LINES_KEPT {
            log.pop_front();
        }
        log.push_back(line);
    }
}

/// Finds `listen=HOST:PORT` in a log line, tolerating quotes and trailing punctuation around the address.
pub fn parse_listen(line: &str) -> Option<SocketAddr> {
    line.match_indices("listen=").find_map(|(at, key)| {
        let rest = &line[at + key.len()..];
        let token = rest.split_whitespace().next()?;
        token
            .trim_matches(|c: char| c == '"' || c == '\'' || c == ',' || c == ';')
            .parse()
            .ok()
    })
}

/// Finds `listeners=NAME://HOST:PORT,...` in a log line: every listener's bound address by name.
pub fn parse_listeners(line: &str) -> BTreeMap<String, SocketAddr> {
    let Some(at) = line.find("listeners=") else {
        return BTreeMap::new();
    };
    let token = line[at + "listeners=".len()..]
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .trim_matches(|c: char| c == '"' || c == '\'');
    token
        .split(',')
        .filter_map(|entry| {
            let (name, addr) = entry.split_once("://")?;
            Some((name.to_string(), addr.parse().ok()?))
        })
        .collect()
}

/// Whether a broker config names its listeners (then `--listen` must not be passed).
fn names_listeners(config_yaml: Option<&str>) -> bool {
    config_yaml.is_some_and(|yaml| yaml.lines().any(|line| line.starts_with("listeners:")))
}

fn render_log(log: &Mutex<VecDeque<String>>) -> String {
    let log = log.lock().expect("log lock");
    if log.is_empty() {
        return "(no output)".to_string();
    }
    log.iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join("\n")
}

/// User + system CPU time of a process, from `/proc/<pid>/stat`.
pub fn process_cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/stat: {e}"));
    // The command name (field 2) is in parentheses and may itself contain spaces or parentheses.
    let after_comm = &stat[stat.rfind(')').expect("malformed stat") + 1..];
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // Fields 14 and 15 of stat(5) are utime and stime; `fields[0]` is field 3.
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second() as f64)
}

fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// Polls `condition` every few milliseconds until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Runs a future to completion on the current thread.
///
/// librdkafka's admin futures are completed by rdkafka's own polling thread, so they need no runtime:
/// parking until woken is enough, and it keeps tokio out of the test crate.
pub fn block_on<F: Future>(future: F) -> F::Output {
    struct Unparker(thread::Thread);
    impl Wake for Unparker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unparker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        thread::park();
    }
}

/// A topic name no other test uses, so a failure's leftovers never explain another test's result.
pub fn unique_topic(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A librdkafka admin client of the broker at `bootstrap`; run its futures with [`block_on`].
pub fn admin_client(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("create admin client")
}

/// Admin call options that give up after [`CLIENT_TIMEOUT`], so a broker that never answers fails the test.
pub fn admin_options() -> AdminOptions {
    AdminOptions::new().request_timeout(Some(CLIENT_TIMEOUT))
}

/// Milliseconds since the Unix epoch, as record timestamps count them.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// Creates a topic through the admin API (replication factor 1), panics on any error, and returns once
/// Metadata lists the topic ([`wait_for_topic`]).
pub fn create_topic(bootstrap: &str, name: &str, partitions: i32) {
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let results = block_on(admin_client(bootstrap).create_topics([&topic], &admin_options()))
        .unwrap_or_else(|e| panic!("CreateTopics {name}: {e}"));
    for result in results {
        if let Err((topic, code)) = result {
            panic!("CreateTopics {topic}: {code:?}");
        }
    }
    wait_for_topic(bootstrap, name);
}

/// How long [`wait_for_topic`] and [`wait_for_topic_gone`] wait for the broker's metadata.
const METADATA_TIMEOUT: Duration = Duration::from_secs(30);

/// Waits until Metadata lists `topic` without error, and panics after 30 s.
///
/// Kafka (KRaft) answers CreateTopics once its controller has committed the topic, and its broker's metadata
/// lists the topic a moment later: on a loaded 2-core machine 6 creates in 100 were not yet listed right after
/// the answer. Sluice creates the topic before it answers. Clients wait for a new topic, and so do the tests
/// before they read Metadata, DescribeConfigs and the like.
pub fn wait_for_topic(bootstrap: &str, topic: &str) {
    wait_for_metadata(
        bootstrap,
        topic,
        "not in Metadata after it was created",
        |t| match t.error() {
            None => Ok(()),
            Some(e) => Err(format!("{e:?}")),
        },
    );
}

/// Waits until Metadata answers UNKNOWN_TOPIC_OR_PARTITION for `topic`, and panics after 30 s: Kafka's broker
/// drops a deleted topic from its metadata a moment after DeleteTopics answers (see [`wait_for_topic`]).
pub fn wait_for_topic_gone(bootstrap: &str, topic: &str) {
    wait_for_metadata(
        bootstrap,
        topic,
        "still in Metadata after it was deleted",
        |t| match t.error() {
            Some(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) => Ok(()),
            e => Err(format!("{e:?} with {} partitions", t.partitions().len())),
        },
    );
}

/// Asks Metadata about `topic` (as a consumer, which never auto-creates) until `state` accepts its entry;
/// panics after [`METADATA_TIMEOUT`] with `failure` and the last answer.
fn wait_for_metadata(
    bootstrap: &str,
    topic: &str,
    failure: &str,
    state: impl Fn(&MetadataTopic) -> Result<(), String>,
) {
    let consumer: BaseConsumer = consumer_config(bootstrap)
        .create()
        .expect("create metadata client");
    let mut last = String::from("no answer");
    let reached = wait_until(METADATA_TIMEOUT, || {
        match consumer.fetch_metadata(Some(topic), CLIENT_TIMEOUT) {
            Ok(metadata) => match metadata.topics().iter().find(|t| t.name() == topic) {
                Some(t) => match state(t) {
                    Ok(()) => return true,
                    Err(e) => last = e,
                },
                None => last = "not in the response".into(),
            },
            Err(e) => last = e.to_string(),
        }
        thread::sleep(Duration::from_millis(50));
        false
    });
    assert!(reached, "{topic} {failure} ({METADATA_TIMEOUT:?}): {last}");
}

/// Settings every producer in these tests shares; callers add acks, compression and so on.
pub fn producer_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("client.id", "sluice-compat-producer")
        // A broker bug should fail a test in seconds, not after librdkafka's 5-minute default.
        .set("message.timeout.ms", "30000")
        .set("request.timeout.ms", "10000");
    config
}

/// Settings for a consumer that reads by `assign()`: the broker has no group coordinator yet, so nothing
/// may commit or store offsets, but librdkafka still wants a `group.id`.
pub fn consumer_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("client.id", "sluice-compat-consumer")
        .set("group.id", "sluice-compat")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        // Makes librdkafka verify every batch's CRC on receipt: the broker must serve batches intact.
        .set("check.crcs", "true");
    config
}

pub type TestProducer = ThreadedProducer<DeliveryLog>;

/// A producer whose delivery reports are collected in its [`DeliveryLog`] context.
pub fn producer(bootstrap: &str, settings: &[(&str, &str)]) -> TestProducer {
    let mut config = producer_config(bootstrap);
    for (key, value) in settings {
        config.set(*key, *value);
    }
    config
        .create_with_context(DeliveryLog::default())
        .expect("create producer")
}

pub fn consumer(bootstrap: &str, settings: &[(&str, &str)]) -> BaseConsumer {
    let mut config = consumer_config(bootstrap);
    for (key, value) in settings {
        config.set(*key, *value);
    }
    config.create().expect("create consumer")
}

/// Assigns partitions `0..partitions` of `topic`, each from its first offset.
pub fn assign_from_beginning<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    partitions: i32,
) {
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .expect("add partition");
    }
    consumer.assign(&assignment).expect("assign");
}

/// Polls until `n` messages arrived or `timeout` passed and returns what arrived (check the length).
/// A consumer error fails the test at once: against a healthy broker there should be none.
pub fn consume_n<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    n: usize,
    timeout: Duration,
) -> Vec<OwnedMessage> {
    let deadline = Instant::now() + timeout;
    let mut messages = Vec::with_capacity(n);
    while messages.len() < n {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        match consumer.poll((deadline - now).min(Duration::from_millis(100))) {
            Some(Ok(message)) => messages.push(message.detach()),
            Some(Err(e)) => panic!(
                "consumer error after {} of {n} messages: {e}",
                messages.len()
            ),
            None => {}
        }
    }
    messages
}

/// One delivery report.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The opaque id the record was sent with.
    pub id: usize,
    pub partition: i32,
    /// The offset the broker assigned; negative when unknown (acks=0) or on failure.
    pub offset: i64,
    pub error: Option<KafkaError>,
}

/// Producer context that records every delivery report.
#[derive(Default)]
pub struct DeliveryLog {
    acked: AtomicUsize,
    failed: AtomicUsize,
    reports: Mutex<Vec<Delivery>>,
}

impl DeliveryLog {
    /// Number of successful delivery reports so far.
    pub fn acked(&self) -> usize {
        self.acked.load(Ordering::SeqCst)
    }

    /// Number of failed delivery reports so far.
    pub fn failed(&self) -> usize {
        self.failed.load(Ordering::SeqCst)
    }

    pub fn reports(&self) -> Vec<Delivery> {
        self.reports.lock().expect("reports lock").clone()
    }
}

impl ClientContext for DeliveryLog {}

impl ProducerContext for DeliveryLog {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, id: usize) {
        let report = match result {
            Ok(message) => Delivery {
                id,
                partition: message.partition(),
                offset: message.offset(),
                error: None,
            },
            Err((error, message)) => Delivery {
                id,
                partition: message.partition(),
                offset: message.offset(),
                error: Some(error.clone()),
            },
        };
        // Count after recording, so a reader that sees the count also finds the report.
        let ok = report.error.is_none();
        self.reports.lock().expect("reports lock").push(report);
        if ok {
            self.acked.fetch_add(1, Ordering::SeqCst);
        } else {
            self.failed.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Sends every message (its index is the delivery id), flushes, and panics unless all were delivered.
pub fn produce_all(producer: &TestProducer, topic: &str, messages: &[Msg]) -> Vec<Delivery> {
    for (id, message) in messages.iter().enumerate() {
        producer
            .send(message.record(topic, id))
            .map_err(|(e, _)| e)
            .unwrap_or_else(|e| panic!("enqueue message {id}: {e}"));
    }
    flush_delivered(producer, messages.len(), Duration::from_secs(30))
}

/// Flushes `producer` within `timeout` and returns its delivery reports in id order; panics unless there are
/// `expected` of them and none failed.
pub fn flush_delivered(
    producer: &TestProducer,
    expected: usize,
    timeout: Duration,
) -> Vec<Delivery> {
    producer
        .flush(timeout)
        .unwrap_or_else(|e| panic!("flush: {e} ({} acked)", producer.context().acked()));
    let mut reports = producer.context().reports();
    let failures: Vec<_> = reports
        .iter()
        .filter(|r| r.error.is_some())
        .take(5)
        .collect();
    assert!(
        failures.is_empty(),
        "delivery failures, first ones: {failures:?}"
    );
    assert_eq!(reports.len(), expected, "one delivery report per message");
    reports.sort_by_key(|r| r.id);
    reports
}

/// A message with every field the tests compare after a round trip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    pub partition: i32,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub timestamp: Timestamp,
}

/// First explicit timestamp [`Msg::sample`] uses; far from "now", so a broker that stamps its own time shows.
pub const SAMPLE_BASE_TIMESTAMP: i64 = 1_700_000_000_000;

impl Msg {
    /// Deterministic message `i` of a test set spread round-robin over `partitions`.
    ///
    /// The set mixes null and present keys and payloads, no headers, repeated header keys, null header values
    /// and binary bytes. Payloads are repetitive text, so every codec shrinks a batch and librdkafka keeps it
    /// compressed.
    pub fn sample(i: usize, partitions: i32) -> Msg {
        let key = (!i.is_multiple_of(50)).then(|| format!("key-{i}").into_bytes());
        let payload = (i % 97 != 1).then(|| {
            let unit = format!("payload {i} of the sluice compat suite; ");
            unit.repeat(1 + i % 9).into_bytes()
        });
        let headers = match i % 4 {
            0 => vec![],
            1 => vec![("trace".to_string(), Some(i.to_be_bytes().to_vec()))],
            2 => vec![
                ("dup".to_string(), Some(b"first".to_vec())),
                ("dup".to_string(), Some(b"second".to_vec())),
                ("null-value".to_string(), None),
            ],
            _ => vec![("binary".to_string(), Some((0..=255u8).collect()))],
        };
        Msg {
            partition: (i % partitions as usize) as i32,
            key,
            payload,
            headers,
            timestamp: Timestamp::CreateTime(SAMPLE_BASE_TIMESTAMP + 10 * i as i64),
        }
    }

    /// The record to send, with `id` as its delivery opaque.
    pub fn record<'a>(&'a self, topic: &'a str, id: usize) -> BaseRecord<'a, [u8], [u8], usize> {
        let mut record = BaseRecord::with_opaque_to(topic, id).partition(self.partition);
        if let Some(ts) = self.timestamp.to_millis() {
            record = record.timestamp(ts);
        }
        if let Some(key) = &self.key {
            record = record.key(key.as_slice());
        }
        if let Some(payload) = &self.payload {
            record = record.payload(payload.as_slice());
        }
        if !self.headers.is_empty() {
            let headers = self
                .headers
                .iter()
                .fold(OwnedHeaders::new(), |h, (key, value)| {
                    h.insert(Header {
                        key,
                        value: value.as_deref(),
                    })
                });
            record = record.headers(headers);
        }
        record
    }

    /// The comparable fields of a consumed message.
    pub fn from_message<M: Message>(message: &M) -> Msg {
        let headers = message
            .headers()
            .map(|headers| {
                (0..headers.count())
                    .map(|i| {
                        let header = headers.get(i);
                        (header.key.to_string(), header.value.map(<[u8]>::to_vec))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Msg {
            partition: message.partition(),
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().map(<[u8]>::to_vec),
            headers,
            timestamp: message.timestamp(),
        }
    }
}

/// Low and high watermarks of partitions `0..partitions`, as librdkafka's ListOffsets reports them.
pub fn watermarks<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    partitions: i32,
) -> Vec<(i64, i64)> {
    (0..partitions)
        .map(|p| {
            consumer
                .fetch_watermarks(topic, p, CLIENT_TIMEOUT)
                .unwrap_or_else(|e| panic!("ListOffsets {topic}/{p}: {e}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_listener_of_the_start_line() {
        let line = "INFO sluice: sluice started listen=127.0.0.1:1 listeners=A://127.0.0.1:1,B://[::1]:2 x=y";
        let found = parse_listeners(line);
        assert_eq!(found["A"], "127.0.0.1:1".parse().unwrap());
        assert_eq!(found["B"], "[::1]:2".parse().unwrap());
        assert!(parse_listeners("listen=127.0.0.1:1").is_empty());
    }

    #[test]
    fn parses_listen_in_common_log_shapes() {
        let addr: SocketAddr = "127.0.0.1:41234".parse().unwrap();
        for line in [
            "2024-01-01T00:00:00Z  INFO sluice: listening listen=127.0.0.1:41234 node_id=1",
            "INFO sluice::server: started listen=\"127.0.0.1:41234\"",
            "listen=127.0.0.1:41234",
            "x advertise=127.0.0.1:1 listen=127.0.0.1:41234, data_dir=/tmp",
        ] {
            assert_eq!(parse_listen(line), Some(addr), "{line}");
        }
        assert_eq!(parse_listen("listen_backlog=5"), None);
        assert_eq!(parse_listen("listen=not-an-address"), None);
    }
}
