//! `fwxdp allow` and `fwxdp revoke`: one item at a time into and out of the running policy,
//! on real connections, with no leak and no outage of what the edit leaves alone.

use std::net::{IpAddr, SocketAddr};

use fwxdp_tests::lab::{
    CLIENT_V4, CLIENT2_V4, Lab, PROBE_TIMEOUT, SERVER_IF, SERVER_V4, SERVER_V6,
    probe::{self, Tcp},
    services, watch,
};
use serde_json::json;

fn running(lab: &Lab) -> (serde_json::Value, serde_json::Value) {
    let status = lab.status_json();
    let iface = &status["interfaces"][0];
    (iface["allow"].clone(), iface["limits"].clone())
}

fn connect_from(lab: &Lab, from: IpAddr, port: u16) -> Tcp {
    probe::tcp(
        &lab.internet,
        Some(from),
        SocketAddr::new(SERVER_V4.into(), port),
        PROBE_TIMEOUT,
    )
}

#[test]
fn allow_and_revoke_toggle_one_port_with_no_leak_or_outage() {
    let lab = Lab::new();
    let _services = services::tcp_ports(&lab.server, &[80, 8000, 8001, 5432]);
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,80"]);
    let first = lab.status_json()["interfaces"][0].clone();

    // 80 must answer and 8001 stay shut throughout; raw SYNs stream to 5432.
    let report = watch::while_changing(&lab, 80, 8001, 5432, || {
        for _ in 0..15 {
            let out = lab.fwxdp_ok(&["allow", SERVER_IF, "8000/tcp"]);
            assert!(out.contains("policy replaced in place"), "{out}");
            lab.fwxdp_ok(&["revoke", SERVER_IF, "8000/tcp"]);
        }
    });
    report.assert_held("30 edits");

    let out = lab.fwxdp_ok(&["allow", SERVER_IF, "8000/tcp"]);
    assert!(out.contains("allowing 22,80,8000/tcp"), "{out}");
    for addr in [IpAddr::V4(SERVER_V4), IpAddr::V6(SERVER_V6)] {
        assert_eq!(lab.connect(addr, 8000), Tcp::Open, "{addr}:8000");
        assert_eq!(lab.connect(addr, 80), Tcp::Open, "{addr}:80");
        assert_eq!(lab.connect(addr, 8001), Tcp::Filtered, "{addr}:8001");
    }
    // In place: the same program, attached at the same time.
    let last = lab.status_json()["interfaces"][0].clone();
    assert_eq!(last["program_id"], first["program_id"]);
    assert_eq!(last["attached_at"], first["attached_at"]);
    assert_eq!(last["mode"], first["mode"]);
}

#[test]
fn every_kind_of_item_goes_in_and_comes_out_exactly() {
    let lab = Lab::new();
    let _services = services::tcp_ports(&lab.server, &[80, 2222, 5432, 8080, 8081]);
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,80,8080-8081/tcp"]);

    let cidr = format!("5432@{CLIENT_V4}/32");
    lab.fwxdp_ok(&[
        "allow",
        SERVER_IF,
        &cidr,
        "ip:gre@203.0.113.0/24,ip:esp",
        "2222/tcp=2/60s",
    ]);
    let (allow, limits) = running(&lab);
    assert_eq!(
        allow,
        json!([
            "22",
            "80",
            "2222/tcp",
            "8080-8081/tcp",
            "5432@10.77.0.2/32",
            "ip:esp",
            "ip:gre@203.0.113.0/24"
        ])
    );
    assert_eq!(limits, json!(["2222/tcp=2/1m"]));
    assert_eq!(connect_from(&lab, CLIENT_V4.into(), 5432), Tcp::Open);
    assert_eq!(connect_from(&lab, CLIENT2_V4.into(), 5432), Tcp::Filtered);
    // The limit is enforced: two new connections a minute from one source.
    assert_eq!(connect_from(&lab, CLIENT2_V4.into(), 2222), Tcp::Open);
    assert_eq!(connect_from(&lab, CLIENT2_V4.into(), 2222), Tcp::Open);
    assert_eq!(connect_from(&lab, CLIENT2_V4.into(), 2222), Tcp::Filtered);

    // Out again, one range port at a time, and what was never there is said so.
    let out = lab.fwxdp_ok(&[
        "revoke",
        SERVER_IF,
        &cidr,
        "ip:gre@203.0.113.0/24",
        "2222/tcp=2/60s",
        "8081/tcp",
        "443",
    ]);
    assert!(out.contains("443 was not allowed"), "{out}");
    let (allow, limits) = running(&lab);
    assert_eq!(allow, json!(["22", "80", "8080/tcp", "ip:esp"]));
    assert_eq!(limits, json!([]));
    assert_eq!(connect_from(&lab, CLIENT_V4.into(), 5432), Tcp::Filtered);
    assert_eq!(connect_from(&lab, CLIENT_V4.into(), 2222), Tcp::Filtered);
    assert_eq!(connect_from(&lab, CLIENT_V4.into(), 8081), Tcp::Filtered);
    assert_eq!(connect_from(&lab, CLIENT_V4.into(), 8080), Tcp::Open);

    // An allow of what is there changes nothing, and says so.
    let out = lab.fwxdp_ok(&["allow", "--all", "80/tcp"]);
    assert!(out.contains("80/tcp was already allowed"), "{out}");
    assert!(out.contains("nothing to change"), "{out}");
}

#[test]
fn a_bad_edit_changes_nothing() {
    let lab = Lab::new();
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,80"]);
    let before = running(&lab);
    for args in [
        vec!["allow", SERVER_IF, "8000/tcp", "99999"],
        vec!["allow", SERVER_IF, "22/tcp=99/1s"],
        vec!["revoke", SERVER_IF],
        vec!["allow", "--all", SERVER_IF, "8000"],
        vec!["allow", "8000"],
    ] {
        let out = lab.fwxdp(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(!out.stderr.is_empty(), "{args:?}: no message");
    }
    // An interface that is not attached: named, and the one that is stays as it was.
    let out = lab.fwxdp(&["allow", SERVER_IF, "fwxl-none0", "8000"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("fwxl-none0 is not attached"),
        "{out:?}"
    );
    assert_eq!(running(&lab), before);
}
