//! The service follows the kernel's interfaces: covered interfaces that appear later, are
//! renamed, or are deleted and made again are filtered without a reload; and what it
//! reports (status, metrics) is what the kernel does.

use std::{
    net::SocketAddr,
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    thread,
    time::{Duration, Instant},
};

use fwxdp_tests::lab::{
    Lab, SERVER_IF, SERVER_V4,
    daemon::{Service, interface},
    exporter::{self, scrape, value},
    probe::{self, Tcp},
    services,
};

/// Polls status until `iface` is pinned and filtering; returns how long that took.
fn until_filtering(lab: &Lab, service: &Service<'_>, iface: &str) -> Duration {
    let start = Instant::now();
    loop {
        let status = lab.status_json();
        let filtering = status["interfaces"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|i| i["interface"] == iface && i["filtering"] == true);
        if filtering {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{iface} never filtered: {status}; log:\n{}",
            service.log()
        );
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_missing_interface_does_not_hold_back_the_others_and_is_filtered_when_it_appears() {
    let lab = Lab::new();
    let _db = services::tcp(&lab.server, 5432);
    let config = format!(
        "{}\n[[interface]]\nname = [\"late0\", \"late1\"]\nallow = [\"22\"]\n",
        interface("22")
    );
    let service = Service::start(&lab, &config);
    // Ready at once, with the present interface filtered.
    service.wait_ready();
    assert_eq!(lab.connect(SERVER_V4.into(), 5432), Tcp::Filtered);
    // An instance verified ahead of need is ready for it: only pins and hooks remain to do.
    service.until("a spare instance prepared", || {
        service.log().contains("prepared a verified instance")
    });
    lab.server.ip(&["link", "add", "late0", "type", "bridge"]);
    let took = until_filtering(&lab, &service, "late0");
    assert!(
        took < Duration::from_secs(1),
        "late0 filtered after {took:?}"
    );
    let log = service.log();
    let line = log
        .lines()
        .find(|l| l.contains("filtering an interface that appeared"))
        .unwrap_or_else(|| panic!("no attach logged:\n{log}"));
    assert!(
        line.contains("interface=late0") && line.contains("spared=true"),
        "{line}"
    );
    // The next one is prepared in the background; a second interface uses it too.
    service.until("a second spare prepared", || {
        service
            .log()
            .matches("prepared a verified instance")
            .count()
            >= 2
    });
    lab.server.ip(&["link", "add", "late1", "type", "bridge"]);
    until_filtering(&lab, &service, "late1");
}

#[test]
fn a_service_manager_that_stops_reading_never_stalls_the_service() {
    let lab = Lab::new();
    let service = Service::start(
        &lab,
        "[[interface]]\nname = [\"fwx*\", \"stall*\"]\nallow = [\"22\"]\n",
    );
    service.wait_ready();
    // Nothing reads the notify socket from here on: its queue (ten datagrams) fills with
    // the status lines each new interface brings.
    for i in 0..24 {
        let name = format!("stall{i}");
        lab.server.ip(&["link", "add", &name, "type", "bridge"]);
        until_filtering(&lab, &service, &name);
    }
}

#[test]
fn patterns_cover_interfaces_made_later_and_renamed_ones_keep_their_filter() {
    let lab = Lab::new();
    let _db = services::tcp(&lab.server, 5432);
    let config = "[[interface]]\nname = [\"fwx*\", \"ren*\"]\nallow = [\"22\"]\n";
    let service = Service::start(&lab, config);
    service.wait_ready();
    assert_eq!(lab.connect(SERVER_V4.into(), 5432), Tcp::Filtered);
    // Not covered: left alone.
    lab.server.ip(&["link", "add", "other0", "type", "bridge"]);
    lab.server.ip(&["link", "add", "fwxb0", "type", "bridge"]);
    until_filtering(&lab, &service, "fwxb0");
    assert!(!lab.pin_root().join("other0").exists());
    // Renamed, as udev does at boot: the filter follows the device to its new name.
    lab.server.ip(&["link", "set", SERVER_IF, "down"]);
    lab.server.ip(&["link", "set", SERVER_IF, "name", "ren0"]);
    lab.server.ip(&["link", "set", "ren0", "up"]);
    until_filtering(&lab, &service, "ren0");
    assert!(!lab.pin_root().join(SERVER_IF).exists(), "old pins left");
    let deadline = Instant::now() + Duration::from_secs(3);
    while lab.connect(SERVER_V4.into(), 22) == Tcp::Filtered {
        // Neighbours come back after the link flapped.
        assert!(Instant::now() < deadline, "ren0 never answered on 22");
    }
    assert_eq!(lab.connect(SERVER_V4.into(), 5432), Tcp::Filtered);
    // Renamed to a name nothing covers: the filter stays, and the log says so.
    lab.server.ip(&["link", "set", "fwxb0", "name", "brq0"]);
    service.until("the uncovered rename logged", || {
        service
            .log()
            .contains("renamed to a name no [[interface]] covers")
    });
    assert!(lab.pin_root().join("brq0").exists());
}

#[test]
fn a_recreated_interface_is_filtered_again_within_a_second() {
    let lab = Lab::new();
    let _services = services::tcp_ports(&lab.server, &[80, 8000]);
    let service = Service::start(&lab, &interface("22,80"));
    service.wait_ready();
    let first = lab.status_json()["interfaces"][0]["ifindex"].clone();
    // A probe stream at the protected port shows the gap, if there is one.
    let stop = AtomicBool::new(false);
    let (answered, last_answer_ms) = (AtomicU64::new(0), AtomicU64::new(0));
    let start = Instant::now();
    let took = thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                let to = SocketAddr::new(SERVER_V4.into(), 8000);
                if probe::tcp(&lab.internet, None, to, Duration::from_millis(100)) == Tcp::Open {
                    answered.fetch_add(1, Ordering::Relaxed);
                    let at = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
                    last_answer_ms.store(at, Ordering::Relaxed);
                }
            }
        });
        lab.recreate_server_link();
        let took = until_filtering(&lab, &service, SERVER_IF);
        // Probes keep going a second past the filter's return.
        thread::sleep(Duration::from_secs(1));
        stop.store(true, Ordering::Relaxed);
        took
    });
    let status = lab.status_json();
    assert_ne!(status["interfaces"][0]["ifindex"], first, "{status}");
    let (answered, last) = (
        answered.load(Ordering::Relaxed),
        Duration::from_millis(last_answer_ms.load(Ordering::Relaxed)),
    );
    let log = service.log();
    let attach = log
        .lines()
        .filter(|l| l.contains("took_ms"))
        .collect::<Vec<_>>();
    eprintln!(
        "re-created: filtered again after {took:?}; {answered} probes answered before; {attach:?}"
    );
    assert!(
        took < Duration::from_secs(1),
        "filtered again only after {took:?}"
    );
    assert!(
        answered == 0 || last <= took + Duration::from_millis(100),
        "the protected port answered at {last:?}, after the filter was back at {took:?}"
    );
    assert_eq!(lab.connect(SERVER_V4.into(), 8000), Tcp::Filtered);
    assert_eq!(lab.connect(SERVER_V4.into(), 80), Tcp::Open);
}

#[test]
fn status_and_metrics_say_when_the_kernel_no_longer_filters() {
    let lab = Lab::new();
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22"]);
    exporter::start(&lab, &[]);
    let attached = format!("interface=\"{SERVER_IF}\",mode=\"native\"");
    let text = scrape(&lab);
    assert_eq!(value(&text, "fwxdp_attached", &attached), Some(1), "{text}");
    let filtered = format!("interface=\"{SERVER_IF}\",reason=\"filtered\"");
    assert_eq!(
        value(&text, "fwxdp_interface_unfiltered", &filtered),
        Some(0),
        "{text}"
    );
    // Made again behind fwxdp's back: the pins remain, the filter does not.
    lab.recreate_server_link();
    let text = scrape(&lab);
    assert_eq!(value(&text, "fwxdp_attached", &attached), Some(0), "{text}");
    let recreated = format!("interface=\"{SERVER_IF}\",reason=\"recreated\"");
    assert_eq!(
        value(&text, "fwxdp_interface_unfiltered", &recreated),
        Some(1),
        "{text}"
    );
    let out = lab.fwxdp(&["status"]);
    assert_eq!(out.status.code(), Some(1));
    // In tc mode over clsact, a filter deleted by hand is seen as well.
    lab.set_fwxdp_env("FWXDP_TC_MECHANISM", "clsact");
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22", "--mode", "tc"]);
    assert_eq!(lab.status_json()["interfaces"][0]["filtering"], true);
    lab.server
        .run(&["tc", "filter", "del", "dev", SERVER_IF, "ingress"]);
    let status = lab.status_json();
    assert_eq!(status["interfaces"][0]["filtering"], false, "{status}");
    assert!(
        status["interfaces"][0]["unfiltered"]
            .as_str()
            .is_some_and(|why| why.contains("no longer attached")),
        "{status}"
    );
    // And attach repairs it.
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22", "--mode", "tc"]);
    assert_eq!(lab.status_json()["interfaces"][0]["filtering"], true);
}

#[test]
fn an_interface_leaving_a_bridge_keeps_its_filter() {
    let lab = Lab::new();
    let _db = services::tcp(&lab.server, 5432);
    let service = Service::start(&lab, &interface("22"));
    service.wait_ready();
    // The bridge announces its ports coming and going with messages of its own family
    // (name and index of the port): they are not the port being deleted.
    lab.server.ip(&["link", "add", "brz0", "type", "bridge"]);
    lab.server.ip(&["link", "set", SERVER_IF, "master", "brz0"]);
    lab.server.ip(&["link", "set", SERVER_IF, "nomaster"]);
    lab.server.ip(&["link", "del", "brz0"]);
    thread::sleep(Duration::from_millis(500));
    assert!(
        !service.log().contains("deleted: its filter went with it"),
        "{}",
        service.log()
    );
    let status = lab.status_json();
    assert_eq!(status["interfaces"][0]["filtering"], true, "{status}");
    let deadline = Instant::now() + Duration::from_secs(3);
    while lab.connect(SERVER_V4.into(), 22) == Tcp::Filtered {
        assert!(Instant::now() < deadline, "22 never answered again");
    }
    assert_eq!(lab.connect(SERVER_V4.into(), 5432), Tcp::Filtered);
}
