//! What the commands write: a closed stdout is no failure, readers never wait for writers,
//! and under journald every line of a failure carries its priority.

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use fwxdp_tests::lab::{Lab, SERVER_IF};
use nix::fcntl::{Flock, FlockArg};

#[test]
fn a_closed_stdout_is_not_a_panic() {
    let lab = Lab::new();
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22"]);
    for args in [
        &["stats"][..],
        &["status"],
        &["status", "--json"],
        &["stats", "--json"],
        &["completions", "bash"],
    ] {
        let mut child = lab
            .fwxdp_command()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run fwxdp");
        // `fwxdp stats | head -0`: the reader is gone before anything is written.
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {} {stderr}", out.status);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn status_does_not_wait_for_the_writers_lock() {
    let lab = Lab::new();
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22"]);
    let file = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open("/run/fwxdp.lock")
        .expect("open the lock");
    let lock = Flock::lock(file, FlockArg::LockExclusive).expect("hold the lock");
    let mut child = lab
        .fwxdp_command()
        .args(["status", "--json"])
        .stdout(Stdio::null())
        .spawn()
        .expect("run fwxdp");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if started.elapsed() > Duration::from_secs(10) {
            let _: std::io::Result<()> = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(lock);
    let _: std::io::Result<std::process::ExitStatus> = child.wait();
    assert!(
        status.is_some_and(|s| s.success()),
        "status waited for the lock, or failed: {status:?}"
    );
}

#[test]
fn under_journald_every_line_of_a_failure_has_its_priority() {
    let lab = Lab::new();
    let dir = std::env::temp_dir().join(format!("{}-journal", lab.id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let config = dir.join("fwxdp.toml");
    std::fs::write(
        &config,
        "[[interface]]\nname = \"x\"\nallow = [\"0\", \"70000\"]\n",
    )
    .expect("write config");
    let out = lab
        .fwxdp_command()
        .env("JOURNAL_STREAM", "8:1234")
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .expect("run fwxdp");
    std::fs::remove_dir_all(&dir).expect("clean up");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.lines().count() >= 2, "{stderr}");
    assert!(stderr.lines().all(|l| l.starts_with("<3>")), "{stderr}");
}

#[test]
fn a_failing_stdout_other_than_a_closed_pipe_fails_the_command() {
    let lab = Lab::new();
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22"]);
    for args in [&["status"][..], &["status", "--json"], &["stats"]] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("open /dev/full");
        let out = lab
            .fwxdp_command()
            .args(args)
            .stdout(full)
            .output()
            .expect("run fwxdp");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("cannot write to standard output"),
            "{args:?}: {stderr}"
        );
    }
}
