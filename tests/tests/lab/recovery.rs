//! State left by something else (another fwxdp build, a process killed midway) is never
//! handled by opening ports.

use aya::programs::{TcAttachType, links::PinnedLink};
use fwxdp::state::{LinkPin, MapSource, PinDir, PolicyMaps, ProgramPin};
use fwxdp_common::Config;
use fwxdp_tests::lab::{Lab, SERVER_IF, SERVER_V4, probe::Tcp, services};

#[test]
fn pins_of_another_layout_leave_the_filter_in_force() {
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

    let out = lab.fwxdp(&["attach", SERVER_IF, "--allow", "22,5432"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("another pin layout") && stderr.contains("fwxdp detach fwx0"),
        "{stderr}"
    );
    assert_eq!(
        lab.connect(SERVER_V4.into(), 5432),
        Tcp::Filtered,
        "the old filter must stay"
    );
    // The way out the message names works.
    lab.fwxdp_ok(&["detach", SERVER_IF]);
    assert_eq!(lab.connect(SERVER_V4.into(), 5432), Tcp::Open);
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
