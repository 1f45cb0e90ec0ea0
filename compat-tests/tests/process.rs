//! The broker as a process: it survives its log pipe going away.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use compat_tests::sluice_bin;

/// `sluice 2>&1 | head` closes the log pipe early; the broker must keep serving and still stop
/// cleanly (exit 0) on SIGTERM instead of panicking on the failed log write.
#[test]
fn closed_stderr_does_not_kill_the_broker() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(sluice_bin())
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sluice");
    // Sluice's first line is its `listen=` line; the reference Kafka's wrapper (run-kafka.sh) logs a few lines
    // before it, so read up to that line, whichever it is.
    let mut reader = BufReader::new(child.stderr.take().unwrap());
    let mut read = String::new();
    while !read.contains("listen=") {
        let n = reader.read_line(&mut read).unwrap();
        assert!(n > 0, "stderr closed before a `listen=` line: {read}");
    }
    // The reader (and with it the pipe's read end) is dropped here.
    drop(reader);
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(code) = child.try_wait().unwrap() {
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
