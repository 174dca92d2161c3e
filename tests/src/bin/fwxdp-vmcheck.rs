//! `cargo xtask vmtest` runs this inside each kernel's VM: for every attach mode, the filter
//! end to end between two network namespaces, with real packets: allowed and protected
//! ports over IPv4 and IPv6, replies to the server's UDP, a replace and a mode switch under
//! a stream of connection attempts, the filter after the attaching process exited, a block,
//! a rate limit and the drop log, what GRE, IPIP and 6in4 tunnels carry, detach. It prints one verdict line
//! per mode (`vmcheck: <kernel> <mode>: PASS ...` or `FAIL ...`) and exits non-zero when any
//! mode failed.
#![expect(
    unused_crate_dependencies,
    reason = "one package serves the test binaries and these tools; each needs only part of it"
)]

use std::{
    net::{IpAddr, SocketAddr},
    panic::AssertUnwindSafe,
    process::ExitCode,
    time::Instant,
};

use fwxdp_tests::lab::{
    CLIENT_V4, CLIENT_V6, Lab, PROBE_TIMEOUT, SERVER_IF, SERVER_V4, SERVER_V6,
    probe::{self, Tcp, Udp},
    services, watch,
};

const MODES: [&str; 4] = ["auto", "native", "generic", "tc"];

fn main() -> ExitCode {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "unknown".to_owned(), |r| r.trim().to_owned());
    let modes: Vec<String> = std::env::args().skip(1).collect();
    let modes: Vec<&str> = if modes.is_empty() {
        MODES.to_vec()
    } else {
        modes.iter().map(String::as_str).collect()
    };
    let mut failed = 0;
    for mode in modes {
        let started = Instant::now();
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| check(mode)));
        let seconds = started.elapsed().as_secs_f64();
        match result {
            Ok(mechanism) => {
                println!("vmcheck: {kernel} {mode}: PASS ({mechanism}) in {seconds:.1} s");
            }
            Err(panic) => {
                failed += 1;
                let why = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                let why = why.replace('\n', " ");
                println!("vmcheck: {kernel} {mode}: FAIL in {seconds:.1} s: {why}");
            }
        }
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Every check of one mode; panics on the first that fails. Returns the mechanisms in force.
fn check(mode: &str) -> String {
    let step = |what: &str| eprintln!("vmstep: {mode}: {what}");
    step("lab");
    let lab = Lab::new();
    step("attach");
    let _services = services::tcp_ports(&lab.server, &[22, 80, 8000, 8001]);
    let _echo4 = services::udp_echo(&lab.internet, 5353);
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,80", "--mode", mode]);
    // The attach process has exited: what filters now is what it left pinned.
    let status = lab.status_json()["interfaces"][0].clone();
    let in_force = status["mode"].as_str().unwrap_or("?").to_owned();
    let want = if mode == "auto" { "native" } else { mode };
    assert_eq!(in_force, want, "mode in force: {status}");
    for addr in [IpAddr::from(SERVER_V4), IpAddr::from(SERVER_V6)] {
        assert_eq!(
            lab.connect(addr, 22),
            Tcp::Open,
            "allowed port 22 on {addr}"
        );
        assert_eq!(
            lab.connect(addr, 80),
            Tcp::Open,
            "allowed port 80 on {addr}"
        );
        assert_eq!(
            lab.connect(addr, 8000),
            Tcp::Filtered,
            "protected port 8000 on {addr}"
        );
    }
    step("udp");
    // The server's own UDP gets its answers: the egress tracker admits them.
    for client in [IpAddr::from(CLIENT_V4), IpAddr::from(CLIENT_V6)] {
        let to = SocketAddr::new(client, 5353);
        assert_eq!(
            probe::udp(&lab.server, None, to, PROBE_TIMEOUT * 3),
            Udp::Reply,
            "reply to the server's UDP from {to}"
        );
    }
    step("replace");
    // A replacement under a stream of connection attempts leaks nothing and cuts nothing.
    let report = watch::while_changing(&lab, 80, 8000, 8001, || {
        lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,80,443"]);
        lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,80"]);
    });
    report.assert_held("replace in place");
    step("switch");
    // Moving to another mode and back: another mechanism holds the line meanwhile.
    let other = if want == "tc" { "native" } else { "tc" };
    let report = watch::while_changing(&lab, 80, 8000, 8001, || {
        lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,80", "--mode", other]);
        lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,80", "--mode", want]);
    });
    report.assert_held("mode switch and back");
    let now = lab.status_json()["interfaces"][0].clone();
    assert_eq!(
        now["mechanism"], status["mechanism"],
        "after the switch back: {now}"
    );
    let mechanism = format!(
        "ingress {}, egress {}",
        status["mechanism"].as_str().unwrap_or("?"),
        status["egress_mechanism"].as_str().unwrap_or("?")
    );
    step("block, limit, log");
    block_limit_log(&lab);
    step("tunnels");
    tunnels(&lab);
    step("detach");
    lab.fwxdp_ok(&["detach", SERVER_IF]);
    for addr in [IpAddr::from(SERVER_V4), IpAddr::from(SERVER_V6)] {
        assert_eq!(
            lab.connect(addr, 8000),
            Tcp::Open,
            "8000 after detach on {addr}"
        );
    }
    mechanism
}

/// The blocklist trie, the rate-limit LRU and the drop log's ring, on this kernel. The log
/// runs at a rate no probe here reaches, and is read empty first: the streams before filled
/// it to its bound.
fn block_limit_log(lab: &Lab) {
    let client = CLIENT_V4.to_string();
    lab.fwxdp_ok(&[
        "attach",
        SERVER_IF,
        "--allow",
        "22,80",
        "--log-rate",
        "1000",
    ]);
    lab.fwxdp_ok(&["log", "--json"]);
    lab.fwxdp_ok(&["block", "--all", &client]);
    assert_eq!(
        lab.connect(SERVER_V4.into(), 22),
        Tcp::Filtered,
        "a blocked client"
    );
    lab.fwxdp_ok(&["unblock", "--all", &client]);
    assert_eq!(lab.connect(SERVER_V4.into(), 22), Tcp::Open, "unblocked");
    assert_eq!(
        lab.connect(SERVER_V4.into(), 8000),
        Tcp::Filtered,
        "a protected port"
    );
    lab.fwxdp_ok(&[
        "attach",
        SERVER_IF,
        "--allow",
        "80",
        "--limit",
        "22/tcp=1/60s",
        "--log-rate",
        "1000",
    ]);
    assert_eq!(
        lab.connect(SERVER_V4.into(), 22),
        Tcp::Open,
        "the first within the limit"
    );
    assert_eq!(
        lab.connect(SERVER_V4.into(), 22),
        Tcp::Filtered,
        "over the limit"
    );
    let log = lab.fwxdp_ok(&["log", "--json"]);
    for (reason, port) in [("port", 8000), ("blocked", 22), ("ratelimit", 22)] {
        assert!(
            log.lines()
                .any(|l| l.contains(&format!("\"reason\":\"{reason}\""))
                    && l.contains(&format!("\"dst_port\":{port}"))),
            "a {reason} drop to {port} in the drop log: {log}"
        );
    }
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,80"]);
}

/// Real GRE, IPIP and 6in4 (sit) tunnels between the namespaces, framed as this kernel frames
/// them: what a tunnel from an allowed peer carries is judged as if it had arrived by
/// itself.
fn tunnels(lab: &Lab) {
    let (server, client) = (SERVER_V4.to_string(), CLIENT_V4.to_string());
    let overlays = [
        ("gre", "10.99.1.1/30", "10.99.1.2/30", "10.99.1.1"),
        ("ipip", "10.99.2.1/30", "10.99.2.2/30", "10.99.2.1"),
        ("sit", "fd99:3::1/64", "fd99:3::2/64", "fd99:3::1"),
    ];
    let mut targets = Vec::new();
    for (kind, server_net, client_net, target) in overlays {
        let name = format!("fwxt{kind}");
        for (ns, local, remote, net) in [
            (&lab.server, &server, &client, server_net),
            (&lab.internet, &client, &server, client_net),
        ] {
            ns.ip(&[
                "link", "add", &name, "type", kind, "local", local, "remote", remote,
            ]);
            ns.ip(&["addr", "add", net, "dev", &name, "nodad"]);
            ns.ip(&["link", "set", &name, "up"]);
        }
        targets.push((kind, target.parse::<IpAddr>().expect("an overlay address")));
    }
    let peer = format!("{client}/32");
    let tunnels = format!("ip:gre@{peer},ip:ipip@{peer},ip:41@{peer}");
    // The path works: 8000 answers through each tunnel while it is allowed.
    lab.fwxdp_ok(&[
        "attach",
        SERVER_IF,
        "--allow",
        &format!("22,80,8000,{tunnels}"),
    ]);
    for &(kind, addr) in &targets {
        assert_eq!(lab.connect(addr, 8000), Tcp::Open, "8000 through {kind}");
    }
    // Inside, the allow list governs as outside: 22 answers, 8000 does not.
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", &format!("22,80,{tunnels}")]);
    for &(kind, addr) in &targets {
        assert_eq!(lab.connect(addr, 22), Tcp::Open, "22 through {kind}");
        assert_eq!(
            lab.connect(addr, 8000),
            Tcp::Filtered,
            "protected 8000 through {kind}"
        );
    }
    // (Revoking the tunnel protocols would not shut the tunnels at once: the host's own
    // tunnel packets to the peer make the peer's answers replies for two minutes. The
    // verdict tests drop tunnel packets from peers not allowed.)
    for (kind, ..) in overlays {
        let name = format!("fwxt{kind}");
        lab.server.ip(&["link", "del", &name]);
        lab.internet.ip(&["link", "del", &name]);
    }
}
