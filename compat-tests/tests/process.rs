//! The broker as a process: it survives its log pipe going away.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use compat_tests::{
    assign_from_beginning, consume_n, consumer, create_topic, parse_listen, produce_all, producer,
    sluice_bin, unique_topic, Msg,
};

/// Kills the broker if the test fails before it stops it, so a failure leaves no process behind.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// `sluice 2>&1 | head` closes the log pipe early; the broker must keep serving and still stop
/// cleanly (exit 0) on SIGTERM instead of panicking on the failed log write.
#[test]
fn closed_stderr_does_not_kill_the_broker() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Running(
        Command::new(sluice_bin())
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            // Sluice then logs every connection and request: the requests below write into the closed pipe.
            .env("RUST_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sluice"),
    );
    // Sluice's first line is its `listen=` line; the reference Kafka's wrapper (run-kafka.sh) logs a few lines
    // before it, so read up to that line, whichever it is.
    let mut reader = BufReader::new(child.0.stderr.take().unwrap());
    let mut read = String::new();
    let addr = loop {
        let n = reader.read_line(&mut read).unwrap();
        assert!(n > 0, "stderr closed before a `listen=` line: {read}");
        if let Some(addr) = read.lines().find_map(parse_listen) {
            break addr;
        }
    };
    // The reader (and with it the pipe's read end) is dropped here.
    drop(reader);

    // Still serving: a topic created, records produced and read back, all logged into the closed pipe.
    let bootstrap = addr.to_string();
    let topic = unique_topic("after-stderr-closed");
    create_topic(&bootstrap, &topic, 1);
    let sent: Vec<Msg> = (0..20).map(|i| Msg::sample(i, 1)).collect();
    let reports = produce_all(&producer(&bootstrap, &[]), &topic, &sent);
    let offsets: Vec<i64> = reports.iter().map(|r| r.offset).collect();
    assert_eq!(
        offsets,
        (0..20).collect::<Vec<i64>>(),
        "offsets acknowledged"
    );
    let consumer = consumer(&bootstrap, &[]);
    assign_from_beginning(&consumer, &topic, 1);
    let received: Vec<Msg> = consume_n(&consumer, sent.len(), Duration::from_secs(30))
        .iter()
        .map(Msg::from_message)
        .collect();
    assert_eq!(received, sent, "records read back after stderr closed");
    drop(consumer);

    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(code) = child.0.try_wait().unwrap() {
            assert_eq!(code.code(), Some(0), "exit status {code:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "broker did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
