//! State left by something else (another fwxdp build, a process killed midway) is never
//! handled by opening ports.

use aya::programs::{TcAttachType, links::PinnedLink};
use fwxdp::state::{LinkPin, MapSource, PinDir, PolicyMaps, ProgramPin};
use fwxdp_common::Config;
use fwxdp_tests::lab::{Lab, SERVER_IF, SERVER_V4, probe::Tcp, services, watch};

#[test]
fn pins_that_say_another_layout_are_upgraded_with_the_policy_asked_for() {
    let lab = Lab::new();
    let _db = services::tcp(&lab.server, 5432);
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22"]);
    let dir = lab.pin_root().join(SERVER_IF);
    let mut maps = PolicyMaps::open(&mut MapSource::Pinned(&dir)).expect("open pins");
    let config = maps.config().expect("config");
    maps.set_config(&Config {
        version: 99,
        ..config
    })
    .expect("write");
    // Nothing reads that layout's policy as this one's.
    let out = lab.fwxdp(&["allow", SERVER_IF, "5432"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("another layout"));
    assert_eq!(lab.connect(SERVER_V4.into(), 5432), Tcp::Filtered);

    let out = lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,5432"]);
    assert!(out.contains("pins upgraded from layout 99"), "{out}");
    assert_eq!(lab.connect(SERVER_V4.into(), 5432), Tcp::Open);
    let status = lab.status_json();
    assert_eq!(status["interfaces"][0]["filtering"], true, "{status}");
    assert_eq!(
        status["interfaces"][0]["attached_at"], config.attached_at,
        "{status}"
    );
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22"]);
    assert_eq!(lab.connect(SERVER_V4.into(), 5432), Tcp::Filtered);
}

#[test]
fn a_mode_switch_killed_midway_is_repaired_without_an_open_moment() {
    let lab = Lab::new();
    let _db = services::tcp(&lab.server, 5432);
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22"]);
    let dir = lab.pin_root().join(SERVER_IF);
    // What a switch killed after releasing XDP leaves: only the TC bridge link.
    lab.server.enter({
        let dir = dir.clone();
        move || {
            let pins = PinDir::new(&dir);
            let link = fwxdp::attach::hook::attach_tc(
                &pins,
                ProgramPin::TcIngress,
                SERVER_IF,
                TcAttachType::Ingress,
            )
            .expect("tc");
            pins.keep(link, LinkPin::Bridge).expect("pin the bridge");
            let old = PinnedLink::from_pin(dir.join("link_ingress")).expect("ingress link");
            drop(old.unpin().expect("unpin"));
        }
    });
    assert!(!dir.join("link_ingress").exists());
    assert_eq!(
        lab.connect(SERVER_V4.into(), 5432),
        Tcp::Filtered,
        "the bridge filters"
    );

    let out = lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22"]);
    assert!(
        out.contains("policy replaced in place (TC ingress)"),
        "{out}"
    );
    assert!(dir.join("link_ingress").exists() && !dir.join("link_bridge").exists());
    assert_eq!(lab.status_json()["interfaces"][0]["mode"], "tc");
    assert_eq!(lab.connect(SERVER_V4.into(), 5432), Tcp::Filtered);
    // And it moves on normally.
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22", "--mode", "native"]);
    assert_eq!(lab.status_json()["interfaces"][0]["mode"], "native");
    assert_eq!(lab.connect(SERVER_V4.into(), 5432), Tcp::Filtered);
}

#[test]
fn a_filter_an_attach_left_unrenamed_is_shown_and_taken_over_without_a_gap() {
    let lab = Lab::new();
    let _services = services::tcp_ports(&lab.server, &[80, 8000, 8001]);
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,80"]);
    // What an attach killed just before its final rename leaves: the whole filter, pinned
    // in its staging directory.
    let pins = lab.pin_root();
    let staging = pins.join(format!("staging:99999:{SERVER_IF}"));
    std::fs::rename(pins.join(SERVER_IF), &staging).expect("make it a staging directory");
    let status = lab.status_json();
    assert_eq!(status["interfaces"][0]["interface"], SERVER_IF, "{status}");
    assert_eq!(status["interfaces"][0]["mode"], "native", "{status}");
    assert_eq!(lab.connect(SERVER_V4.into(), 8000), Tcp::Filtered);

    let report = watch::while_changing(&lab, 80, 8000, 8001, || {
        let out = lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,80"]);
        assert!(
            out.contains("policy replaced in place (native XDP)"),
            "{out}"
        );
        // Long enough a window for the watchers to mean something.
        std::thread::sleep(std::time::Duration::from_secs(2));
    });
    report.assert_held("the next attach after a killed one");
    assert!(!staging.exists() && pins.join(SERVER_IF).exists());
}

#[test]
fn attaching_another_interface_takes_over_a_killed_attach_instead_of_sweeping_it() {
    let lab = Lab::new();
    let _db = services::tcp(&lab.server, 5432);
    // A second interface in the server namespace.
    lab.server.ip(&[
        "link", "add", "fwxa", "type", "veth", "peer", "name", "fwxb",
    ]);
    lab.server.ip(&["link", "set", "fwxa", "up"]);
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22"]);
    let pins = lab.pin_root();
    std::fs::rename(
        pins.join(SERVER_IF),
        pins.join(format!("staging:99999:{SERVER_IF}")),
    )
    .expect("make it a staging directory");
    lab.fwxdp_ok(&["attach", "fwxa", "--allow", "22"]);
    let status = lab.status_json();
    let names: Vec<&str> = status["interfaces"]
        .as_array()
        .expect("interfaces")
        .iter()
        .filter_map(|i| i["interface"].as_str())
        .collect();
    assert_eq!(names, ["fwx0", "fwxa"], "{status}");
    assert!(pins.join(SERVER_IF).exists(), "taken over into place");
    assert_eq!(lab.connect(SERVER_V4.into(), 5432), Tcp::Filtered);
}
