//! The reason fwxdp exists: a port Docker publishes is reachable although ufw-like INPUT
//! rules close it, because Docker DNATs it in PREROUTING and it travels FORWARD. fwxdp drops
//! it before NAT, in every attach mode.

use std::net::{IpAddr, SocketAddr};

use fwxdp_tests::lab::{
    CLIENT_V4, Lab, PROBE_TIMEOUT, SERVER_IF, SERVER_V4,
    docker::{BRIDGE, CONTAINER_V4, DockerHost},
    eventually,
    probe::{self, Tcp, Udp},
    services,
};

fn published_port_closed_in(mode: &str) {
    let lab = Lab::new();
    let docker = DockerHost::install(&lab, &[8000, 443]);
    let _app = services::tcp(&docker.container, 8000);
    let _https = services::tcp(&docker.container, 443);
    let _ssh = services::tcp(&lab.server, 22);
    let _db = services::tcp(&lab.server, 5432);
    let _web = services::tcp(&lab.internet, 9000);
    let _dns = services::udp_echo(&lab.internet, 9053);
    let server = IpAddr::V4(SERVER_V4);

    // The leak: INPUT closes 5432 on the host, yet the published 8000 answers.
    assert_eq!(lab.connect(server, 22), Tcp::Open);
    assert_eq!(lab.connect(server, 5432), Tcp::Filtered, "ufw-like INPUT");
    assert_eq!(
        lab.connect(server, 8000),
        Tcp::Open,
        "the leak through FORWARD"
    );

    let out = lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,80,443", "--mode", mode]);
    assert!(out.contains("attached"), "{out}");
    let status = lab.status_json();
    assert_eq!(status["interfaces"][0]["mode"], mode, "{status}");

    assert_eq!(
        lab.connect(server, 8000),
        Tcp::Filtered,
        "{mode}: 8000 still leaks"
    );
    assert_eq!(eventually(&1, || lab.port_drops("tcp", 8000).0), 1);
    assert_eq!(lab.connect(server, 443), Tcp::Open, "{mode}: published 443");
    assert_eq!(lab.connect(server, 22), Tcp::Open, "{mode}: ssh");
    // The container's own traffic out, through MASQUERADE, and its replies.
    let web = SocketAddr::new(CLIENT_V4.into(), 9000);
    let dns = SocketAddr::new(CLIENT_V4.into(), 9053);
    assert_eq!(
        probe::tcp(&docker.container, None, web, PROBE_TIMEOUT),
        Tcp::Open,
        "{mode}: container TCP out"
    );
    assert_eq!(
        probe::udp(&docker.container, None, dns, PROBE_TIMEOUT),
        Udp::Reply,
        "{mode}: container UDP out"
    );
    // The host reaches its container directly.
    let app = SocketAddr::new(CONTAINER_V4.into(), 8000);
    assert_eq!(
        probe::tcp(&lab.server, None, app, PROBE_TIMEOUT),
        Tcp::Open,
        "{mode}: host to container"
    );

    // Without fwxdp the leak is back: the filter was what closed it.
    lab.fwxdp_ok(&["detach", SERVER_IF]);
    assert_eq!(lab.connect(server, 8000), Tcp::Open, "{mode}: after detach");
}

#[test]
fn a_published_port_is_closed_in_native_mode() {
    published_port_closed_in("native");
}

#[test]
fn a_published_port_is_closed_in_generic_mode() {
    published_port_closed_in("generic");
}

#[test]
fn a_published_port_is_closed_in_tc_mode() {
    published_port_closed_in("tc");
}

#[test]
fn auto_on_a_bridge_falls_back_to_generic_and_says_so() {
    let lab = Lab::new();
    let _docker = DockerHost::install(&lab, &[8000]);
    let out = lab.fwxdp_ok(&["attach", BRIDGE, "--allow", "22"]);
    assert!(out.contains("native XDP is not available"), "{out}");
    assert!(out.contains("attached (generic XDP)"), "{out}");
    let status = lab.status_json();
    let bridge = status["interfaces"]
        .as_array()
        .and_then(|all| all.iter().find(|i| i["interface"] == BRIDGE))
        .cloned()
        .expect("docker0 in status");
    assert_eq!(bridge["mode"], "generic", "{status}");
}
