//! Synthetic Ethernet frames: for verdict tests through `TestRun`, and for raw `AF_PACKET` sends.
//!
//! [`FrameBuilder`] writes every length field and every checksum (IPv4 header, TCP, UDP,
//! ICMP, `ICMPv6`), so a frame the filter passes is also accepted by a real network stack.
//! Options and extension headers are filled with content the Linux stack accepts too.

mod checksum;
mod ethernet;
mod extension;
mod ipv4;
mod ipv6;
mod transport;
pub mod tunnel;

#[cfg(test)]
mod tests;

use std::net::{Ipv4Addr, Ipv6Addr};

use self::{
    checksum::Pseudo,
    extension::Extension,
    transport::{ICMP_HLEN, TCP_HLEN, Transport, UDP_HLEN},
};
pub use self::{checksum::checksum, ipv6::solicited_node};

/// TCP flag FIN.
pub const FIN: u8 = 0x01;
/// TCP flag SYN.
pub const SYN: u8 = 0x02;
/// TCP flag RST.
pub const RST: u8 = 0x04;
/// TCP flag PSH.
pub const PSH: u8 = 0x08;
/// TCP flag ACK.
pub const ACK: u8 = 0x10;

/// `EtherType` of IPv4.
pub const ETH_P_IPV4: u16 = 0x0800;
/// `EtherType` of ARP.
pub const ETH_P_ARP: u16 = 0x0806;
/// `EtherType` of IPv6.
pub const ETH_P_IPV6: u16 = 0x86dd;
/// Tag protocol identifier of an 802.1Q VLAN tag.
pub const TPID_8021Q: u16 = 0x8100;
/// Tag protocol identifier of an 802.1ad (service) VLAN tag.
pub const TPID_8021AD: u16 = 0x88a8;

/// IPv6 extension header: hop-by-hop options.
pub const IPPROTO_HOPOPTS: u8 = 0;
/// IP protocol ICMP.
pub const IPPROTO_ICMP: u8 = 1;
/// IP protocol TCP.
pub const IPPROTO_TCP: u8 = 6;
/// IP protocol UDP.
pub const IPPROTO_UDP: u8 = 17;
/// IPv6 extension header: routing.
pub const IPPROTO_ROUTING: u8 = 43;
/// IPv6 extension header: fragment.
pub const IPPROTO_FRAGMENT: u8 = 44;
/// IPv6 extension header (and IPv4 protocol): authentication header.
pub const IPPROTO_AH: u8 = 51;
/// IP protocol `ICMPv6`.
pub const IPPROTO_ICMPV6: u8 = 58;
/// IPv6 extension header: destination options.
pub const IPPROTO_DSTOPTS: u8 = 60;

/// ARP operation: request.
pub const ARP_REQUEST: u16 = 1;
/// ARP operation: reply.
pub const ARP_REPLY: u16 = 2;

/// ICMP echo request type.
pub const ICMP_ECHO_REQUEST: u8 = 8;
/// `ICMPv6` echo request type.
pub const ICMPV6_ECHO_REQUEST: u8 = 128;
/// `ICMPv6` neighbour solicitation type.
pub const ICMPV6_NEIGHBOUR_SOLICITATION: u8 = 135;

/// Length of an Ethernet header without VLAN tags.
pub const ETH_HLEN: usize = 14;
/// Shortest Ethernet frame on the wire, without the frame check sequence: shorter frames are
/// padded to this length by the sender.
pub const ETH_MIN_FRAME: usize = 60;

const DEFAULT_SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const DEFAULT_DST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];

#[derive(Clone, Debug)]
enum Network {
    V4 {
        src: Ipv4Addr,
        dst: Ipv4Addr,
        options: Vec<u8>,
        /// (offset in 8-byte units, more fragments), or `None` for an unfragmented datagram.
        fragment: Option<(u16, bool)>,
        id: u16,
    },
    V6 {
        src: Ipv6Addr,
        dst: Ipv6Addr,
        extensions: Vec<Extension>,
    },
    Arp {
        operation: u16,
        sender: Ipv4Addr,
        target: Ipv4Addr,
    },
}

/// A frame and where its layers start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The whole Ethernet frame.
    pub bytes: Vec<u8>,
    /// Offset of the IPv4/IPv6 header (or the ARP body), after the VLAN tags.
    pub network_offset: usize,
    /// Offset of the transport header, after IPv4 options or IPv6 extension headers.
    pub transport_offset: usize,
    /// Offset of the payload, after the transport header.
    pub payload_offset: usize,
}

/// Builds one synthetic Ethernet frame.
///
/// Start from a constructor (`tcp_v4`, `udp_v6`, `arp`...), adjust with modifiers, then
/// [`build`](Self::build). Modifiers that do not fit the frame (IPv4 options on IPv6) panic:
/// they are test bugs.
#[derive(Clone, Debug)]
#[must_use]
pub struct FrameBuilder {
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    /// (TPID, VLAN id), outermost first.
    vlans: Vec<(u16, u16)>,
    network: Network,
    transport: Transport,
    payload: Vec<u8>,
    ttl: u8,
    truncate_transport: Option<usize>,
    min_len: usize,
}

impl FrameBuilder {
    fn new(network: Network, transport: Transport) -> Self {
        Self {
            src_mac: DEFAULT_SRC_MAC,
            dst_mac: DEFAULT_DST_MAC,
            vlans: Vec::new(),
            network,
            transport,
            payload: Vec::new(),
            ttl: 64,
            truncate_transport: None,
            min_len: 0,
        }
    }

    /// Sets the IPv4 TTL or the IPv6 hop limit (64 by default).
    pub const fn ttl(mut self, ttl: u8) -> Self {
        self.ttl = ttl;
        self
    }

    /// Pads the frame with zeros to at least `len` bytes, as a sender pads frames shorter than
    /// [`ETH_MIN_FRAME`]. The padding is not part of the IP datagram.
    pub const fn pad_to(mut self, len: usize) -> Self {
        self.min_len = len;
        self
    }

    /// The Ethernet frame.
    ///
    /// # Panics
    ///
    /// If an IP length field overflows.
    #[must_use]
    pub fn build(&self) -> Vec<u8> {
        self.build_frame().bytes
    }

    /// The Ethernet frame and the offsets of its layers.
    ///
    /// # Panics
    ///
    /// If an IP length field overflows.
    #[must_use]
    pub fn build_frame(&self) -> Frame {
        let ether_type = match self.network {
            Network::V4 { .. } => ETH_P_IPV4,
            Network::V6 { .. } => ETH_P_IPV6,
            Network::Arp { .. } => ETH_P_ARP,
        };
        let mut bytes = Vec::with_capacity(128 + self.payload.len());
        bytes.extend_from_slice(&self.dst_mac);
        bytes.extend_from_slice(&self.src_mac);
        for &(tpid, vid) in &self.vlans {
            bytes.extend_from_slice(&tpid.to_be_bytes());
            bytes.extend_from_slice(&vid.to_be_bytes());
        }
        bytes.extend_from_slice(&ether_type.to_be_bytes());
        let network_offset = bytes.len();

        let (network, transport_len) = match &self.network {
            Network::Arp {
                operation,
                sender,
                target,
            } => (self.arp_body(*operation, *sender, *target), 0),
            Network::V4 {
                src,
                dst,
                options,
                fragment,
                id,
            } => {
                let mut transport = self.transport_bytes(&Pseudo::V4 {
                    src: *src,
                    dst: *dst,
                });
                self.cut(&mut transport);
                let header = self.ipv4_header(*src, *dst, options, *fragment, *id, &transport);
                let len = transport.len();
                ([header, transport].concat(), len)
            }
            Network::V6 {
                src,
                dst,
                extensions,
            } => {
                let mut transport = self.transport_bytes(&Pseudo::V6 {
                    src: *src,
                    dst: *dst,
                });
                self.cut(&mut transport);
                let chain = self.ipv6_chain(extensions);
                let header = self.ipv6_header(*src, *dst, extensions, &chain, &transport);
                let len = transport.len();
                ([header, chain, transport].concat(), len)
            }
        };
        bytes.extend_from_slice(&network);
        let transport_offset = bytes.len() - transport_len;
        let header_len = match self.transport {
            Transport::Tcp { .. } => TCP_HLEN,
            Transport::Udp { .. } => UDP_HLEN,
            Transport::Icmp { .. } => ICMP_HLEN,
            Transport::Raw { .. } | Transport::None => 0,
        };
        let payload_offset = (transport_offset + header_len).min(bytes.len());
        if bytes.len() < self.min_len {
            bytes.resize(self.min_len, 0);
        }
        Frame {
            bytes,
            network_offset,
            transport_offset,
            payload_offset,
        }
    }
}
