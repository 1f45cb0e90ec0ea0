//! The broker under test and what `/proc` says about its process.
//!
//! A spawned broker goes through the harness's [`Broker`] (temporary data dir, `listen=` parsed from its
//! log, killed on drop). Because a bench is often stopped with Ctrl-C, which skips destructors, every process
//! and temporary directory we create is also registered with [`Cleanup`]: the signal handler installed by
//! [`install_signal_handler`] SIGKILLs the processes and removes the directories before exiting.

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

/// How long a spawned broker may take to accept a connection and answer ApiVersions.
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

/// The broker the scenarios talk to.
pub struct Target {
    pub bootstrap: String,
    /// The broker's process id, when we can see it: broker-cost metrics need it.
    pub pid: Option<u32>,
    /// The spawned broker; dropping it kills the process and removes its data.
    broker: Option<Broker>,
}

impl Target {
    /// Starts `bin` on 127.0.0.1:0 with a fresh data directory, through the compat harness.
    pub fn spawn(bin: &Path) -> Result<Target> {
        check_binary(bin)?;
        // The harness reads the binary from $SLUICE_BIN or target/release; point it at ours.
        std::env::set_var("SLUICE_BIN", bin);
        // The harness panics with the broker's last log lines when it cannot start; turn that into an error.
        let broker = std::panic::catch_unwind(Broker::start)
            .map_err(|panic| anyhow!("starting {}: {}", bin.display(), panic_text(&*panic)))?;
        register(
            Some(broker.pid()),
            broker.data_dir().parent().map(Path::to_path_buf),
        );
        Ok(Target {
            bootstrap: broker.bootstrap(),
            pid: Some(broker.pid()),
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
            bootstrap,
            pid,
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
            if !broker.is_running() {
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
            let pid = broker.pid();
            drop(broker);
            unregister(pid);
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

/// `sluice --version`, for the report header.
pub fn binary_version(bin: &Path) -> Option<String> {
    let out = Command::new(bin).arg("--version").output().ok()?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
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
// Start-up probe and raw ApiVersions

/// An ApiVersions v0 request frame (request header v1, empty body).
pub fn api_versions_frame(correlation: i32) -> Vec<u8> {
    const CLIENT_ID: &[u8] = b"sluice-bench";
    let mut body = Vec::with_capacity(32);
    body.extend_from_slice(&18i16.to_be_bytes()); // api key: ApiVersions
    body.extend_from_slice(&0i16.to_be_bytes()); // version 0
    body.extend_from_slice(&correlation.to_be_bytes());
    body.extend_from_slice(&(CLIENT_ID.len() as i16).to_be_bytes());
    body.extend_from_slice(CLIENT_ID);
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    frame
}

/// Sends ApiVersions v0 on `stream` and reads the whole response frame; checks its correlation id and
/// error code. The stream must have a read timeout.
pub fn api_versions_round_trip(stream: &mut TcpStream, correlation: i32) -> Result<()> {
    stream
        .write_all(&api_versions_frame(correlation))
        .context("writing ApiVersions")?;
    let mut len = [0u8; 4];
    stream
        .read_exact(&mut len)
        .context("reading the ApiVersions response length")?;
    let len = i32::from_be_bytes(len);
    if !(6..=1 << 20).contains(&len) {
        bail!("ApiVersions response frame length {len}");
    }
    let mut body = vec![0u8; len as usize];
    stream
        .read_exact(&mut body)
        .context("reading the ApiVersions response")?;
    let got = i32::from_be_bytes(body[0..4].try_into().expect("4 bytes"));
    let error = i16::from_be_bytes(body[4..6].try_into().expect("2 bytes"));
    if got != correlation || error != 0 {
        bail!("ApiVersions answer: correlation id {got} (sent {correlation}), error code {error}");
    }
    Ok(())
}

/// One start-up of a fresh broker.
#[derive(Debug, Clone, Copy)]
pub struct Startup {
    /// From `spawn()` to the first TCP connect that succeeds.
    pub connect: Duration,
    /// From `spawn()` to the first ApiVersions answer (on that connection).
    pub api_versions: Duration,
    /// VmRSS after the answer and [`IDLE_SETTLE`] of idling.
    pub idle_rss_bytes: u64,
}

/// How long a started broker idles before its RSS counts as "idle RSS".
pub const IDLE_SETTLE: Duration = Duration::from_millis(500);

/// Starts `bin` on a fresh data dir and a port we picked (so we can connect before it logs anything), and
/// polls connect() until it succeeds. The harness's `Broker` cannot measure this: it learns the port from the
/// log line, after the listener exists.
pub fn probe_startup(bin: &Path) -> Result<Startup> {
    let dir = tempfile::Builder::new()
        .prefix("sluice-bench-startup-")
        .tempdir()
        .context("creating a temp dir")?;
    register(None, Some(dir.path().to_path_buf()));
    let data = dir.path().join("data");
    std::fs::create_dir(&data)?;
    let log_path = dir.path().join("stderr.log");
    let log = std::fs::File::create(&log_path)?;
    // Bind port 0, note the port, release it: another process could take it in between, which would show as
    // an error below, not as a wrong number.
    let addr: SocketAddr = TcpListener::bind("127.0.0.1:0")?.local_addr()?;

    let spawned = Instant::now();
    let mut child = Command::new(bin)
        .arg("--listen")
        .arg(addr.to_string())
        .arg("--data-dir")
        .arg(&data)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("spawning {}", bin.display()))?;
    register(Some(child.id()), None);
    let result = (|| -> Result<Startup> {
        let deadline = spawned + START_TIMEOUT;
        let mut stream = loop {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
                Ok(stream) => break stream,
                Err(e) => {
                    if let Some(status) = child.try_wait()? {
                        bail!("broker exited during start-up ({status})");
                    }
                    if Instant::now() >= deadline {
                        bail!("no TCP connect to {addr} within {START_TIMEOUT:?}: {e}");
                    }
                    thread::sleep(Duration::from_micros(100));
                }
            }
        };
        let connect = spawned.elapsed();
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(START_TIMEOUT))?;
        api_versions_round_trip(&mut stream, 1)?;
        let api_versions = spawned.elapsed();
        thread::sleep(IDLE_SETTLE);
        let idle_rss_bytes =
            status_bytes(child.id(), "VmRSS").ok_or_else(|| anyhow!("broker exited while idle"))?;
        Ok(Startup {
            connect,
            api_versions,
            idle_rss_bytes,
        })
    })();
    let _ = child.kill();
    let _ = child.wait();
    unregister(child.id());
    result.map_err(|e| {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        anyhow!(
            "start-up probe of {}: {e:#}; broker log:\n{log}",
            bin.display()
        )
    })
}
