//! The allowlist filter on real packets, in the lab.

use std::{
    net::{IpAddr, SocketAddr},
    thread,
    time::Duration,
};

use fwxdp_tests::lab::{
    CLIENT_V4, CLIENT_V6, CLIENT2_V4, CLIENT2_V6, Lab, PROBE_TIMEOUT, SERVER_IF, SERVER_V4,
    SERVER_V6, eventually,
    probe::{self, Tcp, Udp},
    services, watch,
};

const SERVER_ADDRS: [IpAddr; 2] = [IpAddr::V4(SERVER_V4), IpAddr::V6(SERVER_V6)];

#[test]
fn allowed_ports_connect_and_protected_ports_time_out() {
    let lab = Lab::new();
    let _services = services::tcp_ports(&lab.server, &[22, 80, 5432, 6379]);
    let out = lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,80"]);
    assert!(out.contains("attached (native XDP)"), "{out}");
    for addr in SERVER_ADDRS {
        assert_eq!(lab.connect(addr, 22), Tcp::Open, "{addr}:22");
        assert_eq!(lab.connect(addr, 80), Tcp::Open, "{addr}:80");
        assert_eq!(lab.connect(addr, 5432), Tcp::Filtered, "{addr}:5432");
        assert_eq!(lab.connect(addr, 6379), Tcp::Filtered, "{addr}:6379");
        // Nothing listens on 81: without the filter it would be Closed (RST).
        assert_eq!(lab.connect(addr, 81), Tcp::Filtered, "{addr}:81");
    }
}

#[test]
fn udp_to_protected_ports_is_dropped_and_allowed_udp_answers() {
    let lab = Lab::new();
    let _dns = services::udp_echo(&lab.server, 53);
    let _other = services::udp_echo(&lab.server, 5353);
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22/tcp,53/udp"]);
    for addr in SERVER_ADDRS {
        let probe = |port| {
            probe::udp(
                &lab.internet,
                None,
                SocketAddr::new(addr, port),
                PROBE_TIMEOUT,
            )
        };
        assert_eq!(probe(53), Udp::Reply, "{addr}:53");
        assert_eq!(probe(5353), Udp::Silent, "{addr}:5353");
    }
}

#[test]
fn the_server_still_reaches_protected_ports_over_localhost() {
    let lab = Lab::new();
    let _db = services::tcp(&lab.server, 5432);
    let _udp = services::udp_echo(&lab.server, 5353);
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22"]);
    assert_eq!(lab.connect(SERVER_V4.into(), 5432), Tcp::Filtered);
    for local in ["127.0.0.1", "::1"] {
        let to = SocketAddr::new(local.parse().expect("addr"), 5432);
        assert_eq!(probe::tcp(&lab.server, None, to, PROBE_TIMEOUT), Tcp::Open);
        let to = SocketAddr::new(local.parse().expect("addr"), 5353);
        assert_eq!(probe::udp(&lab.server, None, to, PROBE_TIMEOUT), Udp::Reply);
    }
    // The server's own external address, used from the server, goes over loopback too.
    let to = SocketAddr::new(SERVER_V4.into(), 5432);
    assert_eq!(probe::tcp(&lab.server, None, to, PROBE_TIMEOUT), Tcp::Open);
}

#[test]
fn the_servers_outbound_tcp_and_udp_get_their_replies() {
    let lab = Lab::new();
    // Services out on the internet, on ports the server does not allow inbound.
    let _web = services::tcp(&lab.internet, 9000);
    let _dns = services::udp_echo(&lab.internet, 9053);
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22"]);
    for client in [IpAddr::V4(CLIENT_V4), IpAddr::V6(CLIENT_V6)] {
        let tcp = SocketAddr::new(client, 9000);
        assert_eq!(
            probe::tcp(&lab.server, None, tcp, PROBE_TIMEOUT),
            Tcp::Open,
            "{tcp}"
        );
        let udp = SocketAddr::new(client, 9053);
        assert_eq!(
            probe::udp(&lab.server, None, udp, PROBE_TIMEOUT),
            Udp::Reply,
            "{udp}"
        );
    }
    // The same UDP port, unsolicited from the outside, stays closed.
    let _echo = services::udp_echo(&lab.server, 9053);
    let to = SocketAddr::new(SERVER_V4.into(), 9053);
    assert_eq!(
        probe::udp(&lab.internet, None, to, PROBE_TIMEOUT),
        Udp::Silent
    );
}

#[test]
fn neighbour_discovery_works_through_the_filter() {
    let lab = Lab::new();
    let _ssh = services::tcp(&lab.server, 22);
    let _web = services::tcp(&lab.internet, 9000);
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22"]);
    for _ in 0..2 {
        lab.server.ip(&["neigh", "flush", "all"]);
        lab.internet.ip(&["neigh", "flush", "all"]);
        for addr in SERVER_ADDRS {
            assert_eq!(lab.connect(addr, 22), Tcp::Open, "{addr}");
        }
        lab.server.ip(&["neigh", "flush", "all"]);
        lab.internet.ip(&["neigh", "flush", "all"]);
        for client in [IpAddr::V4(CLIENT_V4), IpAddr::V6(CLIENT_V6)] {
            let to = SocketAddr::new(client, 9000);
            assert_eq!(probe::tcp(&lab.server, None, to, PROBE_TIMEOUT), Tcp::Open);
        }
    }
    let stats = lab.stats_json();
    assert!(
        stats["interfaces"][0]["reasons"]["other"]["packets"]
            .as_u64()
            .is_some_and(|n| n > 0),
        "ARP / neighbour discovery should be counted as passed 'other': {stats}"
    );
}

#[test]
fn a_source_cidr_rule_admits_one_client_and_not_another() {
    let lab = Lab::new();
    let _db = services::tcp(&lab.server, 5432);
    lab.fwxdp_ok(&[
        "attach",
        SERVER_IF,
        "--allow",
        &format!("22,5432@{CLIENT_V4}/32,5432@{CLIENT_V6}/128"),
    ]);
    let connect = |from: IpAddr, to: IpAddr| {
        probe::tcp(
            &lab.internet,
            Some(from),
            SocketAddr::new(to, 5432),
            PROBE_TIMEOUT,
        )
    };
    assert_eq!(connect(CLIENT_V4.into(), SERVER_V4.into()), Tcp::Open);
    assert_eq!(connect(CLIENT2_V4.into(), SERVER_V4.into()), Tcp::Filtered);
    assert_eq!(connect(CLIENT_V6.into(), SERVER_V6.into()), Tcp::Open);
    assert_eq!(connect(CLIENT2_V6.into(), SERVER_V6.into()), Tcp::Filtered);
    let status = lab.status_json();
    assert_eq!(
        status["interfaces"][0]["allow"],
        serde_json::json!(["22", "5432@10.77.0.2/32", "5432@fd00:77::2/128"])
    );
}

#[test]
fn the_filter_outlives_the_fwxdp_process() {
    let lab = Lab::new();
    let _db = services::tcp(&lab.server, 5432);
    let _ssh = services::tcp(&lab.server, 22);
    // `attach` has exited by the time fwxdp_ok returns; nothing of fwxdp runs now.
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22"]);
    thread::sleep(Duration::from_millis(200));
    assert_eq!(lab.connect(SERVER_V4.into(), 5432), Tcp::Filtered);
    assert_eq!(lab.connect(SERVER_V4.into(), 22), Tcp::Open);
    let link = lab.pin_root().join(SERVER_IF).join("link_ingress");
    assert!(link.exists(), "{} missing", link.display());
    let xdp = lab.server.ip(&["-d", "link", "show", "dev", SERVER_IF]);
    assert!(
        String::from_utf8_lossy(&xdp.stdout).contains("xdp"),
        "no XDP program on {SERVER_IF}"
    );
}

#[test]
fn reattaching_replaces_the_policy_with_no_leak() {
    let lab = Lab::new();
    let _services = services::tcp_ports(&lab.server, &[80, 443, 8000, 8001]);
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,80"]);
    let first = lab.status_json()["interfaces"][0].clone();

    // While the policy is replaced 50 times, clients and raw SYNs watch the filter hold.
    let report = watch::while_changing(&lab, 80, 8000, 8001, || {
        for i in 0..50 {
            let list = if i % 2 == 0 { "22,80,443" } else { "22,80" };
            let out = lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", list]);
            assert!(out.contains("policy replaced in place"), "{out}");
        }
    });
    report.assert_held("50 replacements");

    // The last list is in force, in place: same program, same attach time.
    assert_eq!(lab.connect(SERVER_V4.into(), 443), Tcp::Filtered);
    let last = lab.status_json()["interfaces"][0].clone();
    assert_eq!(last["allow"], serde_json::json!(["22", "80"]));
    assert_eq!(last["program_id"], first["program_id"]);
    assert_eq!(last["attached_at"], first["attached_at"]);
}

#[test]
fn detach_restores_reachability_and_removes_the_pins() {
    let lab = Lab::new();
    let _db = services::tcp(&lab.server, 5432);
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22"]);
    assert_eq!(lab.connect(SERVER_V6.into(), 5432), Tcp::Filtered);
    let out = lab.fwxdp_ok(&["detach", SERVER_IF]);
    assert!(out.contains("detached"), "{out}");
    assert_eq!(lab.connect(SERVER_V6.into(), 5432), Tcp::Open);
    assert_eq!(lab.connect(SERVER_V4.into(), 5432), Tcp::Open);
    assert!(!lab.pin_root().join(SERVER_IF).exists());
    let link = lab.server.ip(&["-d", "link", "show", "dev", SERVER_IF]);
    assert!(!String::from_utf8_lossy(&link.stdout).contains("prog/xdp"));
    assert!(
        lab.fwxdp_ok(&["status"])
            .contains("no interface is attached")
    );
    // Detaching again is an error that names the interface.
    let again = lab.fwxdp(&["detach", SERVER_IF]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("fwx0 is not attached"));
}

#[test]
fn monitor_mode_counts_but_drops_nothing() {
    let lab = Lab::new();
    let _db = services::tcp(&lab.server, 5432);
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22", "--monitor"]);
    assert_eq!(lab.connect(SERVER_V4.into(), 5432), Tcp::Open);
    assert_eq!(eventually(&1, || lab.port_drops("tcp", 5432).0), 1);
    let stats = lab.stats_json();
    assert_eq!(stats["interfaces"][0]["monitor"], true);
    // Switching monitor off in place starts dropping.
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22"]);
    assert_eq!(lab.connect(SERVER_V4.into(), 5432), Tcp::Filtered);
}
