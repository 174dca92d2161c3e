//! What an IP tunnel packet carries is judged as if it had arrived by itself, once the tunnel
//! packet passes (`docs/DESIGN.md`, "Tunnels"): IPv4 and IPv6 in IPv4 and IPv6, and GRE
//! carrying IP, WCCP or Ethernet, in XDP and in TC. One level is looked into.

use std::net::{Ipv4Addr, Ipv6Addr};

use fwxdp_common::{Proto, program_name};
use fwxdp_tests::{
    packet::{
        ETH_P_IPV4, ETH_P_IPV6, FrameBuilder, SYN, TPID_8021Q,
        tunnel::{self, ETH_P_MPLS, ETH_P_TEB, ETH_P_WCCP, GRE_CSUM, GRE_KEY, GRE_SEQ, ip_packet},
    },
    verdict::{
        Filter,
        frames::{EPHEMERAL, LOCAL4, LOCAL6, hex},
        outcome::{
            ALLOWED, ALLOWED_CIDR, ESTABLISHED, LOOPBACK, MALFORMED, OTHER, TC_ACT_SHOT,
            TC_ACT_UNSPEC, port_drop, protocol_drop,
        },
    },
};

const GRE: u8 = 47;
const IPIP: u8 = 4;
const IPV6: u8 = 41;

/// The tunnel peers are the only sources the tunnel protocols are allowed from; inside,
/// 22 is open, 5432 only to the overlay's 10.9.0.0/24.
const POLICY: &str = "22,5432@10.9.0.0/24,ip:gre@203.0.113.0/24,ip:ipip@203.0.113.0/24,\
                      ip:41@203.0.113.0/24,ip:gre@2001:db8:7::/48,ip:ipip@2001:db8:7::/48,\
                      ip:41@2001:db8:7::/48";

const PEER4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 9);
const PEER6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 7, 0, 0, 0, 0, 9);
/// Not a peer.
const STRANGER4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 99);
/// Inside the overlay.
const OVERLAY4: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);
const OUTSIDER4: Ipv4Addr = Ipv4Addr::new(10, 8, 0, 2);
const OVERLAY6: Ipv6Addr = Ipv6Addr::new(0xfd00, 9, 0, 0, 0, 0, 0, 2);

fn syn4(src: Ipv4Addr, port: u16) -> Vec<u8> {
    FrameBuilder::tcp_v4(src, LOCAL4, EPHEMERAL, port, SYN).build()
}

fn syn6(src: Ipv6Addr, port: u16) -> Vec<u8> {
    FrameBuilder::tcp_v6(src, LOCAL6, EPHEMERAL, port, SYN).build()
}

/// An IPv4 packet from `outer` of `protocol`, carrying `payload`.
fn over4(outer: Ipv4Addr, protocol: u8, payload: &[u8]) -> Vec<u8> {
    FrameBuilder::raw_v4(outer, LOCAL4, protocol)
        .payload(payload)
        .build()
}

fn over6(outer: Ipv6Addr, protocol: u8, payload: &[u8]) -> Vec<u8> {
    FrameBuilder::raw_v6(outer, LOCAL6, protocol)
        .payload(payload)
        .build()
}

/// Both ways an inner packet's verdict shows: the SYN to 22 passes, the one to 5432 from
/// outside the overlay is a port drop, from inside it passes by its CIDR.
fn check_carriers(f: &mut Filter, label: &str, wrap: &dyn Fn(&[u8], bool) -> Vec<u8>) {
    let cases = [
        (syn4(OUTSIDER4, 22), ALLOWED, "v4 to 22"),
        (
            syn4(OUTSIDER4, 5432),
            port_drop(Proto::Tcp, 5432),
            "v4 to 5432",
        ),
        (
            syn4(OVERLAY4, 5432),
            ALLOWED_CIDR,
            "v4 to 5432 from the overlay",
        ),
        (syn6(OVERLAY6, 22), ALLOWED, "v6 to 22"),
        (
            syn6(OVERLAY6, 5432),
            port_drop(Proto::Tcp, 5432),
            "v6 to 5432",
        ),
    ];
    for (frame, expected, what) in cases {
        let v6 = what.starts_with("v6");
        f.expect(
            &format!("{label}: {what}"),
            &wrap(ip_packet(&frame), v6),
            expected,
        );
    }
}

#[test]
fn ip_in_ip_is_judged_inside() {
    let mut f = Filter::new(POLICY);
    check_carriers(&mut f, "in IPv4", &|inner, v6| {
        over4(PEER4, if v6 { IPV6 } else { IPIP }, inner)
    });
    check_carriers(&mut f, "in IPv6", &|inner, v6| {
        over6(PEER6, if v6 { IPV6 } else { IPIP }, inner)
    });
}

#[test]
fn gre_is_judged_inside_whatever_its_optional_fields() {
    let mut f = Filter::new(POLICY);
    for flags in [0, GRE_KEY, GRE_SEQ, GRE_CSUM | GRE_KEY | GRE_SEQ] {
        check_carriers(&mut f, &format!("gre {flags:#06x}"), &|inner, v6| {
            let protocol = if v6 { ETH_P_IPV6 } else { ETH_P_IPV4 };
            over4(PEER4, GRE, &tunnel::gre(flags, protocol, inner))
        });
    }
    check_carriers(&mut f, "ip6gre", &|inner, v6| {
        let protocol = if v6 { ETH_P_IPV6 } else { ETH_P_IPV4 };
        over6(PEER6, GRE, &tunnel::gre(GRE_KEY, protocol, inner))
    });
}

#[test]
fn gre_carrying_ethernet_or_wccp_is_judged_inside() {
    let mut f = Filter::new(POLICY);
    // gretap: a whole frame inside, tagged or not.
    check_carriers(&mut f, "gretap", &|inner, v6| {
        let protocol = if v6 { ETH_P_IPV6 } else { ETH_P_IPV4 };
        let mut frame = vec![2, 0, 0, 0, 0, 9, 2, 0, 0, 0, 0, 8];
        frame.extend_from_slice(&protocol.to_be_bytes());
        frame.extend_from_slice(inner);
        over4(PEER4, GRE, &tunnel::gre(0, ETH_P_TEB, &frame))
    });
    check_carriers(&mut f, "gretap, tagged", &|inner, v6| {
        let protocol = if v6 { ETH_P_IPV6 } else { ETH_P_IPV4 };
        let mut frame = vec![2, 0, 0, 0, 0, 9, 2, 0, 0, 0, 0, 8];
        frame.extend_from_slice(&TPID_8021Q.to_be_bytes());
        frame.extend_from_slice(&[0, 7]);
        frame.extend_from_slice(&protocol.to_be_bytes());
        frame.extend_from_slice(inner);
        over4(PEER4, GRE, &tunnel::gre(0, ETH_P_TEB, &frame))
    });
    // WCCP: IPv4 right behind GRE (version 1), or behind a 4-byte redirect header.
    for redirect in [&[][..], &[0x00, 0, 0, 0][..]] {
        for (port, expected) in [(22, ALLOWED), (5432, port_drop(Proto::Tcp, 5432))] {
            let mut payload = redirect.to_vec();
            payload.extend_from_slice(ip_packet(&syn4(OUTSIDER4, port)));
            f.expect(
                &format!("wccp ({} bytes of header) to {port}", redirect.len()),
                &over4(PEER4, GRE, &tunnel::gre(0, ETH_P_WCCP, &payload)),
                expected,
            );
        }
    }
}

#[test]
fn the_tunnel_is_judged_first() {
    let mut f = Filter::new(POLICY);
    let inner = ip_packet(&syn4(OUTSIDER4, 22)).to_vec();
    // From a host the tunnel protocols are not allowed from, whatever is inside.
    f.expect(
        "gre from a stranger",
        &over4(STRANGER4, GRE, &tunnel::gre(0, ETH_P_IPV4, &inner)),
        protocol_drop(GRE),
    );
    f.expect(
        "ipip from a stranger",
        &over4(STRANGER4, IPIP, &inner),
        protocol_drop(IPIP),
    );
    // A loopback source inside is dropped as one outside is.
    let looped = ip_packet(&syn4(Ipv4Addr::LOCALHOST, 22)).to_vec();
    f.expect("loopback inside", &over4(PEER4, IPIP, &looped), LOOPBACK);
}

#[test]
fn one_level_is_looked_into_and_other_gre_passes_with_the_tunnel() {
    let mut f = Filter::new(POLICY);
    // A tunnel inside a tunnel is dropped: what it carries would not be judged.
    let innermost = ip_packet(&syn4(OUTSIDER4, 22)).to_vec();
    let nested = FrameBuilder::raw_v4(PEER4, LOCAL4, GRE)
        .payload(&tunnel::gre(0, ETH_P_IPV4, &innermost))
        .build();
    f.expect(
        "gre in gre",
        &over4(PEER4, GRE, &tunnel::gre(0, ETH_P_IPV4, ip_packet(&nested))),
        protocol_drop(GRE),
    );
    f.expect(
        "gre in ipip",
        &over4(PEER4, IPIP, ip_packet(&nested)),
        protocol_drop(GRE),
    );
    // GRE that no IP tunnel device delivers: the tunnel's verdict is all there is.
    f.expect(
        "gre carrying mpls",
        &over4(PEER4, GRE, &tunnel::gre(0, ETH_P_MPLS, &[0; 16])),
        OTHER,
    );
    f.expect(
        "pptp's enhanced gre",
        &over4(PEER4, GRE, &tunnel::gre(GRE_KEY | 1, 0x880b, &[0; 16])),
        OTHER,
    );
    // However short: what it carries is not a packet any device delivers.
    f.expect(
        "a 32-byte gre packet carrying mpls",
        &over4(PEER4, GRE, &tunnel::gre(0, ETH_P_MPLS, &[0; 8])),
        OTHER,
    );
    // Too short for the IPv4 header it says it carries: malformed.
    f.expect(
        "a 32-byte gre packet carrying ipv4",
        &over4(PEER4, GRE, &tunnel::gre(0, ETH_P_IPV4, &[0x45; 8])),
        MALFORMED,
    );
    // ARP bridged over gretap is not IP.
    let mut arp = vec![0xff; 6];
    arp.extend_from_slice(&[2, 0, 0, 0, 0, 8, 0x08, 0x06]);
    arp.extend_from_slice(&[0; 28]);
    f.expect(
        "arp over gretap",
        &over4(PEER4, GRE, &tunnel::gre(0, ETH_P_TEB, &arp)),
        OTHER,
    );
}

#[test]
fn inner_headers_must_lie_inside_the_tunnel_packet() {
    let mut f = Filter::new(POLICY);
    let inner = ip_packet(&syn4(OUTSIDER4, 5432)).to_vec();
    // Cut anywhere inside the GRE header or the inner headers: malformed, never judged on
    // the bytes after the outer packet.
    let whole = tunnel::gre(GRE_KEY, ETH_P_IPV4, &inner);
    for keep in [2, 6, 10, 20, 28, 40] {
        let mut frame = over4(PEER4, GRE, &whole[..keep]);
        // Junk where the rest would be, past the outer packet's length: Ethernet padding.
        frame.extend_from_slice(&whole[keep..]);
        f.expect(
            &format!("gre cut at {keep}: {}", hex(&frame)),
            &frame,
            MALFORMED,
        );
    }
    // Only what follows the inner IP header past the payload: its source is judged first.
    let looped = ip_packet(&syn4(Ipv4Addr::LOCALHOST, 22)).to_vec();
    let mut frame = over4(PEER4, IPIP, &looped[..24]);
    frame.extend_from_slice(&looped[24..]);
    f.expect("loopback inside, its tcp header cut", &frame, LOOPBACK);
    let mut frame = over4(PEER4, IPIP, &looped[..16]);
    frame.extend_from_slice(&looped[16..]);
    f.expect("loopback inside, its ip header cut", &frame, MALFORMED);
    // A first fragment of the tunnel packet that holds the inner IP header but not its TCP
    // header: malformed (RFC 1858 inside a tunnel). Later fragments carry no header.
    let first = FrameBuilder::raw_v4(PEER4, LOCAL4, IPIP)
        .payload(&inner[..24])
        .ipv4_fragment(0, true)
        .build();
    f.expect("first fragment without the inner ports", &first, MALFORMED);
    let later = FrameBuilder::raw_v4(PEER4, LOCAL4, IPIP)
        .payload(&inner[24..])
        .ipv4_fragment(3, false)
        .build();
    f.expect("later fragment", &later, OTHER);
}

#[test]
fn replies_inside_a_tunnel_pass_once_the_host_sent_the_flow_through_it() {
    let mut f = Filter::new(POLICY);
    let (local, remote) = (Ipv4Addr::new(10, 9, 0, 1), Ipv4Addr::new(10, 8, 0, 53));
    let query = FrameBuilder::udp_v4(local, remote, EPHEMERAL, 53, b"query").build();
    let answer = FrameBuilder::udp_v4(remote, local, 53, EPHEMERAL, b"answer").build();
    let answer = over4(PEER4, GRE, &tunnel::gre(0, ETH_P_IPV4, ip_packet(&answer)));
    f.expect(
        "an answer before the host asked",
        &answer,
        port_drop(Proto::Udp, EPHEMERAL),
    );
    // The host's query leaves through the tunnel: the egress tracker sees the GRE packet.
    let outbound = FrameBuilder::raw_v4(LOCAL4, PEER4, GRE)
        .payload(&tunnel::gre(0, ETH_P_IPV4, ip_packet(&query)))
        .build();
    f.record_outbound(&outbound);
    f.expect("the answer", &answer, ESTABLISHED);
}

#[test]
fn tc_judges_inside_alike() {
    let mut f = Filter::new(POLICY);
    for (port, expected) in [(22, TC_ACT_UNSPEC), (5432, TC_ACT_SHOT)] {
        let inner = ip_packet(&syn4(OUTSIDER4, port)).to_vec();
        for frame in [
            over4(PEER4, GRE, &tunnel::gre(GRE_SEQ, ETH_P_IPV4, &inner)),
            over4(PEER4, IPIP, &inner),
            over6(PEER6, IPIP, &inner),
        ] {
            let got = f.run_tc(program_name::TC_INGRESS, &frame);
            assert_eq!(got, expected, "tc, port {port}: {}", hex(&frame));
        }
    }
}
