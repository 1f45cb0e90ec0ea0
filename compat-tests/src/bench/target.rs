//! The broker under test and what `/proc` says about its process.
//!
//! A spawned broker goes through the harness's [`Broker`] (temporary data dir, `listen=` parsed from its
//! log, killed on drop). It is Sluice, or Apache Kafka through `compat-tests/kafka/run-kafka.sh`, which has
//! Sluice's command line ([`Kind`]). That script runs the JVM as its child and waits for it, so the process
//! the bench measures is not the one it started: [`server_pid`] finds the JVM among the script's descendants,
//! and CPU time and RSS are the JVM's, not bash's. Because a bench is often stopped with Ctrl-C, which skips destructors, every process
//! and temporary directory we create is also registered with [`Cleanup`]: the signal handler installed by
//! [`install_signal_handler`] SIGKILLs the processes and removes the directories before exiting.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use compat_tests::Broker;

/// How long an external broker may take to accept a connection and answer ApiVersions.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// How often [`Meter`] samples VmRSS (in addition to VmHWM, which it resets when it may).
const RSS_SAMPLE_EVERY: Duration = Duration::from_millis(10);

/// Processes and directories to remove if the bench is interrupted.
#[derive(Default)]
struct Cleanup {
    pids: Vec<u32>,
    dirs: Vec<PathBuf>,
}

fn cleanup() -> &'static Mutex<Cleanup> {
    static CLEANUP: OnceLock<Mutex<Cleanup>> = OnceLock::new();
    CLEANUP.get_or_init(Mutex::default)
}

fn register(pid: Option<u32>, dir: Option<PathBuf>) {
    let mut c = cleanup().lock().expect("cleanup lock");
    c.pids.extend(pid);
    c.dirs.extend(dir);
}

fn unregister(pid: u32) {
    cleanup()
        .lock()
        .expect("cleanup lock")
        .pids
        .retain(|p| *p != pid);
}

/// On SIGINT/SIGTERM: SIGKILL every broker we started, remove its data, exit 130.
pub fn install_signal_handler() -> Result<()> {
    ctrlc::set_handler(|| {
        eprintln!("sluice-bench: interrupted; stopping the brokers it started");
        let c = cleanup().lock().unwrap_or_else(|e| e.into_inner());
        for pid in &c.pids {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        for dir in &c.dirs {
            let _ = std::fs::remove_dir_all(dir);
        }
        std::process::exit(130);
    })
    .context("installing the SIGINT/SIGTERM handler")
}

/// Which broker a binary starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sluice,
    /// The reference Apache Kafka: `compat-tests/kafka/run-kafka.sh`, recognised by its file name (`run-kafka*`)
    /// as the compat harness does (`compat_tests::is_reference_kafka`).
    Kafka,
}

impl Kind {
    pub fn of(bin: &Path) -> Kind {
        let name = bin.file_name().map(|n| n.to_string_lossy().into_owned());
        if name.is_some_and(|n| n.starts_with("run-kafka")) {
            Kind::Kafka
        } else {
            Kind::Sluice
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Sluice => "Sluice",
            Kind::Kafka => "Apache Kafka",
        }
    }

    /// How long a fresh broker may take to list itself in Metadata (or to exit after SIGTERM): a JVM takes
    /// seconds, more on a busy machine.
    pub fn start_timeout(self) -> Duration {
        match self {
            Kind::Sluice => Duration::from_secs(15),
            Kind::Kafka => Duration::from_secs(120),
        }
    }
}

/// The broker the scenarios talk to.
pub struct Target {
    /// "Sluice", "Apache Kafka", or "external" for --bootstrap.
    pub name: String,
    pub bootstrap: String,
    /// The broker's process id, when we can see it: broker-cost metrics need it. For run-kafka.sh, the JVM's.
    pub pid: Option<u32>,
    /// The process the bench started, when it is not `pid` itself (run-kafka.sh, whose child is the JVM).
    pub launcher_pid: Option<u32>,
    /// The binary the bench started, if it started one.
    pub bin: Option<PathBuf>,
    /// The spawned broker; dropping it kills the process and removes its data.
    broker: Option<Broker>,
}

impl Target {
    /// Starts `bin` on 127.0.0.1:0 (or on `config`'s listeners) with a fresh data directory, through the compat
    /// harness; clients bootstrap through `listener`, or the first listener.
    pub fn spawn(bin: &Path, config: Option<&str>, listener: Option<&str>) -> Result<Target> {
        check_binary(bin)?;
        let kind = Kind::of(bin);
        // The harness reads the binary from $SLUICE_BIN or target/release; point it at ours. (A name starting with
        // run-kafka also gives the harness its longer start-up timeout.)
        std::env::set_var("SLUICE_BIN", bin);
        // The harness panics with the broker's last log lines when it cannot start; turn that into an error.
        // A broker of its own, also against Kafka: the bench reads its process and data directory.
        let broker = std::panic::catch_unwind(|| match config {
            Some(yaml) => Broker::start_own_with(yaml),
            None => Broker::start_own(),
        })
        .map_err(|panic| anyhow!("starting {}: {}", bin.display(), panic_text(&*panic)))?;
        let bootstrap = match listener {
            Some(name) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                broker.listener(name).to_string()
            }))
            .map_err(|panic| anyhow!("--listener {name}: {}", panic_text(&*panic)))?,
            None => broker.bootstrap(),
        };
        let launcher = broker.pid();
        register(
            Some(launcher),
            broker.data_dir().parent().map(Path::to_path_buf),
        );
        // run-kafka.sh prints `listen=` once Kafka serves clients, so its JVM is running by now.
        let pid = server_pid(launcher);
        if kind == Kind::Kafka && pid == launcher {
            bail!(
                "{} started, but no `java` process among its descendants: broker CPU and RSS would be the \
                 script's",
                bin.display()
            );
        }
        if pid != launcher {
            register(Some(pid), None);
        }
        Ok(Target {
            name: kind.name().to_string(),
            bootstrap,
            pid: Some(pid),
            launcher_pid: (pid != launcher).then_some(launcher),
            bin: Some(bin.to_path_buf()),
            broker: Some(broker),
        })
    }

    /// A broker someone else started; `pid` (if given) must be its process on this machine. Fails at once
    /// unless the broker answers ApiVersions, rather than letting every case time out.
    pub fn external(bootstrap: String, pid: Option<u32>) -> Result<Target> {
        if let Some(pid) = pid {
            if !Path::new(&format!("/proc/{pid}/stat")).exists() {
                bail!("--broker-pid {pid}: no such process on this machine");
            }
        }
        let addr = resolve(&bootstrap)?;
        let mut stream = TcpStream::connect_timeout(&addr, START_TIMEOUT)
            .with_context(|| format!("connecting to --bootstrap {bootstrap}"))?;
        stream.set_read_timeout(Some(START_TIMEOUT))?;
        api_versions_round_trip(&mut stream, 1)
            .with_context(|| format!("ApiVersions to --bootstrap {bootstrap}"))?;
        Ok(Target {
            name: "external".to_string(),
            bootstrap,
            pid,
            launcher_pid: None,
            bin: None,
            broker: None,
        })
    }

    pub fn spawned(&self) -> bool {
        self.broker.is_some()
    }

    /// The spawned broker's data directory.
    pub fn data_dir(&self) -> Option<PathBuf> {
        self.broker.as_ref().map(Broker::data_dir)
    }

    /// Fails, with the broker's last log lines, if the process we watch has exited.
    pub fn ensure_alive(&mut self) -> Result<()> {
        if let Some(broker) = &mut self.broker {
            let server_gone = self.launcher_pid.is_some() && self.pid.and_then(proc_stat).is_none();
            if !broker.is_running() || server_gone {
                bail!(
                    "the broker process died; last log lines:\n{}",
                    broker.logs()
                );
            }
        } else if let Some(pid) = self.pid {
            if proc_stat(pid).is_none() {
                bail!("the broker process {pid} is gone");
            }
        }
        Ok(())
    }

    /// Stops the spawned broker now (SIGKILL) and removes its data.
    pub fn stop(&mut self) {
        if let Some(broker) = self.broker.take() {
            // A launcher's JVM first: dropping the harness's Broker SIGKILLs the launcher only (run-kafka.sh's
            // watchdog would kill the JVM within 0.1 s, but the data directory is removed at once).
            if let (Some(_), Some(pid)) = (self.launcher_pid, self.pid) {
                kill_and_wait(pid);
                unregister(pid);
            }
            let launcher = broker.pid();
            drop(broker);
            unregister(launcher);
        }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The first address `host:port` resolves to.
pub fn resolve(host_port: &str) -> Result<SocketAddr> {
    host_port
        .to_socket_addrs()
        .with_context(|| format!("resolving {host_port}"))?
        .next()
        .ok_or_else(|| anyhow!("{host_port} resolves to no address"))
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "the harness panicked".to_string())
}

pub fn check_binary(bin: &Path) -> Result<()> {
    if !bin.is_file() {
        bail!(
            "sluice binary not found at {}: run `cargo build --release -p sluice`, set SLUICE_BIN, or pass \
             --bootstrap HOST:PORT",
            bin.display()
        );
    }
    Ok(())
}

/// `sluice --version`, or for run-kafka.sh the Kafka version its pom pins, for the report header.
pub fn binary_version(bin: &Path) -> Option<String> {
    if Kind::of(bin) == Kind::Kafka {
        let pom = bin.parent()?.join("../java/pom.xml");
        let pom = std::fs::read_to_string(pom).ok()?;
        let start = pom.find("<kafka.version>")? + "<kafka.version>".len();
        let end = start + pom[start..].find('<')?;
        return Some(format!("Apache Kafka {}", pom[start..end].trim()));
    }
    let out = Command::new(bin).arg("--version").output().ok()?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// SIGKILLs `pid` and waits (up to 5 s) until it is gone or a zombie (a process we did not start cannot be
/// reaped here; its parent does that).
fn kill_and_wait(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .stderr(Stdio::null())
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        match proc_stat(pid).and_then(|stat| parse_stat(&stat)) {
            Some(stat) if stat.state != 'Z' => thread::sleep(Duration::from_millis(5)),
            _ => return,
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// /proc

fn clock_ticks_per_second() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

fn proc_stat(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()
}

/// The fields of `/proc/<pid>/stat` the bench uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// The command name (at most 15 bytes: `java`, `run-kafka.sh`, `sluice`).
    pub comm: String,
    pub state: char,
    pub ppid: u32,
}

/// Parses `/proc/<pid>/stat`: "1234 (comm) S 1200 ...". The command name may itself contain spaces and
/// parentheses, so it runs to the last ')'.
pub fn parse_stat(stat: &str) -> Option<Stat> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_string();
    let mut rest = stat[close + 1..].split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some(Stat { comm, state, ppid })
}

/// The `java` processes among the descendants of `root`, given every process as (pid, stat), nearest first.
pub fn java_descendants(root: u32, processes: &[(u32, Stat)]) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for (pid, stat) in processes {
        children.entry(stat.ppid).or_default().push(*pid);
    }
    let comm: HashMap<u32, &str> = processes
        .iter()
        .map(|(pid, stat)| (*pid, stat.comm.as_str()))
        .collect();
    let mut found = Vec::new();
    let mut queue = std::collections::VecDeque::from([root]);
    while let Some(pid) = queue.pop_front() {
        for child in children.get(&pid).into_iter().flatten() {
            if comm.get(child) == Some(&"java") {
                found.push(*child);
            }
            queue.push_back(*child);
        }
    }
    found
}

/// The process that does the work of a broker the bench started as `pid`: `pid` itself, unless it has `java`
/// descendants (run-kafka.sh runs `java ... kafka.Kafka` as its child and waits for it), in which case the
/// JVM with the largest RSS among them (there is one once Kafka is up: the storage-format JVM has exited by
/// then). Every process in `/proc` is read, since `/proc/<pid>/task/*/children` is not always compiled in.
pub fn server_pid(pid: u32) -> u32 {
    let processes: Vec<(u32, Stat)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let p: u32 = entry.file_name().to_str()?.parse().ok()?;
            Some((p, parse_stat(&proc_stat(p)?)?))
        })
        .collect();
    java_descendants(pid, &processes)
        .into_iter()
        .max_by_key(|jvm| status_bytes(*jvm, "VmRSS").unwrap_or(0))
        .unwrap_or(pid)
}

/// User + system CPU seconds of a process, or `None` if it is gone.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = proc_stat(pid)?;
    // The command name (field 2) is in parentheses and may contain spaces: count fields after the last ')'.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    // utime and stime are fields 14 and 15 of proc(5); fields[0] is field 3.
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / clock_ticks_per_second())
}

/// A `kB` line of `/proc/<pid>/status` (VmRSS, VmHWM), in bytes.
pub fn status_bytes(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line[key.len()..]
        .trim_start_matches(':')
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Resets the process's VmHWM to its current RSS (`echo 5 > /proc/<pid>/clear_refs`, Linux 4.0+; needs
/// the same user). Returns whether it worked.
fn reset_hwm(pid: u32) -> bool {
    std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/{pid}/clear_refs"))
        .and_then(|mut f| f.write_all(b"5"))
        .is_ok()
}

/// What the broker spent on one case.
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    pub cpu_seconds: f64,
    pub peak_rss_bytes: u64,
    /// CPU seconds of this bench process (the clients) over the same span: near 1 s per second of wall
    /// time per busy client thread means the client, not the broker, may be the limit.
    pub client_cpu_seconds: f64,
    pub wall_seconds: f64,
}

/// Measures the broker's CPU time and peak RSS between [`Meter::start`] and [`Meter::finish`].
///
/// Peak RSS is the larger of VmHWM (reset at the start, when the kernel lets us) and VmRSS sampled every
/// 10 ms: the sampler alone would miss short spikes, VmHWM alone is the process lifetime peak when it cannot
/// be reset.
pub struct Meter {
    pid: u32,
    cpu_start: f64,
    client_cpu_start: f64,
    started: std::time::Instant,
    hwm_reset: bool,
    stop: Arc<AtomicBool>,
    sampler: Option<JoinHandle<u64>>,
}

impl Meter {
    /// `None` when we have no broker process to watch.
    pub fn start(pid: Option<u32>) -> Option<Meter> {
        let pid = pid?;
        let cpu_start = cpu_seconds(pid)?;
        let client_cpu_start = cpu_seconds(std::process::id()).unwrap_or(0.0);
        let hwm_reset = reset_hwm(pid);
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut peak = 0;
                loop {
                    peak = peak.max(status_bytes(pid, "VmRSS").unwrap_or(0));
                    if stop.load(Ordering::Relaxed) {
                        return peak;
                    }
                    thread::sleep(RSS_SAMPLE_EVERY);
                }
            })
        };
        Some(Meter {
            pid,
            cpu_start,
            client_cpu_start,
            started: Instant::now(),
            hwm_reset,
            stop,
            sampler: Some(sampler),
        })
    }

    pub fn finish(mut self) -> Option<Cost> {
        self.stop.store(true, Ordering::Relaxed);
        let sampled = self.sampler.take()?.join().unwrap_or(0);
        let hwm = if self.hwm_reset {
            status_bytes(self.pid, "VmHWM").unwrap_or(0)
        } else {
            0
        };
        Some(Cost {
            cpu_seconds: cpu_seconds(self.pid)? - self.cpu_start,
            peak_rss_bytes: sampled.max(hwm),
            client_cpu_seconds: cpu_seconds(std::process::id()).unwrap_or(0.0)
                - self.client_cpu_start,
            wall_seconds: self.started.elapsed().as_secs_f64(),
        })
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

// ---------------------------------------------------------------------------------------------------------
// Start-up probe and raw requests

/// A request frame: length, request header v1 (api key, version, correlation id, client id), `body`.
fn request_frame(api_key: i16, version: i16, correlation: i32, body: &[u8]) -> Vec<u8> {
    const CLIENT_ID: &[u8] = b"sluice-bench";
    let mut message = Vec::with_capacity(32 + body.len());
    message.extend_from_slice(&api_key.to_be_bytes());
    message.extend_from_slice(&version.to_be_bytes());
    message.extend_from_slice(&correlation.to_be_bytes());
    message.extend_from_slice(&(CLIENT_ID.len() as i16).to_be_bytes());
    message.extend_from_slice(CLIENT_ID);
    message.extend_from_slice(body);
    let mut frame = (message.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&message);
    frame
}

/// An ApiVersions v0 request frame (request header v1, empty body).
pub fn api_versions_frame(correlation: i32) -> Vec<u8> {
    request_frame(18, 0, correlation, &[])
}

/// Sends `frame` and reads the whole response; checks the correlation id and returns what follows it.
fn round_trip(
    stream: &mut TcpStream,
    frame: &[u8],
    correlation: i32,
    what: &str,
) -> Result<Vec<u8>> {
    stream
        .write_all(frame)
        .with_context(|| format!("writing {what}"))?;
    let mut len = [0u8; 4];
    stream
        .read_exact(&mut len)
        .with_context(|| format!("reading the {what} response length"))?;
    let len = i32::from_be_bytes(len);
    if !(6..=1 << 20).contains(&len) {
        bail!("{what} response frame length {len}");
    }
    let mut body = vec![0u8; len as usize];
    stream
        .read_exact(&mut body)
        .with_context(|| format!("reading the {what} response"))?;
    let got = i32::from_be_bytes(body[0..4].try_into().expect("4 bytes"));
    if got != correlation {
        bail!("{what} answer: correlation id {got} (sent {correlation})");
    }
    Ok(body.split_off(4))
}

/// Sends ApiVersions v0 on `stream` and reads the whole response frame; checks its correlation id and
/// error code. The stream must have a read timeout.
pub fn api_versions_round_trip(stream: &mut TcpStream, correlation: i32) -> Result<()> {
    let body = round_trip(
        stream,
        &api_versions_frame(correlation),
        correlation,
        "ApiVersions",
    )?;
    let error = i16::from_be_bytes(body[0..2].try_into().expect("2 bytes"));
    if error != 0 {
        bail!("ApiVersions answer: error code {error}");
    }
    Ok(())
}

/// How many brokers a Metadata v1 answer for no topics lists (its body starts with the brokers array).
/// Kafka answers before its broker has registered with its controller, with none; it can take produce
/// requests once it lists itself. (Metadata v1, as run-kafka.sh's readiness probe sends: Kafka 4 still
/// accepts it.)
pub fn metadata_broker_count(stream: &mut TcpStream, correlation: i32) -> Result<i32> {
    let no_topics = 0i32.to_be_bytes();
    let body = round_trip(
        stream,
        &request_frame(3, 1, correlation, &no_topics),
        correlation,
        "Metadata",
    )?;
    Ok(i32::from_be_bytes(
        body.get(0..4)
            .ok_or_else(|| anyhow!("short Metadata answer"))?
            .try_into()
            .expect("4 bytes"),
    ))
}

/// One start-up of a fresh broker, and a restart of it.
#[derive(Debug, Clone, Copy)]
pub struct Startup {
    /// From `spawn()` to the first TCP connect that succeeds.
    pub connect: Duration,
    /// From `spawn()` to the first ApiVersions answer (on that connection).
    pub api_versions: Duration,
    /// From `spawn()` to the first Metadata answer that lists a broker: a client can produce from then on.
    pub ready: Duration,
    /// From `spawn()` of a second process on the same (now initialised) data directory, after the first
    /// exited on SIGTERM, to the first Metadata answer that lists a broker. For Kafka this leaves out
    /// formatting the data directory, which a fresh start includes.
    pub restart_ready: Duration,
    /// VmRSS of the broker process (the JVM for run-kafka.sh) [`IDLE_SETTLE`] after it was ready.
    pub idle_rss_bytes: u64,
}

/// How long a started broker idles before its RSS counts as "idle RSS".
pub const IDLE_SETTLE: Duration = Duration::from_millis(500);

/// The connect and request retry interval of the start-up probe: 100 µs for the first 100 ms, 1 ms up to a
/// second, then 5 ms, so that polling a JVM that takes seconds to start does not slow it down.
fn probe_pause(since_spawn: Duration) -> Duration {
    if since_spawn < Duration::from_millis(100) {
        Duration::from_micros(100)
    } else if since_spawn < Duration::from_secs(1) {
        Duration::from_millis(1)
    } else {
        Duration::from_millis(5)
    }
}

/// Starts `bin` on a fresh data dir and a port we picked (so we can connect before it logs anything), times it
/// to the first connect, ApiVersions answer and Metadata answer listing a broker, reads its idle RSS, then stops
/// it with SIGTERM and times a restart on the same data dir. The harness's `Broker` cannot measure this: it
/// learns the port from the log line, after the listener exists.
pub fn probe_startup(bin: &Path) -> Result<Startup> {
    let kind = Kind::of(bin);
    let dir = tempfile::Builder::new()
        .prefix("sluice-bench-startup-")
        .tempdir()
        .context("creating a temp dir")?;
    register(None, Some(dir.path().to_path_buf()));
    let data = dir.path().join("data");
    std::fs::create_dir(&data)?;
    let log_path = dir.path().join("stderr.log");

    let mut first = ProbedProcess::spawn(bin, &data, &log_path)?;
    let result = (|| -> Result<Startup> {
        let (connect, api_versions, ready) = first.wait_until_ready(kind.start_timeout())?;
        thread::sleep(IDLE_SETTLE);
        let server = server_pid(first.child.id());
        let idle_rss_bytes =
            status_bytes(server, "VmRSS").ok_or_else(|| anyhow!("broker exited while idle"))?;
        first.terminate(kind.start_timeout())?;
        let mut second = ProbedProcess::spawn(bin, &data, &log_path)?;
        let restarted = second.wait_until_ready(kind.start_timeout());
        second.kill();
        let (_, _, restart_ready) = restarted.context("restart on the same data dir")?;
        Ok(Startup {
            connect,
            api_versions,
            ready,
            restart_ready,
            idle_rss_bytes,
        })
    })();
    first.kill();
    result.map_err(|e| {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        anyhow!(
            "start-up probe of {}: {e:#}; broker log:\n{log}",
            bin.display()
        )
    })
}

/// A broker the start-up probe spawned on a port it picked.
struct ProbedProcess {
    child: std::process::Child,
    addr: SocketAddr,
    spawned: Instant,
    done: bool,
}

impl ProbedProcess {
    fn spawn(bin: &Path, data: &Path, log_path: &Path) -> Result<ProbedProcess> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)?;
        // Bind port 0, note the port, release it: another process could take it in between, which would show as
        // an error below, not as a wrong number.
        let addr: SocketAddr = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let spawned = Instant::now();
        let child = Command::new(bin)
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--data-dir")
            .arg(data)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("spawning {}", bin.display()))?;
        register(Some(child.id()), None);
        Ok(ProbedProcess {
            child,
            addr,
            spawned,
            done: false,
        })
    }

    /// Polls until the broker accepts a connection, answers ApiVersions and lists a broker in Metadata;
    /// returns the three times from `spawn()`. A connection the broker drops while starting is opened again.
    fn wait_until_ready(&mut self, timeout: Duration) -> Result<(Duration, Duration, Duration)> {
        let deadline = self.spawned + timeout;
        let mut connect = None;
        let mut api_versions = None;
        let mut correlation = 0;
        loop {
            let last_error =
                match self.try_ready(deadline, &mut connect, &mut api_versions, &mut correlation) {
                    Ok(Some(ready)) => {
                        return Ok((
                            connect.expect("connected"),
                            api_versions.expect("answered"),
                            ready,
                        ))
                    }
                    Ok(None) => "Metadata lists no broker yet".to_string(),
                    Err(e) => format!("{e:#}"),
                };
            if let Some(status) = self.child.try_wait()? {
                bail!("broker exited during start-up ({status})");
            }
            if Instant::now() >= deadline {
                bail!(
                    "not ready on {} within {timeout:?}: {last_error}",
                    self.addr
                );
            }
            thread::sleep(probe_pause(self.spawned.elapsed()));
        }
    }

    /// One connection's worth of polling: connect, ApiVersions once, then Metadata until it lists a broker.
    /// `Ok(None)` when the deadline passed with Metadata listing none.
    fn try_ready(
        &self,
        deadline: Instant,
        connect: &mut Option<Duration>,
        api_versions: &mut Option<Duration>,
        correlation: &mut i32,
    ) -> Result<Option<Duration>> {
        let mut stream = TcpStream::connect_timeout(&self.addr, Duration::from_millis(100))?;
        connect.get_or_insert_with(|| self.spawned.elapsed());
        stream.set_nodelay(true)?;
        // A JVM can accept (the kernel does, into the backlog) long before it reads: wait up to the deadline.
        let left = deadline.saturating_duration_since(Instant::now());
        stream.set_read_timeout(Some(left.max(Duration::from_millis(100))))?;
        *correlation += 1;
        api_versions_round_trip(&mut stream, *correlation)?;
        api_versions.get_or_insert_with(|| self.spawned.elapsed());
        loop {
            *correlation += 1;
            if metadata_broker_count(&mut stream, *correlation)? > 0 {
                return Ok(Some(self.spawned.elapsed()));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            thread::sleep(probe_pause(self.spawned.elapsed()));
        }
    }

    /// SIGTERM, and waits for the exit (run-kafka.sh then stops Kafka cleanly and exits 0).
    fn terminate(&mut self, timeout: Duration) -> Result<()> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + timeout;
        while self.child.try_wait()?.is_none() {
            if Instant::now() >= deadline {
                bail!("still running {timeout:?} after SIGTERM");
            }
            thread::sleep(Duration::from_millis(5));
        }
        self.kill();
        Ok(())
    }

    /// SIGKILLs the broker (a launcher's JVM first) and reaps it.
    fn kill(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        let pid = self.child.id();
        let server = server_pid(pid);
        if server != pid {
            kill_and_wait(server);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        unregister(pid);
    }
}

impl Drop for ProbedProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse_with_odd_command_names() {
        let stat = "4242 (java) S 4200 4242 17 0 -1 4194560 123 0 0 0 5 3 0 0 20 0 60 0 1234";
        assert_eq!(
            parse_stat(stat),
            Some(Stat {
                comm: "java".into(),
                state: 'S',
                ppid: 4200
            })
        );
        // The name runs to the last ')', whatever it contains.
        let odd = "7 (a) b (c) R 1 7 7 0";
        assert_eq!(
            parse_stat(odd).map(|s| (s.comm, s.state, s.ppid)),
            Some(("a) b (c".into(), 'R', 1))
        );
        assert_eq!(parse_stat("7 (truncated"), None);
        assert_eq!(parse_stat("7 (x) S notapid"), None);
    }

    #[test]
    fn the_jvm_is_found_under_its_launcher() {
        let p = |comm: &str, ppid: u32| Stat {
            comm: comm.into(),
            state: 'S',
            ppid,
        };
        // run-kafka.sh (100) -> java (101), and its watchdog subshell (102) -> sleep (103); an unrelated JVM (201).
        let processes = vec![
            (100, p("run-kafka.sh", 1)),
            (101, p("java", 100)),
            (102, p("run-kafka.sh", 100)),
            (103, p("sleep", 102)),
            (200, p("bash", 1)),
            (201, p("java", 200)),
        ];
        assert_eq!(java_descendants(100, &processes), vec![101]);
        // Sluice itself has no JVM below it: the bench measures the process it started.
        assert_eq!(java_descendants(300, &processes), Vec::<u32>::new());
        // A JVM further down (a wrapper of a wrapper) is found too.
        let deeper = vec![(10, p("sh", 1)), (11, p("bash", 10)), (12, p("java", 11))];
        assert_eq!(java_descendants(10, &deeper), vec![12]);
    }

    #[test]
    fn kinds_follow_the_file_name() {
        assert_eq!(
            Kind::of(Path::new("compat-tests/kafka/run-kafka.sh")),
            Kind::Kafka
        );
        assert_eq!(Kind::of(Path::new("target/release/sluice")), Kind::Sluice);
    }

    #[test]
    fn request_frames_carry_their_length_and_header() {
        let frame = request_frame(3, 1, 7, &0i32.to_be_bytes());
        let len = i32::from_be_bytes(frame[0..4].try_into().unwrap()) as usize;
        assert_eq!(len, frame.len() - 4);
        assert_eq!(&frame[4..6], &3i16.to_be_bytes());
        assert_eq!(&frame[6..8], &1i16.to_be_bytes());
        assert_eq!(&frame[8..12], &7i32.to_be_bytes());
        assert_eq!(&frame[frame.len() - 4..], &[0, 0, 0, 0]);
        assert_eq!(
            api_versions_frame(1).len(),
            4 + 2 + 2 + 4 + 2 + "sluice-bench".len()
        );
    }
}
