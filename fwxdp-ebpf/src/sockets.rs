//! The host's TCP sockets, asked about a segment that is no bare SYN to a port the segment's
//! source may not open: a bare ACK carrying a valid SYN cookie becomes a connection on a
//! listening socket, so such a segment must belong to a connection the host has.

use core::{ffi::c_void, mem::size_of};

use aya_ebpf::{
    bindings::{
        BPF_F_CURRENT_NETNS, bpf_sock_tuple, bpf_sock_tuple__bindgen_ty_1__bindgen_ty_1,
        bpf_sock_tuple__bindgen_ty_1__bindgen_ty_2,
    },
    helpers::{bpf_sk_release, bpf_skc_lookup_tcp},
};
use fwxdp_common::FAMILY_V4;

use crate::parse::Packet;

/// `TCP_LISTEN` in the kernel's `enum tcp_states`.
const TCP_LISTEN: u32 = 10;
/// The sizes of the tuple's variants, as the helper takes them.
const TUPLE_V4: u32 = 12;
const TUPLE_V6: u32 = 36;
const _: () = assert!(size_of::<bpf_sock_tuple__bindgen_ty_1__bindgen_ty_1>() == TUPLE_V4 as usize);
const _: () = assert!(size_of::<bpf_sock_tuple__bindgen_ty_1__bindgen_ty_2>() == TUPLE_V6 as usize);
/// The namespace of the device the packet came in on (-1, as the helper reads a u64).
const CURRENT_NETNS: u64 = (BPF_F_CURRENT_NETNS as i64).cast_unsigned();

/// What the host has for a TCP segment, in the namespace of the device it came in on.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Socket {
    /// A connection: established, closing, in time-wait, or a handshake under way.
    Connection,
    /// Only a listener, which would take the segment as the end of a handshake.
    Listener,
    /// Nothing: the segment is for another host (forwarded, or NAT-ed into a container).
    Nothing,
}

/// Looks up the socket for `packet` (a TCP segment) with the program context `ctx`.
#[inline(always)]
pub(crate) fn tcp(ctx: *mut c_void, packet: &Packet) -> Socket {
    let (sport, dport) = (packet.src_port.to_be(), packet.dst_port.to_be());
    // Zeroed whole first: a union written by one variant leaves the rest undefined, and
    // LLVM may fill it from any register, pointers included, which the verifier refuses.
    // SAFETY: the tuple is plain integers; all-zero is valid.
    let mut tuple: bpf_sock_tuple = unsafe { core::mem::zeroed() };
    let (src, dst) = (packet.src(), packet.dst());
    let size = if packet.family == FAMILY_V4 {
        tuple.__bindgen_anon_1.ipv4 = bpf_sock_tuple__bindgen_ty_1__bindgen_ty_1 {
            saddr: u32::from_ne_bytes([src[0], src[1], src[2], src[3]]),
            daddr: u32::from_ne_bytes([dst[0], dst[1], dst[2], dst[3]]),
            sport,
            dport,
        };
        TUPLE_V4
    } else {
        tuple.__bindgen_anon_1.ipv6 = bpf_sock_tuple__bindgen_ty_1__bindgen_ty_2 {
            saddr: words(&src),
            daddr: words(&dst),
            sport,
            dport,
        };
        TUPLE_V6
    };
    // SAFETY: `ctx` is the program's context, the tuple lives on the stack for the call and
    // `size` is the size of the variant written; the socket is released before it goes.
    unsafe {
        let sock = bpf_skc_lookup_tcp(ctx, &raw mut tuple, size, CURRENT_NETNS, 0);
        if sock.is_null() {
            return Socket::Nothing;
        }
        let state = (*sock).state;
        bpf_sk_release(sock.cast());
        if state == TCP_LISTEN {
            Socket::Listener
        } else {
            Socket::Connection
        }
    }
}

/// An IPv6 address as the tuple's four network-order words.
#[inline(always)]
fn words(addr: &[u8; 16]) -> [u32; 4] {
    [
        u32::from_ne_bytes([addr[0], addr[1], addr[2], addr[3]]),
        u32::from_ne_bytes([addr[4], addr[5], addr[6], addr[7]]),
        u32::from_ne_bytes([addr[8], addr[9], addr[10], addr[11]]),
        u32::from_ne_bytes([addr[12], addr[13], addr[14], addr[15]]),
    ]
}
