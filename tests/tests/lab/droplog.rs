//! The drop log on real packets: `fwxdp log --json` carries the addresses and ports of what
//! was dropped, the bound holds exactly with the rest counted, and the service writes each
//! drop to its log as an iptables-style line and serves `fwxdp log`.

use std::{
    net::{IpAddr, SocketAddr},
    thread,
    time::Duration,
};

use fwxdp_tests::lab::{
    CLIENT_V4, CLIENT_V6, Lab, PROBE_TIMEOUT, SERVER_IF, SERVER_V4, SERVER_V6,
    daemon::{Service, interface},
    probe::{self, Tcp},
    services,
};
use socket2::{Domain, Socket, Type};

fn log_json(lab: &Lab, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["log", "--json"];
    args.extend_from_slice(extra);
    lab.fwxdp_ok(&args)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

#[test]
fn dropped_connections_are_logged_with_their_addresses_and_ports() {
    let lab = Lab::new();
    let _ssh = services::tcp_ports(&lab.server, &[22, 5432]);
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22", "--log-rate", "20"]);
    for (from, to) in [
        (IpAddr::from(CLIENT_V4), IpAddr::from(SERVER_V4)),
        (IpAddr::from(CLIENT_V6), IpAddr::from(SERVER_V6)),
    ] {
        let probe = probe::tcp(
            &lab.internet,
            Some(from),
            SocketAddr::new(to, 5432),
            PROBE_TIMEOUT,
        );
        assert_eq!(probe, Tcp::Filtered);
        assert_eq!(lab.connect(to, 22), Tcp::Open, "allowed: not logged");
    }
    let events = log_json(&lab, &[]);
    let syns: Vec<_> = events.iter().filter(|e| e["dst_port"] == 5432).collect();
    assert_eq!(syns.len(), 2, "{events:?}");
    assert!(events.iter().all(|e| e["dst_port"] != 22), "{events:?}");
    for (event, (src, dst)) in syns.iter().zip([
        (CLIENT_V4.to_string(), SERVER_V4.to_string()),
        (CLIENT_V6.to_string(), SERVER_V6.to_string()),
    ]) {
        assert_eq!(event["src"], src.as_str(), "{event}");
        assert_eq!(event["dst"], dst.as_str(), "{event}");
        assert_eq!(event["interface"], SERVER_IF);
        assert_eq!(event["reason"], "port");
        assert_eq!(event["protocol"], "tcp");
        assert_eq!(event["flags"], serde_json::json!(["SYN"]));
        let line = event["line"].as_str().unwrap();
        assert!(
            line.starts_with(&format!("fwxdp DROP IN={SERVER_IF} SRC={src} DST={dst} "))
                && line.contains(" PROTO=TCP SPT=")
                && line.ends_with(" DPT=5432 SYN REASON=port"),
            "{line}"
        );
    }
    // Read once: the ring is drained.
    assert!(log_json(&lab, &[]).iter().all(|e| e["dst_port"] != 5432));
}

/// Sends `count` SYNs to a protected port at once from one CPU (the veth delivers on the
/// sender's CPU, and the bound is per CPU), then closes them before any is sent again.
fn syn_burst(lab: &Lab, count: usize) {
    lab.internet.enter(move || {
        fwxdp_tests::pin_to_this_cpu();
        let to = SocketAddr::new(SERVER_V4.into(), 6379);
        let sockets: Vec<Socket> = (0..count)
            .map(|_| {
                let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
                s.set_nonblocking(true).expect("non-blocking");
                // In progress: the SYN is on its way.
                let _: std::io::Result<()> = s.connect(&to.into());
                s
            })
            .collect();
        thread::sleep(Duration::from_millis(300));
        drop(sockets);
    });
}

#[test]
fn over_its_rate_the_log_carries_exactly_the_rate_and_counts_the_rest() {
    let lab = Lab::new();
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22", "--log-rate", "3"]);
    syn_burst(&lab, 10);
    let events: Vec<_> = log_json(&lab, &[])
        .into_iter()
        .filter(|e| e["dst_port"] == 6379)
        .collect();
    assert_eq!(events.len(), 3, "{events:?}");
    let stats = lab.stats_json();
    assert_eq!(stats["interfaces"][0]["log"]["suppressed"], 7, "{stats}");
    assert_eq!(stats["interfaces"][0]["log"]["lost"], 0, "{stats}");
    let port = lab.port_drops("tcp", 6379);
    assert_eq!(port.0, 10, "every drop counted, logged or not");
}

#[test]
fn the_service_writes_drops_to_its_log_and_serves_them() {
    let lab = Lab::new();
    let _db = services::tcp_ports(&lab.server, &[5432]);
    let service = Service::start(&lab, &format!("{}log_rate = 20\n", interface("22")));
    service.wait_ready();
    assert_eq!(lab.connect(SERVER_V4.into(), 5432), Tcp::Filtered);
    let line = format!("fwxdp DROP IN={SERVER_IF} SRC={CLIENT_V4} DST={SERVER_V4} ");
    service.until("the drop in the service's log", || {
        service
            .log()
            .lines()
            .any(|l| l.contains(&line) && l.contains("DPT=5432 SYN REASON=port"))
    });
    // `fwxdp log` asks the service, which read the ring first.
    lab.set_fwxdp_env(
        "FWXDP_RUN_DIR",
        &service.dir.join("run").display().to_string(),
    );
    let events = log_json(&lab, &[]);
    assert!(
        events
            .iter()
            .any(|e| e["dst_port"] == 5432 && e["src"] == CLIENT_V4.to_string()),
        "{events:?}"
    );
}
