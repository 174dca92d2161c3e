//! Truncated frames (docs/DESIGN.md, "The verdict"): frames cut anywhere, and transport headers cut
//! short by the IP length fields or by fragmentation, on synthetic frames through `TestRun`.
//! The program never aborts; a header cut short is malformed.
//!
//! Every test loads its own instance, so its maps and counters are its own.

use fwxdp_tests::packet::{ETH_HLEN, ETH_MIN_FRAME, FrameBuilder, TPID_8021AD, TPID_8021Q};
use fwxdp_tests::verdict::{
    Filter, POLICY,
    frames::{AH, DST, FRAG, HBH, REMOTE4, REMOTE6, RT, syn4, syn6, udp4, udp6, with_chain},
    outcome::{MALFORMED, XDP_ABORTED, XDP_PASS},
};

// ---------------------------------------------------------------------------------------
// Transport headers cut short by fragmentation or the IP length fields
// ---------------------------------------------------------------------------------------

#[test]
fn ipv4_first_fragment_too_short_for_the_transport_header_is_malformed() {
    let mut f = Filter::new(POLICY);
    for len in [0, 2, 4, 8, 16, 19] {
        let frame = syn4(REMOTE4, 80)
            .ipv4_fragment(0, true)
            .truncate_transport(len)
            .build();
        f.expect(&format!("{len} bytes of TCP"), &frame, MALFORMED);
    }
    for len in [0, 4, 7] {
        let frame = udp4(REMOTE4, 53)
            .ipv4_fragment(0, true)
            .truncate_transport(len)
            .build();
        f.expect(&format!("{len} bytes of UDP"), &frame, MALFORMED);
    }
}

/// RFC 1858's tiny fragment: the first fragment carries 8 bytes of TCP header, so the ports
/// but not the flags; the SYN arrives in the second fragment, which passes as a later
/// fragment. On the wire the 42-byte frame is padded to 60, and the padding must not be read
/// as the rest of the TCP header.
#[test]
fn ipv4_tiny_first_fragment_padded_to_the_ethernet_minimum_is_malformed() {
    let mut f = Filter::new(POLICY);
    let frame = syn4(REMOTE4, 3306)
        .ipv4_fragment(0, true)
        .truncate_transport(8)
        .pad_to(ETH_MIN_FRAME)
        .build();
    f.expect("8 bytes of TCP, padded", &frame, MALFORMED);
}

/// The IPv4 total length, not the end of the frame, bounds the transport header: Ethernet
/// padding is not part of the packet.
#[test]
fn an_ipv4_transport_header_cut_by_the_total_length_is_malformed() {
    let mut f = Filter::new(POLICY);
    let frame = syn4(REMOTE4, 3306)
        .truncate_transport(8)
        .pad_to(ETH_MIN_FRAME)
        .build();
    f.expect("unfragmented, 8 bytes of TCP, padded", &frame, MALFORMED);
}

/// The IPv6 payload length, not the end of the frame, bounds the transport header: trailing
/// bytes are not part of the packet.
#[test]
fn an_ipv6_transport_header_cut_by_the_payload_length_is_malformed() {
    let mut f = Filter::new(POLICY);
    let mut frame = syn6(REMOTE6, 3306)
        .ipv6_fragment(0, true)
        .truncate_transport(8)
        .build();
    frame.extend_from_slice(&[0; 12]);
    f.expect(
        "first fragment, 8 bytes of TCP, 12 trailing bytes",
        &frame,
        MALFORMED,
    );
}

// ---------------------------------------------------------------------------------------
// Truncated frames
// ---------------------------------------------------------------------------------------

/// Every cut of `frame` from the Ethernet header to one byte short: the program never
/// aborts; a cut inside the headers drops as malformed; a cut inside the payload keeps the
/// verdict of the whole frame.
fn check_truncations(f: &mut Filter, label: &str, builder: &FrameBuilder) {
    let frame = builder.build_frame();
    let whole = f.judge(label, &frame.bytes);
    for len in ETH_HLEN..frame.bytes.len() {
        let cut = &frame.bytes[..len];
        let expected = if len < frame.payload_offset {
            MALFORMED
        } else {
            whole
        };
        f.expect(&format!("{label} cut to {len} bytes"), cut, expected);
    }
}

#[test]
fn truncated_frames_never_abort_and_cut_headers_drop() {
    let mut f = Filter::new(POLICY);
    let payload = b"payload";
    for port in [3306, 80] {
        let builders = [
            ("v4 SYN", syn4(REMOTE4, port)),
            ("v6 SYN", syn6(REMOTE6, port)),
            ("v4 UDP", udp4(REMOTE4, port)),
            ("v6 UDP", udp6(REMOTE6, port)),
            (
                "two VLAN tags, v4 SYN",
                syn4(REMOTE4, port).vlan(TPID_8021AD, 1).vlan(TPID_8021Q, 2),
            ),
            ("VLAN, v6 SYN", syn6(REMOTE6, port).vlan(TPID_8021Q, 2)),
            (
                "v4 options, SYN",
                syn4(REMOTE4, port).ipv4_options(&[1; 12]),
            ),
            (
                "v6 extension headers, SYN",
                with_chain(
                    syn6(REMOTE6, port),
                    &[(HBH, 16), (FRAG, 8), (RT, 24), (AH, 12), (DST, 8)],
                ),
            ),
        ];
        for (label, builder) in builders {
            check_truncations(
                &mut f,
                &format!("{label} to {port}"),
                &builder.payload(payload),
            );
        }
    }
}

#[test]
fn frames_shorter_than_an_ethernet_header_are_refused_or_judged_without_abort() {
    let mut f = Filter::new(POLICY);
    let frame = syn4(REMOTE4, 3306).build();
    for len in 0..ETH_HLEN {
        if let Ok(value) = f.run_xdp(&frame[..len]) {
            assert_ne!(value, XDP_ABORTED, "{len}-byte frame: the program aborted");
            assert_ne!(value, XDP_PASS, "{len}-byte frame passed");
        }
    }
}
