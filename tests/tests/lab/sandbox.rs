//! The lab itself: it cleans up after a panicking test and sweeps what dead runs left.

use std::{path::Path, process::Command};

use fwxdp_tests::lab::{self, Lab, PREFIX, SERVER_IF, probe, services, watch};

fn netns_exists(name: &str) -> bool {
    Path::new("/run/netns").join(name).exists()
}

#[test]
fn lab_cleans_up_after_a_panicking_test() {
    let result = std::thread::spawn(|| {
        let lab = Lab::new();
        lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22"]);
        let names = (
            lab.server.name().to_owned(),
            lab.internet.name().to_owned(),
            lab.pin_root().to_owned(),
        );
        let _listener = services::tcp(&lab.server, 22);
        assert!(netns_exists(&names.0) && names.2.join(SERVER_IF).exists());
        // Hand the names out through the panic payload, then fail as a test would.
        std::panic::panic_any(names);
    })
    .join();
    let payload = result.expect_err("the test thread should have panicked");
    let (server, internet, pins) = *payload
        .downcast::<(String, String, std::path::PathBuf)>()
        .expect("names in the panic payload");
    assert!(!netns_exists(&server), "{server} left behind");
    assert!(!netns_exists(&internet), "{internet} left behind");
    assert!(!pins.exists(), "{} left behind", pins.display());
}

#[test]
fn stale_labs_of_dead_processes_are_swept() {
    lab::require_privileges();
    // PID 0 never names a live process.
    let stale = format!("{PREFIX}0-7-srv");
    let pins = Path::new("/sys/fs/bpf").join(format!("{PREFIX}0-7"));
    lab::run(Command::new("ip").args(["netns", "add", &stale]));
    std::fs::create_dir_all(&pins).expect("create stale pin dir");
    lab::sweep_stale();
    assert!(!netns_exists(&stale));
    assert!(!pins.exists());
}

#[test]
fn lab_hosts_reach_each_other_without_a_filter() {
    let lab = Lab::new();
    let _tcp = services::tcp(&lab.server, 8080);
    let _udp = services::udp_echo(&lab.server, 5353);
    let _out = services::tcp(&lab.internet, 9000);
    for client in [lab::CLIENT_V4.into(), lab::CLIENT_V6.into()] {
        let to = std::net::SocketAddr::new(client, 9000);
        assert_eq!(
            probe::tcp(&lab.server, None, to, lab::PROBE_TIMEOUT),
            probe::Tcp::Open,
            "server -> {to}"
        );
    }
    for addr in [lab::SERVER_V4.into(), lab::SERVER_V6.into()] {
        assert_eq!(lab.connect(addr, 8080), probe::Tcp::Open, "{addr}");
        assert_eq!(lab.connect(addr, 8081), probe::Tcp::Closed, "{addr}");
        let to = std::net::SocketAddr::new(addr, 5353);
        assert_eq!(
            probe::udp(&lab.internet, None, to, lab::PROBE_TIMEOUT),
            probe::Udp::Reply
        );
    }
}

#[test]
fn the_watch_sees_every_raw_syn_a_listener_answers() {
    // The watchers must be able to fail: with the raw port allowed, every raw SYN is answered.
    let lab = Lab::new();
    let _services = services::tcp_ports(&lab.server, &[80, 8000, 8001]);
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,80,8001"]);
    let report = watch::while_changing(&lab, 80, 8000, 8001, || {
        std::thread::sleep(std::time::Duration::from_secs(1));
    });
    assert!(report.raw_sent > 100, "{report:?}");
    assert_eq!(report.raw_dropped, 0, "{report:?}");
    assert_eq!(report.raw_answered, report.raw_sent, "{report:?}");
    assert_eq!(report.leaks, 0, "{report:?}");
}
