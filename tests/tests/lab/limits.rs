//! Per-source rate limits on real connections: the SSH-port limit of the hardening guides.

use std::{
    net::{IpAddr, SocketAddr},
    thread,
    time::{Duration, Instant},
};

use fwxdp_tests::lab::{
    CLIENT_V4, CLIENT_V6, CLIENT2_V4, CLIENT2_V6, Lab, PROBE_TIMEOUT, SERVER_IF, SERVER_V4,
    SERVER_V6,
    probe::{self, Tcp},
    services,
};

const WINDOW: Duration = Duration::from_secs(8);

#[test]
fn the_fifth_connection_in_a_window_is_dropped_and_others_still_connect() {
    let lab = Lab::new();
    let _ssh = services::tcp_ports(&lab.server, &[22, 80]);
    let out = lab.fwxdp_ok(&[
        "attach",
        SERVER_IF,
        "--allow",
        "80",
        "--limit",
        "22/tcp=4/8s",
    ]);
    assert!(out.contains("limiting 22/tcp=4/8s"), "{out}");
    let connect = |from: IpAddr, to: IpAddr| {
        probe::tcp(
            &lab.internet,
            Some(from),
            SocketAddr::new(to, 22),
            PROBE_TIMEOUT,
        )
    };
    let start = Instant::now();
    for i in 1..=4 {
        assert_eq!(
            connect(CLIENT_V4.into(), SERVER_V4.into()),
            Tcp::Open,
            "connection {i}"
        );
    }
    assert_eq!(
        connect(CLIENT_V4.into(), SERVER_V4.into()),
        Tcp::Filtered,
        "the 5th connection in the window"
    );
    assert_eq!(
        connect(CLIENT2_V4.into(), SERVER_V4.into()),
        Tcp::Open,
        "another client"
    );
    // Other ports are not limited.
    for _ in 0..6 {
        assert_eq!(lab.connect(SERVER_V4.into(), 80), Tcp::Open);
    }
    // IPv6 sources count per /64: both clients are in fd00:77::/64.
    let v6_start = Instant::now();
    for i in 1..=4 {
        assert_eq!(
            connect(CLIENT_V6.into(), SERVER_V6.into()),
            Tcp::Open,
            "v6 connection {i}"
        );
    }
    assert_eq!(connect(CLIENT_V6.into(), SERVER_V6.into()), Tcp::Filtered);
    assert_eq!(
        connect(CLIENT2_V6.into(), SERVER_V6.into()),
        Tcp::Filtered,
        "the same /64"
    );
    // A replacement in place keeps what the limit has counted.
    lab.fwxdp_ok(&[
        "attach",
        SERVER_IF,
        "--allow",
        "80,443",
        "--limit",
        "22/tcp=4/8s",
    ]);
    assert_eq!(
        connect(CLIENT_V4.into(), SERVER_V4.into()),
        Tcp::Filtered,
        "still over the limit after the replacement"
    );
    assert!(
        start.elapsed() < WINDOW,
        "the test took too long to prove the window"
    );
    let status = lab.status_json();
    assert_eq!(
        status["interfaces"][0]["limits"],
        serde_json::json!(["22/tcp=4/8s"]),
        "{status}"
    );
    let all = lab.stats_json();
    let counted = &all["interfaces"][0];
    assert_eq!(counted["reasons"]["ratelimit"]["packets"], 4, "{counted}");
    assert_eq!(counted["ratelimited"][0]["port"], 22, "{counted}");
    assert_eq!(counted["ratelimited"][0]["packets"], 4, "{counted}");
    // After the window the first client connects again.
    thread::sleep(WINDOW.saturating_sub(start.elapsed()) + Duration::from_millis(300));
    assert_eq!(
        connect(CLIENT_V4.into(), SERVER_V4.into()),
        Tcp::Open,
        "after the window"
    );
    thread::sleep(WINDOW.saturating_sub(v6_start.elapsed()) + Duration::from_millis(300));
    assert_eq!(
        connect(CLIENT_V6.into(), SERVER_V6.into()),
        Tcp::Open,
        "v6 after the window"
    );
}

#[test]
fn a_bad_limit_is_refused_with_exit_2_and_nothing_applied() {
    let lab = Lab::new();
    let _ssh = services::tcp_ports(&lab.server, &[22]);
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22"]);
    for bad in [
        "22=4/60s",
        "22/tcp=0/60s",
        "22/tcp=4/forever",
        "22/tcp=17/1m",
    ] {
        let out = lab.fwxdp(&["attach", SERVER_IF, "--allow", "80", "--limit", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("bad limit item") && stderr.contains(bad),
            "{bad}: {stderr}"
        );
    }
    let status = lab.status_json();
    assert_eq!(
        status["interfaces"][0]["allow"],
        serde_json::json!(["22"]),
        "{status}"
    );
    assert_eq!(
        status["interfaces"][0]["limits"],
        serde_json::json!([]),
        "{status}"
    );
}
