//! A full disk (issue #14, item 9): produce until the broker refuses with KAFKA_STORAGE_ERROR, then
//! every acknowledged record must still be served, also after a restart on a disk with no byte
//! free, and writes must resume once space returns.
//!
//! The data dir is a 32 MiB tmpfs mounted for the test, which needs root (CI runs as root); where
//! mounting is refused the test says so and passes without running. Sluice only: the mount goes
//! inside the data dir the harness gives the broker, which the reference script manages itself, and
//! the resumption without a restart relies on Sluice's `min_free_bytes` reserve (Kafka takes a log
//! dir offline on its first failed write; see FINDINGS.md).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use compat_tests::rdkafka::producer::Producer;
use compat_tests::rdkafka::types::RDKafkaErrorCode;
use compat_tests::rdkafka::Timestamp;
use compat_tests::{
    assign_from_beginning, consume_n, consumer, create_topic, is_reference_kafka, now_ms, producer,
    unique_topic, Broker, Msg,
};

const RESERVE: u64 = 4 * 1024 * 1024;

/// Unmounts the tmpfs when the test ends, however it ends.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(at: &Path, size: &str) -> Option<Mount> {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then(|| Mount(at.to_path_buf()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills what is left of the filesystem at `dir` with a file; returns its path.
fn fill(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let _ = Command::new("dd")
        .arg("if=/dev/zero")
        .arg(format!("of={}", path.display()))
        .arg("bs=4k")
        .stderr(std::process::Stdio::null())
        .status();
    path
}

/// Sends `n` 1 KB records one after the other (no retries) and returns how many were acknowledged
/// and the errors of the others.
fn produce(bootstrap: &str, topic: &str, n: usize) -> (usize, Vec<RDKafkaErrorCode>) {
    let p = producer(
        bootstrap,
        &[
            ("acks", "all"),
            ("retries", "0"),
            ("enable.idempotence", "false"),
            ("linger.ms", "5"),
            ("compression.type", "none"),
        ],
    );
    // Bytes that do not compress, so the disk fills at the rate records are sent.
    let payload = (0..1000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let msg = Msg {
        payload: Some(payload),
        // Now, not the sample's 2023: retention (7 days) would delete the records under the test.
        timestamp: Timestamp::CreateTime(now_ms()),
        ..Msg::sample(1, 1)
    };
    for id in 0..n {
        while let Err((e, _)) = p.send(msg.record(topic, id)) {
            assert!(
                matches!(e.rdkafka_error_code(), Some(RDKafkaErrorCode::QueueFull)),
                "send: {e}"
            );
            p.poll(Duration::from_millis(50));
        }
    }
    p.flush(Duration::from_secs(60)).expect("flush");
    let reports = p.context().reports();
    assert_eq!(reports.len(), n);
    let errors = reports
        .iter()
        .filter_map(|r| r.error.as_ref().and_then(|e| e.rdkafka_error_code()))
        .collect::<Vec<_>>();
    (n - errors.len(), errors)
}

/// Reads the partition from the start and checks it holds exactly `n` records.
fn assert_serves(bootstrap: &str, topic: &str, n: usize) {
    let c = consumer(bootstrap, &[]);
    assign_from_beginning(&c, topic, 1);
    let got = consume_n(&c, n + 1, Duration::from_secs(10));
    assert_eq!(got.len(), n, "records served");
}

#[test]
fn a_full_disk_keeps_acknowledged_records_readable_and_writes_resume_when_space_returns() {
    if is_reference_kafka() {
        eprintln!("skipped against Kafka: Sluice's data dir and min_free_bytes only (see the doc)");
        return;
    }
    let mut broker = Broker::start_own_with(&format!("min_free_bytes: {RESERVE}\n"));
    broker.terminate();
    let Some(_mount) = Mount::tmpfs(&broker.data_dir(), "32m") else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    // Room to give back later, twice: what is freed must lift free space above the reserve.
    let spare = broker.data_dir().join("spare");
    std::fs::write(&spare, vec![1u8; 10 * 1024 * 1024]).unwrap();
    let spare_for_later = broker.data_dir().join("spare2");
    std::fs::write(&spare_for_later, vec![1u8; 8 * 1024 * 1024]).unwrap();
    broker.start_again();
    let topic = unique_topic("full-disk");
    create_topic(&broker.bootstrap(), &topic, 1);

    // Until the disk is full (down to the reserve): the first refusals end the run.
    let mut acked = 0;
    loop {
        let (ok, errors) = produce(&broker.bootstrap(), &topic, 2000);
        acked += ok;
        if let Some(e) = errors.first() {
            assert!(
                errors
                    .iter()
                    .all(|e| *e == RDKafkaErrorCode::KafkaStorageError),
                "refusals are KAFKA_STORAGE_ERROR: {e:?}"
            );
            break;
        }
        assert!(acked < 100_000, "a 32 MiB disk never filled");
    }
    assert!(
        acked > 1000,
        "some records were acknowledged first ({acked})"
    );
    assert_serves(&broker.bootstrap(), &topic, acked);

    // Space returns: writes resume, without a restart.
    std::fs::remove_file(&spare).unwrap();
    let (ok, errors) = produce(&broker.bootstrap(), &topic, 100);
    assert_eq!(
        (ok, errors),
        (100, vec![]),
        "writes resume once space returns"
    );
    acked += 100;
    assert_serves(&broker.bootstrap(), &topic, acked);
    // Fill it again, down to the reserve.
    loop {
        let (ok, errors) = produce(&broker.bootstrap(), &topic, 2000);
        acked += ok;
        if !errors.is_empty() {
            break;
        }
        assert!(acked < 100_000, "a 32 MiB disk never filled");
    }

    // Not a byte left: what something else filling the disk leaves. Reads go on, and a restart
    // on that disk serves everything acknowledged.
    let filler = fill(&broker.data_dir(), "filler");
    assert_serves(&broker.bootstrap(), &topic, acked);
    let (ok, _) = produce(&broker.bootstrap(), &topic, 10);
    assert_eq!(ok, 0, "nothing is acknowledged on a full disk");
    broker.terminate();
    broker.start_again();
    assert_serves(&broker.bootstrap(), &topic, acked);

    // With space back and a restart (the store may have met the full disk itself, which it does
    // not recover from while running), writes go on where the log ended.
    std::fs::remove_file(&filler).unwrap();
    std::fs::remove_file(&spare_for_later).unwrap();
    broker.terminate();
    broker.start_again();
    let (ok, errors) = produce(&broker.bootstrap(), &topic, 100);
    assert_eq!(
        (ok, errors),
        (100, vec![]),
        "writes resume after the restart"
    );
    assert_serves(&broker.bootstrap(), &topic, acked + 100);
}
