//! Flows this host started, of every protocol but TCP (whose sockets say it) and the
//! unjudged ones: recorded on egress, consulted on ingress so replies pass. Protocols
//! without ports are tracked by (protocol, local address, remote address).

use aya_ebpf::helpers::bpf_ktime_get_ns;
use fwxdp_common::{Config, FLOW_TIMEOUT_NS, FlowKey, PROTOCOL_ALLOW, port_index, protocol_index};

use crate::{
    maps::{FWXDP_CONFIG, FWXDP_FLOWS, FWXDP_PORTS, FWXDP_PROTOCOLS},
    parse::{self, Kind, Packet, Transport},
};

/// Refresh a flow's timestamp at most this often, so a busy flow does not write the shared
/// map entry on every packet.
const REFRESH_NS: u64 = 1_000_000_000;

/// Whether the inbound packet answers a flow this host started and used recently.
#[inline(always)]
pub(crate) fn is_reply(packet: &Packet) -> bool {
    let key = FlowKey {
        local_addr: packet.dst(),
        remote_addr: packet.src(),
        local_port_be: packet.dst_port.to_be(),
        remote_port_be: packet.src_port.to_be(),
        family: packet.family,
        protocol: packet.ip_proto,
        _pad: [0; 2],
    };
    match FWXDP_FLOWS.get_ptr(key) {
        // SAFETY: the pointer comes from a successful lookup; a racing update only changes
        // the timestamp, which is read whole.
        Some(seen) => unsafe { bpf_ktime_get_ns().saturating_sub(*seen) < FLOW_TIMEOUT_NS },
        None => false,
    }
}

/// Records an outbound packet, whose start and end `bounds` reads (TCP and the unjudged
/// protocols are left alone). A tunnel packet's flow is recorded, and so is the flow of
/// what it carries, whose replies come back inside the tunnel.
#[inline(always)]
pub(crate) fn record_outbound(bounds: impl Fn() -> (usize, usize)) {
    let Some(config) = FWXDP_CONFIG.get(0) else {
        return;
    };
    let (data, data_end) = bounds();
    let mut packet = parse::frame(data, data_end, 0, config.ip_frames());
    packet.upper();
    record(config, &packet);
    if packet.is_tunnel() {
        // The bounds read again: the first start pointer carries what the frame's parse
        // checked, which differs per framing and would have the verifier walk what
        // follows once per framing.
        let (data, data_end) = bounds();
        let mut carried = parse::carried(data, data_end, &packet.tunnel());
        carried.upper_carried(data);
        record(config, &carried);
    }
}

/// Records the flow of `packet`, an outbound packet.
#[inline(always)]
fn record(config: &Config, packet: &Packet) {
    if packet.kind != Kind::Ip {
        return;
    }
    // Answers from a port or protocol open to everyone (a DNS or QUIC server's replies)
    // need no flow: their peers reach it anyway, and recording them would let a flood of
    // spoofed queries evict the host's own flows.
    let open_to_all = match packet.transport {
        Transport::Datagram => FWXDP_PORTS
            .get(port_index(config.generation, packet.src_port))
            .is_some_and(|flags| flags & packet.proto.allow_flag() != 0),
        Transport::Protocol => FWXDP_PROTOCOLS
            .get(protocol_index(config.generation, packet.ip_proto))
            .is_some_and(|flags| flags & PROTOCOL_ALLOW != 0),
        Transport::Tcp | Transport::Unfiltered | Transport::LaterFragment | Transport::Hidden => {
            return;
        }
    };
    if open_to_all {
        return;
    }
    let key = FlowKey {
        local_addr: packet.src(),
        remote_addr: packet.dst(),
        local_port_be: packet.src_port.to_be(),
        remote_port_be: packet.dst_port.to_be(),
        family: packet.family,
        protocol: packet.ip_proto,
        _pad: [0; 2],
    };
    // SAFETY: kernel helper without preconditions.
    let now = unsafe { bpf_ktime_get_ns() };
    match FWXDP_FLOWS.get_ptr_mut(key) {
        // SAFETY: the pointer comes from a successful lookup of an LRU hash value.
        Some(seen) => unsafe {
            if now.saturating_sub(*seen) >= REFRESH_NS {
                *seen = now;
            }
        },
        None => {
            // A full map evicts its least recently used flow; a failed insert only means
            // this flow's replies are judged as new datagrams.
            let _: Result<(), _> = FWXDP_FLOWS.insert(key, now, 0);
        }
    }
}
