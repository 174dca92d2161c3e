//! `fwxdp run`: the service systemd starts at boot, driven by real signals and read through
//! a real `NOTIFY_SOCKET`.

use std::{
    fs,
    os::unix::net::UnixDatagram,
    path::PathBuf,
    process::Stdio,
    thread,
    time::{Duration, Instant},
};

use fwxdp_tests::lab::{
    Lab, SERVER_IF, SERVER_V4,
    exporter::{LISTEN, scrape, value},
    probe::Tcp,
    services, watch,
};
use nix::sys::signal::Signal;

/// A running `fwxdp run` with its config, log and notify socket in a directory of its own.
struct Service<'a> {
    lab: &'a Lab,
    dir: PathBuf,
    pid: u32,
    notify: UnixDatagram,
}

fn interface(allow: &str) -> String {
    let items: Vec<String> = allow.split(',').map(|i| format!("{i:?}")).collect();
    format!(
        "[[interface]]\nname = \"{SERVER_IF}\"\nallow = [{}]\n",
        items.join(", ")
    )
}

impl<'a> Service<'a> {
    fn start(lab: &'a Lab, config: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("{}-service", lab.id()));
        fs::create_dir_all(&dir).expect("service dir");
        fs::write(dir.join("fwxdp.toml"), config).expect("write config");
        let socket = dir.join("notify.sock");
        let notify = UnixDatagram::bind(&socket).expect("bind the notify socket");
        notify
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let log = fs::File::create(dir.join("log")).expect("log file");
        let mut cmd = lab.fwxdp_command();
        cmd.arg("run")
            .arg("--config")
            .arg(dir.join("fwxdp.toml"))
            .env("NOTIFY_SOCKET", &socket)
            .stdout(Stdio::null())
            .stderr(log);
        let pid = lab.spawn(cmd);
        Self {
            lab,
            dir,
            pid,
            notify,
        }
    }

    /// The next message on the notify socket, waiting up to `timeout`.
    fn notification(&self, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            if let Ok(len) = self.notify.recv(&mut buf) {
                return Some(String::from_utf8_lossy(&buf[..len]).into_owned());
            }
        }
        None
    }

    /// Waits for READY=1, checking at that moment that the filter is already in place.
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let Some(message) = self.notification(Duration::from_millis(200)) else {
                continue;
            };
            if message.lines().any(|l| l == "READY=1") {
                let link = self.lab.pin_root().join(SERVER_IF).join("link_ingress");
                assert!(link.exists(), "READY=1 before the filter was attached");
                return;
            }
        }
        panic!("no READY=1 within 10 s; log:\n{}", self.log());
    }

    fn rewrite(&self, config: &str) {
        fs::write(self.dir.join("fwxdp.toml"), config).expect("write config");
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    /// Polls until `check` holds (five seconds at most).
    fn until(&self, what: &str, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !check() {
            assert!(
                Instant::now() < deadline,
                "never: {what}; log:\n{}",
                self.log()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Service<'_> {
    fn drop(&mut self) {
        let _: std::io::Result<()> = fs::remove_dir_all(&self.dir);
    }
}

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
    service.until("the reload failed", || {
        service.log().contains("reload failed")
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
    service.until("the reload failed", || {
        service.log().contains("reload failed")
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
fn the_service_waits_for_interfaces_that_appear_after_it_starts() {
    let lab = Lab::new();
    let config = format!(
        "{}\n[[interface]]\nname = \"late0\"\nallow = [\"22\"]\n",
        interface("22")
    );
    let service = Service::start(&lab, &config);
    service.until("waiting logged", || {
        service.log().contains("waiting for the interface")
    });
    assert_eq!(
        service.notification(Duration::from_millis(300)),
        None,
        "ready too early"
    );
    lab.server.ip(&["link", "add", "late0", "type", "bridge"]);
    lab.server.ip(&["link", "set", "late0", "up"]);
    service.wait_ready();
    assert!(lab.pin_root().join("late0").join("link_ingress").exists());
}

#[test]
fn a_stop_while_waiting_for_interfaces_ends_the_service_at_once() {
    let lab = Lab::new();
    let service = Service::start(&lab, "[[interface]]\nname = \"late0\"\nallow = [\"22\"]\n");
    service.until("waiting logged", || {
        service.log().contains("waiting for the interface")
    });
    lab.signal(service.pid, Signal::SIGTERM);
    let status = lab
        .wait(service.pid, Duration::from_secs(2))
        .expect("the service should stop at once");
    assert!(status.success(), "exit status {status}");
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
