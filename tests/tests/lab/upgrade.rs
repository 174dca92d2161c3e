//! An fwxdp of another pin layout takes an attached interface over, and an fwxdp of the first
//! layout takes it back, with no unfiltered moment, in every attach mechanism: each link
//! switches to the new instance's programs in one step of the kernel's.

use std::{net::UdpSocket, time::Duration};

use aya::programs::{SchedClassifier, TcAttachType};
use fwxdp_common::CONFIG_VERSION;
use fwxdp_tests::lab::{CLIENT_V4, Lab, SERVER_IF, SERVER_V4, next_layout_bin, services, watch};

/// Fails unless the pin root holds nothing of an upgrade (no `upgrade:`, `retired:` or
/// `staging:` directory): only interfaces and the shared `global:` blocklist.
fn assert_no_upgrade_left(lab: &Lab, what: &str) {
    let left: Vec<String> = std::fs::read_dir(lab.pin_root())
        .expect("read the pin root")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|e| e.contains(':') && !e.starts_with("global:"))
        .collect();
    assert!(left.is_empty(), "{what}: left {left:?}");
}

/// How many BPF programs the kernel runs on the server interface: XDP, TCX and `cls_bpf`
/// filters, both directions.
fn programs_attached(lab: &Lab) -> usize {
    let link = lab
        .server
        .run(&["ip", "-d", "link", "show", "dev", SERVER_IF]);
    let xdp = String::from_utf8_lossy(&link.stdout)
        .matches("prog/xdp")
        .count();
    let mut count = xdp;
    for direction in [TcAttachType::Ingress, TcAttachType::Egress] {
        let name = format!("{direction:?}").to_lowercase();
        let out = lab
            .server
            .run(&["tc", "filter", "show", "dev", SERVER_IF, &name]);
        count += String::from_utf8_lossy(&out.stdout)
            .matches("direct-action")
            .count();
        count += lab.server.within(|| {
            SchedClassifier::query_tcx(SERVER_IF, direction).map_or(0, |(_, p)| p.len())
        });
    }
    count
}

#[test]
fn upgrading_across_pin_layouts_and_back_leaves_no_gap_in_any_mechanism() {
    let next = next_layout_bin();
    let other = CONFIG_VERSION + 1;
    for (mode, mechanism) in [
        ("native", None),
        ("generic", None),
        ("tc", None),
        ("tc", Some("clsact")),
    ] {
        let what = format!("{mode} {mechanism:?}");
        let lab = Lab::new();
        if let Some(mechanism) = mechanism {
            lab.set_fwxdp_env("FWXDP_TC_MECHANISM", mechanism);
        }
        let _services = services::tcp_ports(&lab.server, &[80, 8000, 8001]);
        lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,80", "--mode", mode]);
        let first = lab.status_json()["interfaces"][0].clone();
        let attached = programs_attached(&lab);
        let report = watch::while_maps_change(&lab, 80, 8000, 8001, || {
            for (bin, from, to) in [
                (Some(next.clone()), CONFIG_VERSION, other),
                (None, other, CONFIG_VERSION),
                (Some(next.clone()), CONFIG_VERSION, other),
            ] {
                lab.use_fwxdp(bin);
                let out = lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,80"]);
                let said = format!("pins upgraded from layout {from} to {to}");
                assert!(out.contains(&said), "{what}: {out}");
                let status = lab.status_json();
                let now = &status["interfaces"][0];
                assert_eq!(now["filtering"], true, "{what}: {status}");
                assert_eq!(now["mode"], first["mode"], "{what}: {status}");
                assert_eq!(now["attached_at"], first["attached_at"], "{what}: {status}");
                // The old instance is gone, programs and all: nothing filters twice.
                assert_eq!(programs_attached(&lab), attached, "{what}: {status}");
                assert_no_upgrade_left(&lab, &what);
            }
        });
        report.assert_held_uncounted(&what);
        // The new maps count: what the upgraded filter drops shows.
        assert_eq!(
            lab.connect(SERVER_V4.into(), 8001),
            fwxdp_tests::lab::probe::Tcp::Filtered
        );
        assert!(lab.port_drops("tcp", 8001).0 > 0, "{what}");
        // Once more without a layout change: an ordinary replacement.
        let out = lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,80,8000"]);
        assert!(!out.contains("upgraded"), "{what}: {out}");
        lab.fwxdp_ok(&["detach", "--all"]);
        assert_eq!(programs_attached(&lab), 0, "{what}");
    }
}

#[test]
fn a_flow_the_host_started_before_an_upgrade_gets_its_reply_after_it() {
    let lab = Lab::new();
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22"]);
    let peer = lab
        .internet
        .enter(|| UdpSocket::bind((CLIENT_V4, 9054)).expect("bind the peer"));
    let host = lab
        .server
        .enter(|| UdpSocket::bind((SERVER_V4, 0)).expect("bind the host's socket"));
    host.send_to(b"query", (CLIENT_V4, 9054)).expect("send");
    let mut buf = [0; 16];
    peer.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let (_, from) = peer.recv_from(&mut buf).expect("the query arrives");
    lab.use_fwxdp(Some(next_layout_bin()));
    let out = lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22"]);
    assert!(out.contains("pins upgraded"), "{out}");
    // The reply comes after the upgrade, to a port nothing allows inbound.
    peer.send_to(b"answer", from).expect("reply");
    host.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let got = host.recv_from(&mut buf).map(|(n, _)| buf[..n].to_vec());
    assert_eq!(
        got.ok().as_deref(),
        Some(&b"answer"[..]),
        "the reply was dropped"
    );
    // An unsolicited datagram to that port still is.
    let stranger = lab
        .internet
        .enter(|| UdpSocket::bind((CLIENT_V4, 9055)).expect("bind"));
    stranger
        .send_to(b"hello", host.local_addr().expect("addr"))
        .expect("send");
    host.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    assert!(
        host.recv_from(&mut buf).is_err(),
        "an unsolicited datagram got in"
    );
}

#[test]
fn pins_of_a_layout_that_holds_what_this_build_does_not_know_are_left_filtering() {
    let lab = Lab::new();
    let _listener = services::tcp(&lab.server, 8001);
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22"]);
    let dir = lab.pin_root().join(SERVER_IF);
    // A later layout's map, under a name this build has never pinned.
    let config = aya::maps::MapData::from_pin(dir.join("config")).expect("open the config");
    config.pin(dir.join("future_map")).expect("pin it again");
    lab.use_fwxdp(Some(next_layout_bin()));
    let (sent, answered, out) = watch::raw_answers_during(&lab, 8001, || {
        lab.fwxdp(&["attach", SERVER_IF, "--allow", "22,8001"])
    });
    assert!(!out.status.success(), "the upgrade went ahead");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("future_map") && stderr.contains("does not know"),
        "{stderr}"
    );
    assert!(sent > 0);
    assert_eq!(answered, 0, "the protected port answered");
    // Nothing of the upgrade is left, and the old filter shows as filtering.
    assert_no_upgrade_left(&lab, "a refused upgrade");
    let status = lab.status_json();
    assert_eq!(status["interfaces"][0]["filtering"], true, "{status}");
    // Nor is the old layout's policy read as this one's, to edit or to revert to.
    let out = lab.fwxdp(&["allow", SERVER_IF, "8001"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("another layout"), "{stderr}");
    std::fs::remove_file(dir.join("future_map")).expect("unpin");
    lab.use_fwxdp(None);
}
