//! `fwxdp run`: the service systemd starts at boot, driven by real signals and read through
//! a real `NOTIFY_SOCKET`.

use std::{fs, thread, time::Duration};

use fwxdp_tests::lab::{
    Lab, SERVER_IF, SERVER_V4,
    daemon::{Service, interface},
    exporter::{LISTEN, scrape, value},
    probe::Tcp,
    services, watch,
};
use nix::sys::signal::Signal;

fn allow_list(lab: &Lab) -> serde_json::Value {
    lab.status_json()["interfaces"][0]["allow"].clone()
}

#[test]
fn ready_comes_only_once_the_filter_is_active() {
    let lab = Lab::new();
    let _ssh = services::tcp(&lab.server, 22);
    let _db = services::tcp(&lab.server, 5432);
    let service = Service::start(&lab, &interface("22"));
    service.wait_ready();
    assert_eq!(lab.connect(SERVER_V4.into(), 5432), Tcp::Filtered);
    assert_eq!(lab.connect(SERVER_V4.into(), 22), Tcp::Open);
    let log = service.log();
    assert!(log.contains("attached") && log.contains("ready"), "{log}");
}

#[test]
fn sighup_applies_a_changed_config_with_no_leak() {
    let lab = Lab::new();
    let _services = services::tcp_ports(&lab.server, &[80, 8000, 8001, 8080]);
    let service = Service::start(&lab, &interface("22,80"));
    service.wait_ready();
    assert_eq!(lab.connect(SERVER_V4.into(), 8080), Tcp::Filtered);
    let report = watch::while_changing(&lab, 80, 8000, 8001, || {
        for allow in ["22,80,8080", "22,80", "22,80,8080"] {
            service.rewrite(&interface(allow));
            lab.signal(service.pid, Signal::SIGHUP);
            let want: Vec<&str> = allow.split(',').collect();
            service.until("the new allow list in force", || {
                allow_list(&lab) == serde_json::json!(want)
            });
        }
    });
    report.assert_held("three reloads");
    assert_eq!(lab.connect(SERVER_V4.into(), 8080), Tcp::Open);
    assert!(service.log().contains("policy replaced in place"));
}

#[test]
fn sighup_with_a_bad_config_keeps_the_policy_and_the_process() {
    let lab = Lab::new();
    let _db = services::tcp(&lab.server, 5432);
    let service = Service::start(&lab, &interface("22"));
    service.wait_ready();
    service.rewrite("[[interface]]\nname = \"fwx0\"\nallow = [\"22\", \"0\"]\n");
    lab.signal(service.pid, Signal::SIGHUP);
    service.until("the reload refused", || {
        service.log().contains("reload refused")
    });
    let log = service.log();
    assert!(
        log.contains("fwxdp.toml:3:") && log.contains("\"0\""),
        "{log}"
    );
    assert_eq!(
        lab.wait(service.pid, Duration::from_millis(300)),
        None,
        "the service died"
    );
    assert_eq!(allow_list(&lab), serde_json::json!(["22"]));
    assert_eq!(lab.connect(SERVER_V4.into(), 5432), Tcp::Filtered);
    // A config naming an interface that does not exist changes nothing either.
    service.rewrite(&format!(
        "{}\n[[interface]]\nname = \"nope0\"\nallow = [\"22\"]\n",
        interface("22,5432")
    ));
    lab.signal(service.pid, Signal::SIGHUP);
    service.until("the reload refused", || {
        service.log().contains("reload refused")
    });
    assert_eq!(allow_list(&lab), serde_json::json!(["22"]));
}

#[test]
fn interfaces_removed_from_the_config_are_detached() {
    let lab = Lab::new();
    lab.server.ip(&["link", "add", "brx0", "type", "bridge"]);
    lab.server.ip(&["link", "set", "brx0", "up"]);
    let both = format!(
        "{}\n[[interface]]\nname = \"brx0\"\nallow = [\"22\"]\n",
        interface("22")
    );
    let service = Service::start(&lab, &both);
    service.wait_ready();
    let names = || -> Vec<String> {
        lab.status_json()["interfaces"]
            .as_array()
            .expect("interfaces")
            .iter()
            .map(|i| i["interface"].as_str().expect("name").to_owned())
            .collect()
    };
    assert_eq!(names(), vec!["brx0", SERVER_IF]);
    service.rewrite(&interface("22"));
    lab.signal(service.pid, Signal::SIGHUP);
    service.until("brx0 detached", || names() == vec![SERVER_IF.to_owned()]);
    assert!(service.log().contains("no longer in the config"));
}

#[test]
fn sigterm_exits_0_and_the_filter_stays() {
    let lab = Lab::new();
    let _db = services::tcp(&lab.server, 5432);
    let service = Service::start(&lab, &interface("22"));
    service.wait_ready();
    lab.signal(service.pid, Signal::SIGTERM);
    let status = lab
        .wait(service.pid, Duration::from_secs(5))
        .expect("the service exited");
    assert!(status.success(), "exit status {status}");
    assert_eq!(lab.connect(SERVER_V4.into(), 5432), Tcp::Filtered);
    assert!(lab.pin_root().join(SERVER_IF).join("link_ingress").exists());
    assert!(service.log().contains("filters stay attached"));
}

#[test]
fn the_exporter_answers_while_the_service_runs() {
    let lab = Lab::new();
    let config = format!("{}\n[metrics]\nlisten = \"{LISTEN}\"\n", interface("22"));
    let service = Service::start(&lab, &config);
    service.wait_ready();
    let text = scrape(&lab);
    let attached = format!("interface=\"{SERVER_IF}\",mode=\"native\"");
    assert_eq!(value(&text, "fwxdp_attached", &attached), Some(1), "{text}");
}

#[test]
fn a_bad_config_at_start_exits_2_and_never_says_ready() {
    let lab = Lab::new();
    let service = Service::start(
        &lab,
        "[[interface]]\nname = \"fwx0\"\nallow = [\"22\"]\nmoed = \"tc\"\n",
    );
    let status = lab
        .wait(service.pid, Duration::from_secs(5))
        .expect("the service exited");
    assert_eq!(status.code(), Some(2), "{}", service.log());
    assert!(service.log().contains("fwxdp.toml:4:"), "{}", service.log());
    assert_eq!(service.notification(Duration::from_millis(100)), None);
    assert!(!lab.pin_root().join(SERVER_IF).exists());
}

#[test]
fn a_reload_failing_midway_puts_back_what_it_changed() {
    let lab = Lab::new();
    let _db = services::tcp(&lab.server, 5432);
    lab.server.ip(&["link", "add", "brx0", "type", "bridge"]);
    lab.server.ip(&["link", "set", "brx0", "up"]);
    let service = Service::start(&lab, &interface("22"));
    service.wait_ready();
    // fwx0 changes first; then brx0, a bridge, cannot do native XDP.
    service.rewrite(&format!(
        "{}\n[[interface]]\nname = \"brx0\"\nallow = [\"22\"]\nmode = \"native\"\n",
        interface("22,5432")
    ));
    lab.signal(service.pid, Signal::SIGHUP);
    service.until("the reload refused", || {
        service.log().contains("reload refused")
    });
    let log = service.log();
    assert!(log.contains("put back as before the reload"), "{log}");
    assert_eq!(allow_list(&lab), serde_json::json!(["22"]));
    assert_eq!(lab.connect(SERVER_V4.into(), 5432), Tcp::Filtered);
    assert!(
        !lab.pin_root().join("brx0").exists(),
        "brx0 was left attached"
    );
}

#[test]
fn a_reload_that_would_filter_nothing_or_allow_nothing_must_say_so() {
    let lab = Lab::new();
    let _db = services::tcp(&lab.server, 5432);
    let service = Service::start(&lab, &interface("22"));
    service.wait_ready();
    for (config, said) in [
        ("# emptied by mistake\n", "filter_nothing = true"),
        (
            "[[interface]]\nname = \"fwx0\"\nallow = []\n",
            "allow_nothing = true",
        ),
    ] {
        let refusals = service.log().matches("reload refused").count();
        service.rewrite(config);
        lab.signal(service.pid, Signal::SIGHUP);
        service.until("the reload refused", || {
            service.log().matches("reload refused").count() > refusals
        });
        assert!(service.log().contains(said), "{}", service.log());
        assert_eq!(allow_list(&lab), serde_json::json!(["22"]));
        assert_eq!(lab.connect(SERVER_V4.into(), 5432), Tcp::Filtered);
    }
    // Said explicitly, it is applied: the interface is detached.
    service.rewrite("filter_nothing = true\n");
    lab.signal(service.pid, Signal::SIGHUP);
    service.until("the interface detached", || {
        service.log().contains("detached: no longer in the config")
    });
    assert_eq!(lab.connect(SERVER_V4.into(), 5432), Tcp::Open);
}

/// `fwxdp reload` against the lab's service: its exit status and output.
fn reload(lab: &Lab, service: &Service<'_>) -> std::process::Output {
    lab.fwxdp_command()
        .arg("reload")
        .arg("--run-dir")
        .arg(service.dir.join("run"))
        .output()
        .expect("run fwxdp reload")
}

#[test]
fn fwxdp_reload_waits_for_the_answer_and_fails_when_refused() {
    let lab = Lab::new();
    let service = Service::start(&lab, &interface("22"));
    service.wait_ready();
    service.rewrite(&interface("22,80"));
    let out = reload(&lab, &service);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("reloaded: filtering fwx0"));
    // The answer came after the reload was applied, not before.
    assert_eq!(allow_list(&lab), serde_json::json!(["22", "80"]));
    service.rewrite("[[interface]]\nname = \"fwx0\"\nallow = [\"22\"]\nmoed = \"tc\"\n");
    let out = reload(&lab, &service);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("reload refused"), "{stderr}");
    assert_eq!(allow_list(&lab), serde_json::json!(["22", "80"]));
}

#[test]
fn a_broken_config_at_start_applies_the_last_good_one() {
    let lab = Lab::new();
    let _db = services::tcp(&lab.server, 5432);
    let service = Service::start(&lab, &interface("22"));
    service.wait_ready();
    lab.signal(service.pid, Signal::SIGTERM);
    lab.wait(service.pid, Duration::from_secs(5))
        .expect("stopped");
    // Gone too, as after a reboot: only the last good copy remembers the policy.
    lab.fwxdp_ok(&["detach", "--all"]);
    let broken = "[[interface]]\nname = \"fwx0\"\nallow = [\"22\"\n";
    let again = Service::restart(&lab, &service, broken);
    again.wait_ready();
    assert!(
        again
            .log()
            .contains("applying the last config applied successfully"),
        "{}",
        again.log()
    );
    assert_eq!(allow_list(&lab), serde_json::json!(["22"]));
    assert_eq!(lab.connect(SERVER_V4.into(), 5432), Tcp::Filtered);
    // Until the file is fixed, reloads fail.
    assert_eq!(reload(&lab, &again).status.code(), Some(1));
    again.rewrite(&interface("22,5432"));
    assert!(reload(&lab, &again).status.success());
    assert_eq!(lab.connect(SERVER_V4.into(), 5432), Tcp::Open);
}

#[test]
fn a_start_that_can_attach_nothing_exits_3_and_never_says_ready() {
    let lab = Lab::new();
    lab.server.ip(&["link", "add", "brx0", "type", "bridge"]);
    // A bridge has no native XDP: nothing the config covers can be attached.
    let service = Service::start(
        &lab,
        "[[interface]]\nname = \"brx0\"\nallow = [\"22\"]\nmode = \"native\"\n",
    );
    let status = lab
        .wait(service.pid, Duration::from_secs(10))
        .expect("the service exited");
    assert_eq!(status.code(), Some(3), "{}", service.log());
    assert_eq!(service.notification(Duration::from_millis(100)), None);
}

#[test]
fn two_thousand_idle_exporter_connections_stop_neither_a_scrape_nor_a_reload() {
    use std::net::TcpStream;
    let lab = Lab::new();
    let config = format!("{}\n[metrics]\nlisten = \"{LISTEN}\"\n", interface("22"));
    let service = Service::start(&lab, &config);
    service.wait_ready();
    // Whatever a local user can open, held open and silent.
    let (soft, hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .expect("getrlimit");
    if soft < 4096 {
        nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, hard, hard)
            .expect("raise the test's own descriptor limit");
    }
    let idle: Vec<TcpStream> = lab.server.enter(|| {
        (0..2000)
            .map(|_| TcpStream::connect(LISTEN).expect("connect"))
            .collect()
    });
    let text = scrape(&lab);
    assert!(text.contains("fwxdp_attached"), "{text}");
    service.rewrite(&format!(
        "{}\n[metrics]\nlisten = \"{LISTEN}\"\n",
        interface("22,80")
    ));
    let out = reload(&lab, &service);
    assert!(out.status.success(), "{out:?}\n{}", service.log());
    assert!(scrape(&lab).contains("fwxdp_attached"));
    // Silent clients are let go after the header timeout.
    thread::sleep(Duration::from_secs(6));
    let mut closed = 0;
    for mut stream in idle {
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let mut byte = [0u8; 1];
        // End of stream, or a reset: the exporter let go. A timeout means it still holds it.
        match std::io::Read::read(&mut stream, &mut byte) {
            Ok(0) => closed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => closed += 1,
            _ => {}
        }
    }
    assert_eq!(closed, 2000, "idle connections still held");
}

#[test]
fn a_reload_that_would_cut_off_an_established_ssh_session_must_say_so() {
    let lab = Lab::new();
    let service = Service::start(&lab, &interface("22,80"));
    service.wait_ready();
    // An sshd as the guard finds one: a process called sshd listening on 22 (busybox nc,
    // run from a copy of its binary by that name), and a client connected to it.
    let sshd = service.dir.join("sshd");
    fs::copy("/usr/bin/busybox", &sshd).expect("copy busybox");
    // bash's `exec -a` names the program busybox (so it runs nc) from a file named sshd.
    let mut listener = lab.server.command("bash");
    listener
        .arg("-c")
        .arg(format!("exec -a busybox {} nc -l -p 22", sshd.display()))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null());
    lab.spawn(listener);
    let client = lab.internet.enter(|| {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            match std::net::TcpStream::connect((SERVER_V4, 22)) {
                Ok(stream) => break stream,
                Err(e) => {
                    assert!(std::time::Instant::now() < deadline, "connect to 22: {e}");
                    thread::sleep(Duration::from_millis(50));
                }
            }
        }
    });
    service.rewrite(&interface("80"));
    let out = reload(&lab, &service);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let log = service.log();
    assert!(log.contains("could not log in again"), "{log}");
    assert_eq!(allow_list(&lab), serde_json::json!(["22", "80"]));
    service.rewrite(&format!("{}close_ssh = true\n", interface("80")));
    let out = reload(&lab, &service);
    assert!(out.status.success(), "{out:?}\n{}", service.log());
    assert_eq!(allow_list(&lab), serde_json::json!(["80"]));
    drop(client);
}
