//! `--confirm`: a change that is not confirmed in its window is put back exactly, by a
//! reverter that outlives the SSH session and fwxdp itself; `fwxdp confirm` keeps it; and
//! `fwxdp reload --confirm` does the same for the service.

use std::{
    net::IpAddr,
    path::PathBuf,
    process::Command,
    time::{Duration, Instant},
};

use fwxdp_tests::lab::{
    Lab, SERVER_IF, SERVER_V4,
    daemon::{Service, interface},
    fwxdp_bin,
    probe::Tcp,
    services, watch,
};
use nix::sys::signal::Signal;

/// A run directory of the lab's own, for the records of its changes.
fn run_dir(lab: &Lab) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{}-run", lab.id()));
    lab.set_fwxdp_env("FWXDP_RUN_DIR", dir.to_str().expect("UTF-8"));
    dir
}

fn allow(lab: &Lab) -> serde_json::Value {
    lab.status_json()["interfaces"][0]["allow"].clone()
}

/// Polls `status` until the allow list is `want`, at most `limit`; how long it took.
fn until_allow(lab: &Lab, want: &serde_json::Value, limit: Duration) -> Duration {
    let start = Instant::now();
    while allow(lab) != *want {
        assert!(
            start.elapsed() < limit,
            "allow list {} never became {want}",
            allow(lab)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    start.elapsed()
}

fn port(lab: &Lab, port: u16) -> Tcp {
    lab.connect(IpAddr::V4(SERVER_V4), port)
}

#[test]
fn a_confirmed_change_stays_and_an_unconfirmed_one_is_reverted_on_time() {
    let lab = Lab::new();
    let dir = run_dir(&lab);
    let _services = services::tcp_ports(&lab.server, &[80, 8000]);
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,80"]);
    let before = lab.status_json()["interfaces"][0].clone();

    let out = lab.fwxdp_ok(&["allow", SERVER_IF, "8000/tcp", "--confirm", "3s"]);
    assert!(out.contains("unless `fwxdp confirm`"), "{out}");
    assert_eq!(port(&lab, 8000), Tcp::Open);
    let status = lab.status_json();
    assert_eq!(
        status["pending_confirmation"]["interfaces"],
        serde_json::json!([SERVER_IF])
    );
    let out = lab.fwxdp_ok(&["confirm"]);
    assert!(out.contains("confirmed"), "{out}");
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(port(&lab, 8000), Tcp::Open, "confirmed, so kept");
    assert!(lab.status_json()["pending_confirmation"].is_null());

    // Not confirmed: back at the deadline, not before, exactly as it was (same program).
    let made = Instant::now();
    lab.fwxdp_ok(&["revoke", SERVER_IF, "8000/tcp", "--confirm", "3s"]);
    assert_eq!(port(&lab, 8000), Tcp::Filtered);
    until_allow(
        &lab,
        &serde_json::json!(["22", "80", "8000/tcp"]),
        Duration::from_secs(8),
    );
    let took = made.elapsed();
    assert!(
        took >= Duration::from_millis(2500) && took < Duration::from_secs(7),
        "reverted after {took:?}"
    );
    assert_eq!(port(&lab, 8000), Tcp::Open);
    let after = lab.status_json()["interfaces"][0].clone();
    assert_eq!(after["program_id"], before["program_id"]);
    assert_eq!(after["mode"], before["mode"]);
    let out = lab.fwxdp(&["confirm"]);
    assert_eq!(out.status.code(), Some(1), "nothing left to confirm");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("was reverted"),
        "{out:?}"
    );

    // A fresh attach with a window: reverted means detached again.
    lab.fwxdp_ok(&["detach", SERVER_IF]);
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22", "--confirm", "1s"]);
    assert_eq!(port(&lab, 80), Tcp::Filtered);
    let start = Instant::now();
    while !lab.status_json()["interfaces"]
        .as_array()
        .is_some_and(Vec::is_empty)
    {
        assert!(start.elapsed() < Duration::from_secs(6), "never detached");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(port(&lab, 80), Tcp::Open);
    let _: std::io::Result<()> = std::fs::remove_dir_all(dir);
}

#[test]
fn the_revert_outlives_the_session_and_a_killed_fwxdp() {
    let lab = Lab::new();
    let dir = run_dir(&lab);
    let _services = services::tcp_ports(&lab.server, &[80, 8000]);
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,8000/tcp"]);

    // The SSH session dies: its whole process group and session are killed, the shell
    // that ran the command with them.
    let script = format!(
        "{} revoke {SERVER_IF} 8000/tcp --confirm 3s; sleep 60",
        fwxdp_bin().display()
    );
    let mut session = lab.server.command("setsid");
    session
        .args(["sh", "-c", &script])
        .env("FWXDP_PIN_ROOT", lab.pin_root())
        .env("FWXDP_RUN_DIR", &dir)
        .env("SSH_CONNECTION", "")
        .stdout(std::process::Stdio::null());
    let shell = lab.spawn(session);
    until_allow(&lab, &serde_json::json!(["22"]), Duration::from_secs(5));
    let group = nix::unistd::Pid::from_raw(-i32::try_from(shell).expect("pid"));
    nix::sys::signal::kill(group, Signal::SIGKILL).expect("kill the session's group");
    assert!(lab.wait(shell, Duration::from_secs(2)).is_some());
    until_allow(
        &lab,
        &serde_json::json!(["22", "8000/tcp"]),
        Duration::from_secs(8),
    );
    assert_eq!(port(&lab, 8000), Tcp::Open);

    // fwxdp SIGKILLed while it makes the change (a fresh attach, in the verifier): the
    // record is written first, so the revert still comes, and leaves nothing behind.
    lab.fwxdp_ok(&["detach", SERVER_IF]);
    let mut attach = lab.fwxdp_command();
    attach.args(["attach", SERVER_IF, "--allow", "22", "--confirm", "2s"]);
    let fwxdp = lab.spawn(attach);
    let start = Instant::now();
    let mut record = None;
    while record.is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no record was written"
        );
        std::thread::sleep(Duration::from_millis(2));
        record = std::fs::read_dir(&dir).ok().and_then(|mut d| {
            d.find_map(|e| {
                let path = e.ok()?.path();
                let is_record = path.extension().is_some_and(|e| e == "json")
                    && path.file_name()?.to_str()?.starts_with("confirm");
                is_record.then_some(path)
            })
        });
    }
    lab.signal(fwxdp, Signal::SIGKILL);
    let start = Instant::now();
    while record.as_ref().is_some_and(|r| r.exists()) {
        assert!(start.elapsed() < Duration::from_secs(8), "never reverted");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        lab.status_json()["interfaces"]
            .as_array()
            .is_some_and(Vec::is_empty)
    );
    let leftovers: Vec<_> = std::fs::read_dir(lab.pin_root())
        .expect("pin root")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("global:"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(port(&lab, 80), Tcp::Open);
    let _: std::io::Result<()> = std::fs::remove_dir_all(dir);
}

#[test]
fn a_revert_under_a_syn_stream_opens_nothing() {
    let lab = Lab::new();
    let dir = run_dir(&lab);
    let _services = services::tcp_ports(&lab.server, &[80, 8000, 8001, 5432]);
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,80"]);
    let report = watch::while_changing(&lab, 80, 8001, 5432, || {
        // A mode switch and a policy, then their revert: 80 answers throughout, 8001 and
        // 5432 never.
        lab.fwxdp_ok(&[
            "attach",
            SERVER_IF,
            "--allow",
            "22,80,8000/tcp",
            "--mode",
            "tc",
            "--confirm",
            "2s",
        ]);
        until_allow(
            &lab,
            &serde_json::json!(["22", "80"]),
            Duration::from_secs(8),
        );
    });
    report.assert_held("a change and its revert");
    assert_eq!(lab.status_json()["interfaces"][0]["mode"], "native");
    let _: std::io::Result<()> = std::fs::remove_dir_all(dir);
}

#[test]
fn a_reload_with_confirm_is_kept_only_when_confirmed() {
    let lab = Lab::new();
    let _services = services::tcp_ports(&lab.server, &[80, 8000]);
    let service = Service::start(&lab, &interface("22,80"));
    service.wait_ready();
    let run = service.dir.join("run");
    lab.set_fwxdp_env("FWXDP_RUN_DIR", run.to_str().expect("UTF-8"));
    let reload = |window: &str| {
        Command::new(fwxdp_bin())
            .args(["reload", "--run-dir"])
            .arg(&run)
            .args(["--confirm", window])
            .output()
            .expect("fwxdp reload")
    };

    // Confirmed: kept, and the last good copy is the new file.
    service.rewrite(&interface("22,80,8000"));
    let out = reload("30s");
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("unless `fwxdp confirm`"));
    assert_eq!(port(&lab, 8000), Tcp::Open);
    lab.fwxdp_ok(&["confirm"]);
    service.until("the confirmation seen", || {
        service.log().contains("was confirmed")
    });
    let last_good = std::fs::read_to_string(service.dir.join("state/last-good.toml"));
    assert!(last_good.is_ok_and(|t| t.contains("8000")));

    // Not confirmed: the service goes back by itself.
    service.rewrite(&interface("22,8000"));
    assert!(reload("4s").status.success());
    assert_eq!(port(&lab, 80), Tcp::Filtered);
    until_allow(
        &lab,
        &serde_json::json!(["22", "80", "8000"]),
        Duration::from_secs(8),
    );
    // The service may learn of it after its reverter put the interface back.
    service.until("the revert logged", || {
        service.log().contains("not confirmed within its window")
    });
    // A reload waiting for confirmation holds others back.
    service.rewrite(&interface("22"));
    assert!(reload("5s").status.success());
    let out = reload("5s");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("waits for confirmation"));

    // The service killed in the window: its reverter puts the interface back, and the
    // service started again from the unconfirmed file applies the last good config.
    lab.signal(service.pid, Signal::SIGKILL);
    assert!(lab.wait(service.pid, Duration::from_secs(2)).is_some());
    until_allow(
        &lab,
        &serde_json::json!(["22", "80", "8000"]),
        Duration::from_secs(12),
    );
    let again = Service::restart(&lab, &service, &interface("22"));
    again.wait_ready();
    assert_eq!(allow(&lab), serde_json::json!(["22", "80", "8000"]));
    assert!(again.log().contains("never confirmed"), "{}", again.log());
}

#[test]
fn a_service_restarted_within_the_window_goes_on_waiting() {
    let lab = Lab::new();
    let _services = services::tcp_ports(&lab.server, &[80, 8000, 9000]);
    let service = Service::start(&lab, &interface("22,80"));
    service.wait_ready();
    let run = service.dir.join("run");
    lab.set_fwxdp_env("FWXDP_RUN_DIR", run.to_str().expect("UTF-8"));
    let last_good = || std::fs::read_to_string(service.dir.join("state/last-good.toml"));
    let reload = |window: &str| {
        let out = Command::new(fwxdp_bin())
            .args(["reload", "--run-dir"])
            .arg(&run)
            .args(["--confirm", window])
            .output()
            .expect("fwxdp reload");
        assert!(out.status.success(), "{out:?}");
    };

    // Killed and started again in the window: still waiting, the new file not kept as
    // last good, and reverted at the deadline all the same.
    service.rewrite(&interface("22,8000"));
    reload("6s");
    lab.signal(service.pid, Signal::SIGKILL);
    assert!(lab.wait(service.pid, Duration::from_secs(2)).is_some());
    let again = Service::restart(&lab, &service, &interface("22,8000"));
    again.wait_ready();
    assert!(
        again.log().contains("still waits for confirmation"),
        "{}",
        again.log()
    );
    assert_eq!(allow(&lab), serde_json::json!(["22", "8000"]));
    assert!(last_good().is_ok_and(|t| !t.contains("8000")));
    until_allow(
        &lab,
        &serde_json::json!(["22", "80"]),
        Duration::from_secs(12),
    );
    assert!(last_good().is_ok_and(|t| !t.contains("8000")));
    // The service may learn of it after its reverter put the interface back, and holds
    // other reloads back until then.
    again.until("the revert logged", || {
        again.log().contains("not confirmed within its window")
    });

    // Confirmed after such a restart: kept, and the last good copy now.
    again.rewrite(&interface("22,9000"));
    reload("30s");
    lab.signal(again.pid, Signal::SIGKILL);
    assert!(lab.wait(again.pid, Duration::from_secs(2)).is_some());
    let third = Service::restart(&lab, &again, &interface("22,9000"));
    third.wait_ready();
    lab.fwxdp_ok(&["confirm"]);
    third.until("the confirmation seen", || {
        third.log().contains("was confirmed")
    });
    assert!(last_good().is_ok_and(|t| t.contains("9000")));
    assert_eq!(port(&lab, 9000), Tcp::Open);
}
