//! UDP flows this host started: recorded on egress, consulted on ingress so replies pass.

use aya_ebpf::helpers::bpf_ktime_get_ns;
use fwxdp_common::{FlowKey, PORT_UDP_ALLOW, UDP_FLOW_TIMEOUT_NS, port_index};

use crate::{
    maps::{FWXDP_CONFIG, FWXDP_PORTS, FWXDP_UDP_FLOWS},
    parse::{self, Kind, Packet, Transport},
};

/// Refresh a flow's timestamp at most this often, so a busy flow does not write the shared
/// map entry on every packet.
const REFRESH_NS: u64 = 1_000_000_000;

/// Whether the inbound UDP datagram answers a flow this host started and used recently.
#[inline(always)]
pub(crate) fn is_reply(packet: &Packet) -> bool {
    let key = FlowKey {
        local_addr: packet.dst,
        remote_addr: packet.src,
        local_port_be: packet.dst_port.to_be(),
        remote_port_be: packet.src_port.to_be(),
        family: packet.family,
        _pad: [0; 3],
    };
    match FWXDP_UDP_FLOWS.get_ptr(key) {
        // SAFETY: the pointer comes from a successful lookup; a racing update only changes
        // the timestamp, which is read whole.
        Some(seen) => unsafe { bpf_ktime_get_ns().saturating_sub(*seen) < UDP_FLOW_TIMEOUT_NS },
        None => false,
    }
}

/// Records an outbound UDP datagram between `data` and `data_end`.
#[inline(always)]
pub(crate) fn record_outbound(data: usize, data_end: usize) {
    let packet = parse::frame(data, data_end);
    if packet.kind != Kind::Ip || packet.transport != Transport::Udp {
        return;
    }
    // Answers from a port open to everyone (a DNS or QUIC server's replies) need no flow:
    // their peers reach that port anyway, and recording them would let a flood of spoofed
    // queries evict the host's own flows.
    let open_to_all = FWXDP_CONFIG.get(0).is_some_and(|config| {
        FWXDP_PORTS
            .get(port_index(config.generation, packet.src_port))
            .is_some_and(|flags| flags & PORT_UDP_ALLOW != 0)
    });
    if open_to_all {
        return;
    }
    let key = FlowKey {
        local_addr: packet.src,
        remote_addr: packet.dst,
        local_port_be: packet.src_port.to_be(),
        remote_port_be: packet.dst_port.to_be(),
        family: packet.family,
        _pad: [0; 3],
    };
    // SAFETY: kernel helper without preconditions.
    let now = unsafe { bpf_ktime_get_ns() };
    match FWXDP_UDP_FLOWS.get_ptr_mut(key) {
        // SAFETY: the pointer comes from a successful lookup of an LRU hash value.
        Some(seen) => unsafe {
            if now.saturating_sub(*seen) >= REFRESH_NS {
                *seen = now;
            }
        },
        None => {
            // A full map evicts its least recently used flow; a failed insert only means
            // this flow's replies are judged as new datagrams.
            let _: Result<(), _> = FWXDP_UDP_FLOWS.insert(key, now, 0);
        }
    }
}
