//! Tunnel devices: what arrives inside a tunnel reaches the host through the tunnel's own
//! device, which the filter on the underlay never sees. A device without a link layer (a
//! `tun` here, as IP tunnels and wireguard devices are) is filtered by what its IP frames carry;
//! a VXLAN overlay leaks protected ports until its device is filtered too, and `status`
//! and `check` say so meanwhile.

use std::{
    net::{Ipv4Addr, SocketAddr},
    time::Duration,
};

use fwxdp_tests::{
    lab::{
        CLIENT_V4, Lab, SERVER_IF, SERVER_V4,
        probe::{self, Tcp, Udp},
        services,
        tun::{self, Tun},
    },
    packet::{FrameBuilder, SYN},
};

const TUN: &str = "ftun0";
const TUN_LOCAL: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
const TUN_PEER: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);

/// Sends a SYN to `port` through the tun device and says whether the host answered.
fn answers(device: &mut Tun, port: u16, sport: u16) -> bool {
    let syn = FrameBuilder::tcp_v4(TUN_PEER, TUN_LOCAL, sport, port, SYN).build_frame();
    device.inject(&syn.bytes[syn.network_offset..]);
    device
        .sent(Duration::from_millis(300))
        .iter()
        .any(|packet| tun::is_syn_ack(packet, port, sport))
}

#[test]
fn a_device_without_a_link_layer_is_filtered_by_what_its_ip_frames_carry() {
    let lab = Lab::new();
    let _services = services::tcp_ports(&lab.server, &[22, 5432]);
    let mut device = Tun::create(&lab.server, TUN);
    lab.server
        .ip(&["addr", "add", &format!("{TUN_LOCAL}/24"), "dev", TUN]);
    lab.server.ip(&["link", "set", TUN, "up"]);
    // Unfiltered, the protected port answers through the tunnel.
    assert!(
        answers(&mut device, 5432, 40_000),
        "no answer without the filter"
    );
    let mut sport = 40_001;
    for mode in ["generic", "tc", "native"] {
        let attached = lab.fwxdp(&["attach", TUN, "--allow", "22", "--mode", mode]);
        if !attached.status.success() {
            // tun has no driver-mode XDP: the move is refused, and the filter in force (tc)
            // keeps filtering.
            let stderr = String::from_utf8_lossy(&attached.stderr);
            assert_eq!(mode, "native", "attach {mode}: {stderr}");
            assert!(stderr.contains("native mode"), "{stderr}");
            assert_eq!(lab.status_json()["interfaces"][0]["mode"], "tc");
        }
        sport += 2;
        assert!(!answers(&mut device, 5432, sport), "{mode}: 5432 answered");
        assert!(
            answers(&mut device, 22, sport + 1),
            "{mode}: 22 did not answer"
        );
        let (dropped, _) = lab.port_drops_on(TUN, "tcp", 5432);
        assert!(dropped >= 1, "{mode}: the drop was not counted");
    }
    lab.fwxdp_ok(&["detach", TUN]);
    assert!(
        answers(&mut device, 5432, 45_000),
        "detach left the port closed"
    );
}

/// A VXLAN device in each namespace, VNI 42 over UDP 4789 between the lab's addresses.
fn overlay(lab: &Lab) {
    for (ns, local, remote, address) in [
        (&lab.server, SERVER_V4, CLIENT_V4, "10.88.0.1/24"),
        (&lab.internet, CLIENT_V4, SERVER_V4, "10.88.0.2/24"),
    ] {
        ns.ip(&[
            "link",
            "add",
            "fvx0",
            "type",
            "vxlan",
            "id",
            "42",
            "local",
            &local.to_string(),
            "remote",
            &remote.to_string(),
            "dstport",
            "4789",
        ]);
        ns.ip(&["addr", "add", address, "dev", "fvx0"]);
        ns.ip(&["link", "set", "fvx0", "up"]);
    }
}

#[test]
fn a_vxlan_overlay_reaches_protected_ports_until_its_device_is_filtered() {
    let lab = Lab::new();
    let _tcp = services::tcp_ports(&lab.server, &[22, 5432]);
    let _udp = services::udp_echo(&lab.server, 6379);
    overlay(&lab);
    // The underlay admits VXLAN from the peer only, and nothing else but SSH.
    lab.fwxdp_ok(&[
        "attach",
        SERVER_IF,
        "--allow",
        &format!("22,4789/udp@{CLIENT_V4}/32"),
    ]);
    let inside = Ipv4Addr::new(10, 88, 0, 1);
    let tcp = |port| {
        probe::tcp(
            &lab.internet,
            None,
            SocketAddr::new(inside.into(), port),
            Duration::from_secs(1),
        )
    };
    let udp = |port| {
        probe::udp(
            &lab.internet,
            None,
            SocketAddr::new(inside.into(), port),
            Duration::from_millis(500),
        )
    };
    // The leak: through the overlay, protected ports answer; the underlay sees only UDP.
    assert_eq!(tcp(5432), Tcp::Open, "the overlay did not come up");
    assert_eq!(udp(6379), Udp::Reply);
    assert_eq!(
        probe::tcp(
            &lab.internet,
            None,
            SocketAddr::new(SERVER_V4.into(), 5432),
            Duration::from_secs(1)
        ),
        Tcp::Filtered,
        "the underlay is filtered"
    );
    // Meanwhile status and check name the tunnel.
    let status = lab.status_json();
    let warned = status["unfiltered_tunnels"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|t| t["interface"] == "fvx0" && t["kind"] == "vxlan");
    assert!(warned, "{status}");
    let text = lab.fwxdp_ok(&["status"]);
    assert!(
        text.contains("tunnel device fvx0 (vxlan) is up and not filtered"),
        "{text}"
    );
    let config = std::env::temp_dir().join(format!("{}-tunnels.toml", lab.id()));
    std::fs::write(
        &config,
        format!("[[interface]]\nname = \"{SERVER_IF}\"\nallow = [\"22\"]\n"),
    )
    .expect("write config");
    let check = lab.fwxdp_ok(&["check", "--config", &config.display().to_string()]);
    let _: std::io::Result<()> = std::fs::remove_file(&config);
    assert!(
        check.contains("tunnel device fvx0 (vxlan) is up and no [[interface]] covers it"),
        "{check}"
    );
    // The overlay's device filtered by the same policy: inner TCP and UDP are judged.
    lab.fwxdp_ok(&["attach", "fvx0", "--allow", "22"]);
    assert_eq!(tcp(5432), Tcp::Filtered, "inner TCP to a protected port");
    assert_eq!(udp(6379), Udp::Silent, "inner UDP to a protected port");
    assert_eq!(tcp(22), Tcp::Open, "inner TCP to an allowed port");
    let (dropped, _) = lab.port_drops_on("fvx0", "tcp", 5432);
    assert!(dropped >= 1);
    let status = lab.status_json();
    assert_eq!(
        status["unfiltered_tunnels"],
        serde_json::json!([]),
        "{status}"
    );
}
