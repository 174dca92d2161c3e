//! The flows the host has started before the fuzz runs, which admit their replies.

use std::{collections::BTreeSet, net::IpAddr};

use fwxdp_common::{FAMILY_V4, FAMILY_V6, FlowKey, Proto};
use fwxdp_tests::{model::Flow, packet::FrameBuilder, verdict::Filter};

use crate::corpus::{LOCAL4, LOCAL6, SOURCES4, SOURCES6, ported};

/// The flows the host starts before the run (recorded through the real egress program):
/// a UDP query, an SCTP association, a GRE tunnel, each to a corpus source.
pub(crate) fn outbound(f: &mut Filter) -> BTreeSet<Flow> {
    let remote4 = SOURCES4[4];
    let remote6 = SOURCES6[0];
    let starts: Vec<(Vec<u8>, Flow)> = vec![
        (
            FrameBuilder::udp_v4(LOCAL4, remote4, 40_000, 53, b"q").build(),
            flow(17, LOCAL4.into(), remote4.into(), 40_000, 53),
        ),
        (
            FrameBuilder::raw_v4(LOCAL4, remote4, 132)
                .payload(&ported(Proto::Sctp, 40_000, 9000))
                .build(),
            flow(132, LOCAL4.into(), remote4.into(), 40_000, 9000),
        ),
        (
            FrameBuilder::raw_v4(LOCAL4, remote4, 47)
                .payload(&[0; 8])
                .build(),
            flow(47, LOCAL4.into(), remote4.into(), 0, 0),
        ),
        (
            FrameBuilder::udp_v6(LOCAL6, remote6, 40_000, 547, b"q").build(),
            flow(17, LOCAL6.into(), remote6.into(), 40_000, 547),
        ),
        (
            FrameBuilder::raw_v6(LOCAL6, remote6, 41)
                .payload(&[0; 8])
                .build(),
            flow(41, LOCAL6.into(), remote6.into(), 0, 0),
        ),
    ];
    let mut flows = BTreeSet::new();
    for (frame, flow) in starts {
        f.record_outbound(&frame);
        // The tracker leaves out flows from a port or protocol open to everyone.
        if f.loaded.flows.get(&key(&flow), 0).is_ok() {
            flows.insert(flow);
        }
    }
    flows
}

fn flow(protocol: u8, local: IpAddr, remote: IpAddr, local_port: u16, remote_port: u16) -> Flow {
    Flow {
        protocol,
        local,
        remote,
        local_port,
        remote_port,
    }
}

fn key(flow: &Flow) -> FlowKey {
    let mut key = FlowKey {
        local_port_be: flow.local_port.to_be(),
        remote_port_be: flow.remote_port.to_be(),
        protocol: flow.protocol,
        ..FlowKey::default()
    };
    match (flow.local, flow.remote) {
        (IpAddr::V4(l), IpAddr::V4(r)) => {
            key.family = FAMILY_V4;
            key.local_addr[..4].copy_from_slice(&l.octets());
            key.remote_addr[..4].copy_from_slice(&r.octets());
        }
        (IpAddr::V6(l), IpAddr::V6(r)) => {
            key.family = FAMILY_V6;
            key.local_addr = l.octets();
            key.remote_addr = r.octets();
        }
        _ => {}
    }
    key
}
