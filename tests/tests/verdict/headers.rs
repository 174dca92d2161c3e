//! The layers in front of the ports (docs/DESIGN.md, "The verdict"): VLAN tags, IPv4 options and
//! fragments, IPv6 fragments and extension headers, on synthetic frames through `TestRun`.
//!
//! Every test loads its own instance, so its maps and counters are its own.

use fwxdp_common::{Config, Proto};
use fwxdp_tests::packet::{ETH_HLEN, FrameBuilder, IPPROTO_HOPOPTS, SYN, TPID_8021AD, TPID_8021Q};
use fwxdp_tests::verdict::{
    Filter, POLICY,
    frames::{
        AH, DST, EPHEMERAL, FRAG, HBH, LOCAL6, REMOTE4, REMOTE6, RT, syn4, syn6, udp4, udp6,
        with_chain,
    },
    outcome::{ALLOWED, MALFORMED, OTHER, port_drop},
};

#[test]
fn vlan_tagged_frames_are_judged_by_port() {
    let mut f = Filter::new(POLICY);
    let tags: [&[(u16, u16)]; 4] = [
        &[(TPID_8021Q, 10)],
        &[(TPID_8021AD, 100), (TPID_8021Q, 10)],
        &[(TPID_8021Q, 100), (TPID_8021Q, 10)],
        &[(TPID_8021AD, 4095)],
    ];
    for tags in tags {
        let tag = |b: FrameBuilder| tags.iter().fold(b, |b, &(tpid, vid)| b.vlan(tpid, vid));
        let label = format!("{tags:x?}");
        let drop = port_drop(Proto::Tcp, 3306);
        f.expect(
            &format!("{label} v4 SYN 3306"),
            &tag(syn4(REMOTE4, 3306)).build(),
            drop,
        );
        f.expect(
            &format!("{label} v6 SYN 3306"),
            &tag(syn6(REMOTE6, 3306)).build(),
            drop,
        );
        f.expect(
            &format!("{label} v4 SYN 80"),
            &tag(syn4(REMOTE4, 80)).build(),
            ALLOWED,
        );
        let udp = tag(udp6(REMOTE6, 5353)).build();
        f.expect(
            &format!("{label} v6 UDP 5353"),
            &udp,
            port_drop(Proto::Udp, 5353),
        );
    }
}

#[test]
fn three_vlan_tags_are_malformed() {
    let mut f = Filter::new(POLICY);
    let three = |b: FrameBuilder| {
        b.vlan(TPID_8021AD, 1)
            .vlan(TPID_8021Q, 2)
            .vlan(TPID_8021Q, 3)
            .build()
    };
    f.expect("SYN to 3306", &three(syn4(REMOTE4, 3306)), MALFORMED);
    f.expect("SYN to 80", &three(syn4(REMOTE4, 80)), MALFORMED);
    f.expect("v6 SYN to 80", &three(syn6(REMOTE6, 80)), MALFORMED);
}

#[test]
fn ipv4_options_do_not_hide_the_ports() {
    let mut f = Filter::new(POLICY);
    // Record route (7) with room for one address, then NOPs; and a full 40 bytes.
    let options: [&[u8]; 3] = [&[7, 7, 4, 0, 0, 0, 0, 1], &[1; 40], &[1, 1, 1]];
    for bytes in options {
        let label = format!("{} bytes of options", bytes.len().next_multiple_of(4));
        let drop = syn4(REMOTE4, 3306).ipv4_options(bytes).build();
        f.expect(
            &format!("{label}, SYN 3306"),
            &drop,
            port_drop(Proto::Tcp, 3306),
        );
        let pass = syn4(REMOTE4, 80).ipv4_options(bytes).build();
        f.expect(&format!("{label}, SYN 80"), &pass, ALLOWED);
        let udp = udp4(REMOTE4, 5353).ipv4_options(bytes).build();
        f.expect(
            &format!("{label}, UDP 5353"),
            &udp,
            port_drop(Proto::Udp, 5353),
        );
    }
}

#[test]
fn ipv4_header_fields_that_hide_the_ports_are_malformed() {
    let mut f = Filter::new(POLICY);
    let base = syn4(REMOTE4, 80).build();
    for ihl in 0..5 {
        let mut frame = base.clone();
        frame[ETH_HLEN] = 0x40 | ihl;
        f.expect(&format!("IHL {ihl}"), &frame, MALFORMED);
    }
    let mut frame = base.clone();
    frame[ETH_HLEN] = 0x65;
    f.expect("version 6 in an IPv4 EtherType", &frame, MALFORMED);
    // IHL 15 claims 40 bytes of options: the TCP header is read as options and the frame ends.
    let mut frame = base;
    frame[ETH_HLEN] = 0x4f;
    f.expect("IHL 15 without options", &frame, MALFORMED);
}

#[test]
fn ipv4_first_fragment_is_judged_by_its_ports() {
    let mut f = Filter::new(POLICY);
    let first = |b: FrameBuilder| b.ipv4_fragment(0, true).payload(&[0; 64]).build();
    f.expect(
        "SYN 3306",
        &first(syn4(REMOTE4, 3306)),
        port_drop(Proto::Tcp, 3306),
    );
    f.expect("SYN 80", &first(syn4(REMOTE4, 80)), ALLOWED);
    f.expect(
        "UDP 5353",
        &first(udp4(REMOTE4, 5353)),
        port_drop(Proto::Udp, 5353),
    );
    f.expect("UDP 53", &first(udp4(REMOTE4, 53)), ALLOWED);
}

#[test]
fn ipv4_later_fragments_pass() {
    let mut f = Filter::new(POLICY);
    for (offset, more) in [(1, true), (1, false), (185, true), (8191, false)] {
        // The bytes after the IP header are fragment data that happens to look like a SYN.
        let frame = syn4(REMOTE4, 3306).ipv4_fragment(offset, more).build();
        f.expect(&format!("offset {offset}, more {more}"), &frame, OTHER);
    }
}

#[test]
fn ipv6_fragment_header_with_offset_zero_is_judged() {
    let mut f = Filter::new(POLICY);
    for more in [true, false] {
        let first = |b: FrameBuilder| b.ipv6_fragment(0, more).build();
        let label = format!("offset 0, more {more}");
        let drop = port_drop(Proto::Tcp, 3306);
        f.expect(
            &format!("{label}, SYN 3306"),
            &first(syn6(REMOTE6, 3306)),
            drop,
        );
        f.expect(
            &format!("{label}, SYN 80"),
            &first(syn6(REMOTE6, 80)),
            ALLOWED,
        );
        let udp = first(udp6(REMOTE6, 5353));
        f.expect(
            &format!("{label}, UDP 5353"),
            &udp,
            port_drop(Proto::Udp, 5353),
        );
    }
    let first = syn6(REMOTE6, 80)
        .ipv6_fragment(0, true)
        .truncate_transport(8)
        .build();
    f.expect("first fragment with 8 bytes of TCP", &first, MALFORMED);
}

#[test]
fn ipv6_later_fragments_pass() {
    let mut f = Filter::new(POLICY);
    for (offset, more) in [(1, true), (1, false), (100, true), (8191, false)] {
        let frame = syn6(REMOTE6, 3306).ipv6_fragment(offset, more).build();
        f.expect(&format!("offset {offset}, more {more}"), &frame, OTHER);
        let behind_hbh = syn6(REMOTE6, 3306)
            .ipv6_ext(IPPROTO_HOPOPTS, 8)
            .ipv6_fragment(offset, more)
            .build();
        f.expect(&format!("after HBH, offset {offset}"), &behind_hbh, OTHER);
    }
}

#[test]
fn ipv6_extension_headers_do_not_hide_the_ports() {
    let mut f = Filter::new(POLICY);
    let chains: [&[(u8, usize)]; 11] = [
        &[(HBH, 8)],
        &[(HBH, 2048)],
        &[(DST, 256)],
        &[(RT, 24)],
        &[(AH, 12)],
        &[(AH, 1028)],
        &[(HBH, 8), (DST, 16), (RT, 24), (AH, 24)],
        &[(HBH, 8), (RT, 8), (FRAG, 8), (AH, 16), (DST, 8)],
        // Eight headers: as many as the walk takes.
        &[
            (HBH, 8),
            (DST, 8),
            (RT, 8),
            (AH, 12),
            (DST, 8),
            (RT, 16),
            (AH, 16),
            (DST, 8),
        ],
        &[
            (HBH, 8),
            (DST, 8),
            (RT, 8),
            (RT, 8),
            (AH, 12),
            (DST, 8),
            (FRAG, 8),
            (DST, 8),
        ],
        &[
            (HBH, 64),
            (DST, 512),
            (RT, 256),
            (AH, 1028),
            (DST, 8),
            (RT, 8),
            (AH, 12),
            (DST, 64),
        ],
    ];
    for chain in chains {
        let label = format!("{chain:?}");
        let drop = with_chain(syn6(REMOTE6, 3306), chain).build();
        f.expect(
            &format!("{label}, SYN 3306"),
            &drop,
            port_drop(Proto::Tcp, 3306),
        );
        let pass = with_chain(syn6(REMOTE6, 80), chain).build();
        f.expect(&format!("{label}, SYN 80"), &pass, ALLOWED);
        let udp = with_chain(udp6(REMOTE6, 5353), chain).build();
        f.expect(
            &format!("{label}, UDP 5353"),
            &udp,
            port_drop(Proto::Udp, 5353),
        );
        let icmp = with_chain(FrameBuilder::icmp_v6(REMOTE6, LOCAL6, 128, 0), chain).build();
        f.expect(&format!("{label}, ICMPv6"), &icmp, OTHER);
    }
}

#[test]
fn an_ipv6_chain_longer_than_the_walk_is_malformed() {
    let mut f = Filter::new(POLICY);
    let chains: [&[(u8, usize)]; 3] = [
        &[
            (HBH, 8),
            (DST, 8),
            (RT, 8),
            (AH, 12),
            (DST, 8),
            (RT, 8),
            (AH, 12),
            (DST, 8),
            (DST, 8),
        ],
        &[
            (HBH, 8),
            (DST, 8),
            (RT, 8),
            (RT, 8),
            (RT, 8),
            (RT, 8),
            (RT, 8),
            (RT, 8),
            (FRAG, 8),
        ],
        &[(DST, 8); 12],
    ];
    for chain in chains {
        let label = format!("{} headers {chain:?}", chain.len());
        let syn = with_chain(syn6(REMOTE6, 80), chain).build();
        f.expect(&format!("{label}, SYN 80"), &syn, MALFORMED);
        let udp = with_chain(udp6(REMOTE6, 53), chain).build();
        f.expect(&format!("{label}, UDP 53"), &udp, MALFORMED);
    }
}

#[test]
fn an_ipv6_extension_header_running_past_the_end_is_malformed() {
    let mut f = Filter::new(POLICY);
    let ext = ETH_HLEN + 40;
    for (kind, len) in [(HBH, 8), (DST, 8), (RT, 8), (AH, 12)] {
        let mut frame = with_chain(syn6(REMOTE6, 80), &[(kind, len)]).build();
        // The length byte claims the most it can: 2048 bytes, or 1028 for AH.
        frame[ext + 1] = 255;
        f.expect(
            &format!("header {kind} claiming 255 units"),
            &frame,
            MALFORMED,
        );
    }
    // The second header of a chain claims 8 bytes more than remain.
    let mut frame = with_chain(syn6(REMOTE6, 80), &[(HBH, 8), (DST, 8)]).build();
    let remaining = frame.len() - (ext + 8);
    frame[ext + 9] = u8::try_from(remaining / 8).unwrap();
    f.expect("DST running 8 bytes past the end", &frame, MALFORMED);
}

#[test]
fn frames_of_a_device_without_a_link_layer_are_judged_from_the_ip_header() {
    let ip_frames = Config {
        flags: fwxdp_common::CONFIG_IP_FRAMES,
        ..Config::default()
    };
    let mut f = Filter::with_config(POLICY, &ip_frames);
    let ip = |builder: FrameBuilder| {
        let frame = builder.build_frame();
        frame.bytes[frame.network_offset..].to_vec()
    };
    f.expect("v4 SYN to 80", &ip(syn4(REMOTE4, 80)), ALLOWED);
    f.expect(
        "v4 SYN to 3306",
        &ip(syn4(REMOTE4, 3306)),
        port_drop(Proto::Tcp, 3306),
    );
    let v6 = FrameBuilder::tcp_v6(REMOTE6, LOCAL6, EPHEMERAL, 3306, SYN);
    f.expect("v6 SYN to 3306", &ip(v6), port_drop(Proto::Tcp, 3306));
    // Neither IPv4 nor IPv6: what it carries is hidden.
    let mut other = ip(syn4(REMOTE4, 80));
    other[0] = 0x15;
    f.expect("version 1", &other, MALFORMED);
}
