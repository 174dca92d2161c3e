//! Synthetic Ethernet frames: for verdict tests through `TestRun`, and for raw `AF_PACKET` sends.
//!
//! [`FrameBuilder`] writes every length field and every checksum (IPv4 header, TCP, UDP,
//! ICMP, `ICMPv6`), so a frame the filter passes is also accepted by a real network stack.
//! Options and extension headers are filled with content the Linux stack accepts too.

use std::net::{Ipv4Addr, Ipv6Addr};

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

const IPV4_HLEN: usize = 20;
const IPV6_HLEN: usize = 40;
const TCP_HLEN: usize = 20;
const UDP_HLEN: usize = 8;
const ICMP_HLEN: usize = 8;
const ARP_LEN: usize = 28;
const IPV4_MAX_OPTIONS: usize = 40;

/// RFC 4727 experimental option type for hop-by-hop and destination options: the two high
/// bits are 00, so a receiver that does not know it skips it.
const EXPERIMENTAL_OPTION: u8 = 0x1e;
/// RFC 4727 experimental routing type; with segments left at 0 a receiver ignores it.
const EXPERIMENTAL_ROUTING_TYPE: u8 = 253;

const DEFAULT_SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const DEFAULT_DST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const BROADCAST_MAC: [u8; 6] = [0xff; 6];

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

#[derive(Clone, Copy, Debug)]
enum Extension {
    /// Hop-by-hop, routing, destination options or AH, `len` bytes in all.
    Sized {
        kind: u8,
        len: usize,
    },
    Fragment {
        offset: u16,
        more: bool,
    },
}

#[derive(Clone, Copy, Debug)]
enum Transport {
    Tcp {
        src_port: u16,
        dst_port: u16,
        flags: u8,
        seq: u32,
        ack: u32,
    },
    Udp {
        src_port: u16,
        dst_port: u16,
    },
    Icmp {
        icmp_type: u8,
        code: u8,
        rest: [u8; 4],
    },
    /// Any other protocol: the payload is the whole transport content.
    Raw {
        protocol: u8,
    },
    /// ARP has no transport layer.
    None,
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

    fn v4(src: Ipv4Addr, dst: Ipv4Addr, transport: Transport) -> Self {
        let network = Network::V4 {
            src,
            dst,
            options: Vec::new(),
            fragment: None,
            id: 0,
        };
        Self::new(network, transport)
    }

    fn v6(src: Ipv6Addr, dst: Ipv6Addr, transport: Transport) -> Self {
        let network = Network::V6 {
            src,
            dst,
            extensions: Vec::new(),
        };
        Self::new(network, transport)
    }

    const fn tcp(src_port: u16, dst_port: u16, flags: u8) -> Transport {
        Transport::Tcp {
            src_port,
            dst_port,
            flags,
            seq: 1,
            ack: if flags & ACK == 0 { 0 } else { 1 },
        }
    }

    /// A TCP segment over IPv4 with the given flags ([`SYN`], [`ACK`]...) and no payload.
    pub fn tcp_v4(src: Ipv4Addr, dst: Ipv4Addr, src_port: u16, dst_port: u16, flags: u8) -> Self {
        Self::v4(src, dst, Self::tcp(src_port, dst_port, flags))
    }

    /// A TCP segment over IPv6 with the given flags and no payload.
    pub fn tcp_v6(src: Ipv6Addr, dst: Ipv6Addr, src_port: u16, dst_port: u16, flags: u8) -> Self {
        Self::v6(src, dst, Self::tcp(src_port, dst_port, flags))
    }

    /// A UDP datagram over IPv4.
    pub fn udp_v4(
        src: Ipv4Addr,
        dst: Ipv4Addr,
        src_port: u16,
        dst_port: u16,
        payload: &[u8],
    ) -> Self {
        Self::v4(src, dst, Transport::Udp { src_port, dst_port }).payload(payload)
    }

    /// A UDP datagram over IPv6.
    pub fn udp_v6(
        src: Ipv6Addr,
        dst: Ipv6Addr,
        src_port: u16,
        dst_port: u16,
        payload: &[u8],
    ) -> Self {
        Self::v6(src, dst, Transport::Udp { src_port, dst_port }).payload(payload)
    }

    /// An ICMP message; its 4 rest-of-header bytes are zero (see
    /// [`icmp_rest`](Self::icmp_rest)), its body is the payload.
    pub fn icmp_v4(src: Ipv4Addr, dst: Ipv4Addr, icmp_type: u8, code: u8) -> Self {
        let transport = Transport::Icmp {
            icmp_type,
            code,
            rest: [0; 4],
        };
        Self::v4(src, dst, transport)
    }

    /// An `ICMPv6` message; its 4 rest-of-header bytes are zero, its body is the payload.
    pub fn icmp_v6(src: Ipv6Addr, dst: Ipv6Addr, icmp_type: u8, code: u8) -> Self {
        let transport = Transport::Icmp {
            icmp_type,
            code,
            rest: [0; 4],
        };
        Self::v6(src, dst, transport)
    }

    /// A neighbour solicitation from `src` for `target`, sent to the target's solicited-node
    /// multicast address with hop limit 255, as neighbour discovery requires.
    pub fn neighbour_solicitation(src: Ipv6Addr, target: Ipv6Addr) -> Self {
        let group = solicited_node(target);
        let g = group.octets();
        Self::icmp_v6(src, group, ICMPV6_NEIGHBOUR_SOLICITATION, 0)
            .payload(&target.octets())
            .ttl(255)
            .macs(DEFAULT_SRC_MAC, [0x33, 0x33, g[12], g[13], g[14], g[15]])
    }

    /// Any other IPv4 protocol; the payload is its whole content.
    pub fn raw_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8) -> Self {
        Self::v4(src, dst, Transport::Raw { protocol })
    }

    /// Any other IPv6 upper-layer protocol; the payload is its whole content.
    pub fn raw_v6(src: Ipv6Addr, dst: Ipv6Addr, protocol: u8) -> Self {
        Self::v6(src, dst, Transport::Raw { protocol })
    }

    /// An ARP packet ([`ARP_REQUEST`] or [`ARP_REPLY`]). The sender hardware address is the
    /// source MAC; a request goes to the broadcast MAC unless [`macs`](Self::macs) says
    /// otherwise.
    pub fn arp(operation: u16, sender: Ipv4Addr, target: Ipv4Addr) -> Self {
        let network = Network::Arp {
            operation,
            sender,
            target,
        };
        let mut builder = Self::new(network, Transport::None);
        if operation == ARP_REQUEST {
            builder.dst_mac = BROADCAST_MAC;
        }
        builder
    }

    /// Adds a VLAN tag; call once or twice (or more, for a malformed frame), outermost tag
    /// first.
    ///
    /// # Panics
    ///
    /// If `vid` does not fit in 12 bits.
    pub fn vlan(mut self, tpid: u16, vid: u16) -> Self {
        assert!(vid < 4096, "VLAN id {vid} does not fit in 12 bits");
        self.vlans.push((tpid, vid));
        self
    }

    /// Sets the source and destination MAC addresses.
    pub const fn macs(mut self, src: [u8; 6], dst: [u8; 6]) -> Self {
        self.src_mac = src;
        self.dst_mac = dst;
        self
    }

    /// Sets the IPv4 TTL or the IPv6 hop limit (64 by default).
    pub const fn ttl(mut self, ttl: u8) -> Self {
        self.ttl = ttl;
        self
    }

    /// Appends the IPv4 options `bytes`, padded with end-of-options bytes to a multiple of 4.
    ///
    /// # Panics
    ///
    /// If the frame is not IPv4 or the options exceed 40 bytes.
    pub fn ipv4_options(mut self, bytes: &[u8]) -> Self {
        let Network::V4 { options, .. } = &mut self.network else {
            panic!("IPv4 options on a frame that is not IPv4");
        };
        options.extend_from_slice(bytes);
        options.resize(options.len().next_multiple_of(4), 0);
        assert!(
            options.len() <= IPV4_MAX_OPTIONS,
            "{} bytes of IPv4 options: at most {IPV4_MAX_OPTIONS} fit",
            options.len()
        );
        self
    }

    /// Makes the IPv4 datagram a fragment at `offset_units` × 8 bytes, with the more-fragments
    /// flag as given. Unfragmented datagrams carry the don't-fragment flag instead.
    ///
    /// # Panics
    ///
    /// If the frame is not IPv4 or the offset does not fit in 13 bits.
    pub fn ipv4_fragment(mut self, offset_units: u16, more_fragments: bool) -> Self {
        let Network::V4 { fragment, .. } = &mut self.network else {
            panic!("an IPv4 fragment on a frame that is not IPv4");
        };
        assert!(
            offset_units < 1 << 13,
            "fragment offset {offset_units} too large"
        );
        *fragment = Some((offset_units, more_fragments));
        self
    }

    /// Sets the IPv4 identification (0 by default).
    ///
    /// # Panics
    ///
    /// If the frame is not IPv4.
    pub fn ipv4_id(mut self, value: u16) -> Self {
        let Network::V4 { id, .. } = &mut self.network else {
            panic!("an IPv4 id on a frame that is not IPv4");
        };
        *id = value;
        self
    }

    /// Appends an IPv6 extension header of `len_bytes` bytes in all: hop-by-hop
    /// ([`IPPROTO_HOPOPTS`]), routing ([`IPPROTO_ROUTING`]) or destination options
    /// ([`IPPROTO_DSTOPTS`]), a multiple of 8 from 8 to 2048; or AH ([`IPPROTO_AH`]), a
    /// multiple of 4 from 12 to 1028. Headers follow each other in call order.
    ///
    /// # Panics
    ///
    /// If the frame is not IPv6, or the kind or length is not one of the above.
    pub fn ipv6_ext(mut self, next_header_kind: u8, len_bytes: usize) -> Self {
        let Network::V6 { extensions, .. } = &mut self.network else {
            panic!("an IPv6 extension header on a frame that is not IPv6");
        };
        match next_header_kind {
            IPPROTO_HOPOPTS | IPPROTO_ROUTING | IPPROTO_DSTOPTS => assert!(
                len_bytes.is_multiple_of(8) && (8..=2048).contains(&len_bytes),
                "extension header {next_header_kind} of {len_bytes} bytes: the length must \
                 be a multiple of 8 from 8 to 2048"
            ),
            IPPROTO_AH => assert!(
                len_bytes.is_multiple_of(4) && (12..=1028).contains(&len_bytes),
                "AH of {len_bytes} bytes: the length must be a multiple of 4 from 12 to 1028"
            ),
            IPPROTO_FRAGMENT => panic!("use ipv6_fragment for a fragment header"),
            other => panic!("{other} is not an IPv6 extension header this builder writes"),
        }
        extensions.push(Extension::Sized {
            kind: next_header_kind,
            len: len_bytes,
        });
        self
    }

    /// Appends an IPv6 fragment header at `offset_units` × 8 bytes, with the M flag as given.
    ///
    /// # Panics
    ///
    /// If the frame is not IPv6 or the offset does not fit in 13 bits.
    pub fn ipv6_fragment(mut self, offset_units: u16, more: bool) -> Self {
        let Network::V6 { extensions, .. } = &mut self.network else {
            panic!("an IPv6 fragment header on a frame that is not IPv6");
        };
        assert!(
            offset_units < 1 << 13,
            "fragment offset {offset_units} too large"
        );
        extensions.push(Extension::Fragment {
            offset: offset_units,
            more,
        });
        self
    }

    /// Sets the TCP sequence and acknowledgement numbers (1, and 1 or 0 by default).
    ///
    /// # Panics
    ///
    /// If the frame is not TCP.
    pub fn tcp_seq(mut self, seq_number: u32, ack_number: u32) -> Self {
        let Transport::Tcp { seq, ack, .. } = &mut self.transport else {
            panic!("TCP sequence numbers on a frame that is not TCP");
        };
        *seq = seq_number;
        *ack = ack_number;
        self
    }

    /// Sets the 4 ICMP/ICMPv6 bytes after the checksum (identifier and sequence of an echo).
    ///
    /// # Panics
    ///
    /// If the frame is not ICMP.
    pub fn icmp_rest(mut self, bytes: [u8; 4]) -> Self {
        let Transport::Icmp { rest, .. } = &mut self.transport else {
            panic!("ICMP header bytes on a frame that is not ICMP");
        };
        *rest = bytes;
        self
    }

    /// Replaces the payload after the transport header.
    pub fn payload(mut self, bytes: &[u8]) -> Self {
        self.payload = bytes.to_vec();
        self
    }

    /// Keeps only the first `len` bytes of the transport header and payload, after the
    /// checksum is computed, with IP lengths that say so: a tiny first fragment, or a
    /// datagram whose transport header is cut short.
    pub const fn truncate_transport(mut self, len: usize) -> Self {
        self.truncate_transport = Some(len);
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

    fn cut(&self, transport: &mut Vec<u8>) {
        if let Some(len) = self.truncate_transport {
            transport.truncate(len);
        }
    }

    fn arp_body(&self, operation: u16, sender: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
        let mut body = Vec::with_capacity(ARP_LEN);
        body.extend_from_slice(&1u16.to_be_bytes()); // Ethernet
        body.extend_from_slice(&ETH_P_IPV4.to_be_bytes());
        body.extend_from_slice(&[6, 4]);
        body.extend_from_slice(&operation.to_be_bytes());
        body.extend_from_slice(&self.src_mac);
        body.extend_from_slice(&sender.octets());
        let target_mac = if operation == ARP_REQUEST {
            [0; 6]
        } else {
            self.dst_mac
        };
        body.extend_from_slice(&target_mac);
        body.extend_from_slice(&target.octets());
        body
    }

    /// The IP protocol number of the transport layer.
    fn protocol(&self) -> u8 {
        match self.transport {
            Transport::Tcp { .. } => IPPROTO_TCP,
            Transport::Udp { .. } => IPPROTO_UDP,
            Transport::Icmp { .. } => match self.network {
                Network::V6 { .. } => IPPROTO_ICMPV6,
                _ => IPPROTO_ICMP,
            },
            Transport::Raw { protocol } => protocol,
            Transport::None => unreachable!("ARP has no IP protocol"),
        }
    }

    /// The transport header and payload, with its checksum.
    fn transport_bytes(&self, pseudo: &Pseudo) -> Vec<u8> {
        let mut out = Vec::with_capacity(TCP_HLEN + self.payload.len());
        let checksum_at = match self.transport {
            Transport::Tcp {
                src_port,
                dst_port,
                flags,
                seq,
                ack,
            } => {
                out.extend_from_slice(&src_port.to_be_bytes());
                out.extend_from_slice(&dst_port.to_be_bytes());
                out.extend_from_slice(&seq.to_be_bytes());
                out.extend_from_slice(&ack.to_be_bytes());
                // Data offset 5 words: no TCP options.
                out.extend_from_slice(&[5 << 4, flags]);
                out.extend_from_slice(&64_240u16.to_be_bytes()); // window
                out.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
                Some(16)
            }
            Transport::Udp { src_port, dst_port } => {
                let len = u16::try_from(UDP_HLEN + self.payload.len())
                    .expect("UDP datagram longer than 65535 bytes");
                out.extend_from_slice(&src_port.to_be_bytes());
                out.extend_from_slice(&dst_port.to_be_bytes());
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(&[0, 0]);
                Some(6)
            }
            Transport::Icmp {
                icmp_type,
                code,
                rest,
            } => {
                out.extend_from_slice(&[icmp_type, code, 0, 0]);
                out.extend_from_slice(&rest);
                Some(2)
            }
            Transport::Raw { .. } | Transport::None => None,
        };
        out.extend_from_slice(&self.payload);
        if let Some(at) = checksum_at {
            // ICMP (v4) alone has no pseudo-header.
            let icmp_v4 = matches!(
                (self.transport, pseudo),
                (Transport::Icmp { .. }, Pseudo::V4 { .. })
            );
            let mut sum = if icmp_v4 {
                checksum(&out)
            } else {
                checksum(&[pseudo.header(self.protocol(), out.len()), out.clone()].concat())
            };
            // UDP sends a computed 0 as all ones: 0 means "no checksum".
            if sum == 0 && matches!(self.transport, Transport::Udp { .. }) {
                sum = 0xffff;
            }
            out[at..at + 2].copy_from_slice(&sum.to_be_bytes());
        }
        out
    }

    fn ipv4_header(
        &self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        options: &[u8],
        fragment: Option<(u16, bool)>,
        id: u16,
        transport: &[u8],
    ) -> Vec<u8> {
        let header_len = IPV4_HLEN + options.len();
        let total = u16::try_from(header_len + transport.len())
            .expect("IPv4 datagram longer than 65535 bytes");
        let frag = match fragment {
            Some((offset, more)) => offset | if more { 0x2000 } else { 0 },
            None => 0x4000, // don't fragment
        };
        let ihl = u8::try_from(header_len / 4).expect("IPv4 header length fits in 4 bits");
        let mut header = Vec::with_capacity(header_len);
        header.extend_from_slice(&[0x40 | ihl, 0]);
        header.extend_from_slice(&total.to_be_bytes());
        header.extend_from_slice(&id.to_be_bytes());
        header.extend_from_slice(&frag.to_be_bytes());
        header.extend_from_slice(&[self.ttl, self.protocol(), 0, 0]);
        header.extend_from_slice(&src.octets());
        header.extend_from_slice(&dst.octets());
        header.extend_from_slice(options);
        let sum = checksum(&header);
        header[10..12].copy_from_slice(&sum.to_be_bytes());
        header
    }

    fn ipv6_header(
        &self,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        extensions: &[Extension],
        chain: &[u8],
        transport: &[u8],
    ) -> Vec<u8> {
        let payload_len = u16::try_from(chain.len() + transport.len())
            .expect("IPv6 payload longer than 65535 bytes");
        let next = extensions
            .first()
            .map_or_else(|| self.protocol(), Extension::kind);
        let mut header = Vec::with_capacity(IPV6_HLEN);
        header.extend_from_slice(&[0x60, 0, 0, 0]);
        header.extend_from_slice(&payload_len.to_be_bytes());
        header.extend_from_slice(&[next, self.ttl]);
        header.extend_from_slice(&src.octets());
        header.extend_from_slice(&dst.octets());
        header
    }

    /// The extension headers, each naming the one after it (the last names the transport).
    fn ipv6_chain(&self, extensions: &[Extension]) -> Vec<u8> {
        let mut chain = Vec::new();
        for (i, extension) in extensions.iter().enumerate() {
            let next = extensions
                .get(i + 1)
                .map_or_else(|| self.protocol(), Extension::kind);
            chain.extend_from_slice(&extension.bytes(next));
        }
        chain
    }
}

impl Extension {
    const fn kind(&self) -> u8 {
        match self {
            Self::Sized { kind, .. } => *kind,
            Self::Fragment { .. } => IPPROTO_FRAGMENT,
        }
    }

    fn bytes(self, next: u8) -> Vec<u8> {
        match self {
            Self::Fragment { offset, more } => {
                let field = (offset << 3) | u16::from(more);
                let mut out = vec![next, 0];
                out.extend_from_slice(&field.to_be_bytes());
                out.extend_from_slice(&0x1234_5678u32.to_be_bytes());
                out
            }
            Self::Sized { kind, len } => {
                let units = if kind == IPPROTO_AH {
                    len / 4 - 2
                } else {
                    len / 8 - 1
                };
                let units = u8::try_from(units).expect("checked by ipv6_ext");
                let mut out = vec![next, units];
                match kind {
                    IPPROTO_ROUTING => {
                        out.extend_from_slice(&[EXPERIMENTAL_ROUTING_TYPE, 0]);
                    }
                    IPPROTO_AH => {
                        out.extend_from_slice(&[0, 0]);
                        out.extend_from_slice(&0x100u32.to_be_bytes()); // SPI
                        out.extend_from_slice(&1u32.to_be_bytes()); // sequence number
                    }
                    _ => options_fill(&mut out, len - 2),
                }
                out.resize(len, 0);
                out
            }
        }
    }
}

/// Fills `len` bytes of a hop-by-hop or destination options header with experimental
/// options. Linux rejects more than 7 bytes of padding in a row, so padding options would
/// not do for long headers.
fn options_fill(out: &mut Vec<u8>, mut len: usize) {
    // An option is 2 bytes of type and length plus up to 255 bytes of data.
    const MAX_OPTION: usize = 257;
    while len >= 2 {
        let mut take = len.min(MAX_OPTION);
        if len - take == 1 {
            take -= 1;
        }
        let data_len = u8::try_from(take - 2).expect("option data fits in a byte");
        out.extend_from_slice(&[EXPERIMENTAL_OPTION, data_len]);
        out.resize(out.len() + take - 2, 0);
        len -= take;
    }
    // A lone byte left over is a Pad1 option.
    out.resize(out.len() + len, 0);
}

/// The addresses that go into a transport checksum's pseudo-header.
enum Pseudo {
    V4 { src: Ipv4Addr, dst: Ipv4Addr },
    V6 { src: Ipv6Addr, dst: Ipv6Addr },
}

impl Pseudo {
    fn header(&self, protocol: u8, len: usize) -> Vec<u8> {
        match self {
            Self::V4 { src, dst } => {
                let len = u16::try_from(len).expect("transport length fits in 16 bits");
                let mut out = Vec::with_capacity(12);
                out.extend_from_slice(&src.octets());
                out.extend_from_slice(&dst.octets());
                out.extend_from_slice(&[0, protocol]);
                out.extend_from_slice(&len.to_be_bytes());
                out
            }
            Self::V6 { src, dst } => {
                let len = u32::try_from(len).expect("transport length fits in 32 bits");
                let mut out = Vec::with_capacity(40);
                out.extend_from_slice(&src.octets());
                out.extend_from_slice(&dst.octets());
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(&[0, 0, 0, protocol]);
                out
            }
        }
    }
}

/// The Internet checksum (RFC 1071) of `data`: the ones' complement of the ones' complement
/// sum of its 16-bit big-endian words, an odd last byte padded with zero.
#[must_use]
pub fn checksum(data: &[u8]) -> u16 {
    // Ones' complement addition: a carry out of the top bit wraps around into the bottom.
    let add = |sum: u16, word: u16| {
        let (total, carry) = sum.overflowing_add(word);
        total + u16::from(carry)
    };
    let mut words = data.chunks_exact(2);
    let mut sum = (&mut words).fold(0, |sum, w| add(sum, u16::from_be_bytes([w[0], w[1]])));
    if let [last] = words.remainder() {
        sum = add(sum, u16::from_be_bytes([*last, 0]));
    }
    !sum
}

/// The solicited-node multicast group of `addr` (`ff02::1:ffXX:XXXX`).
#[must_use]
pub fn solicited_node(addr: Ipv6Addr) -> Ipv6Addr {
    let o = addr.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, o[13], o[14], o[15],
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    const A4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const B4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
    const A6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
    const B6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);

    fn be16(bytes: &[u8], at: usize) -> u16 {
        u16::from_be_bytes([bytes[at], bytes[at + 1]])
    }

    /// Sums 16-bit words with a wide accumulator and folds once at the end: written apart
    /// from [`checksum`] so the two check each other.
    fn ones_complement_sum(parts: &[&[u8]]) -> u16 {
        let bytes: Vec<u8> = parts.concat();
        let mut sum: u64 = bytes
            .chunks(2)
            .map(|w| u64::from(w[0]) << 8 | u64::from(*w.get(1).unwrap_or(&0)))
            .sum();
        while sum >> 16 != 0 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        u16::try_from(sum).unwrap()
    }

    fn v4_pseudo(frame: &Frame) -> Vec<u8> {
        let ip = &frame.bytes[frame.network_offset..];
        let len = u16::try_from(frame.bytes.len() - frame.transport_offset).unwrap();
        [&ip[12..20], &[0, ip[9]], &len.to_be_bytes()[..]].concat()
    }

    fn v6_pseudo(frame: &Frame, protocol: u8) -> Vec<u8> {
        let ip = &frame.bytes[frame.network_offset..];
        let len = u32::try_from(frame.bytes.len() - frame.transport_offset).unwrap();
        [&ip[8..40], &len.to_be_bytes()[..], &[0, 0, 0, protocol]].concat()
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: the sum of these words is 0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(checksum(&data), !0xddf2);
        assert_eq!(
            checksum(&[0xab]),
            !0xab00,
            "an odd byte is padded on the right"
        );
    }

    #[test]
    fn known_ipv4_header_checksum() {
        // A widely quoted example: 192.168.0.1 -> 192.168.0.199, UDP, total length 0x73,
        // DF, TTL 64, id 0; its header checksum is 0xb861.
        let frame = FrameBuilder::udp_v4(
            Ipv4Addr::new(192, 168, 0, 1),
            Ipv4Addr::new(192, 168, 0, 199),
            1000,
            2000,
            &[0; 0x73 - 28],
        )
        .build_frame();
        let ip = &frame.bytes[ETH_HLEN..ETH_HLEN + 20];
        assert_eq!(
            ip,
            [
                0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
                0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7
            ]
        );
    }

    #[test]
    fn known_udp_checksum() {
        // Computed independently (Python) from the pseudo-header: 192.0.2.1:1234 -> 198.51.100.2:53, "hi".
        let frame = FrameBuilder::udp_v4(A4, B4, 1234, 53, b"hi").build_frame();
        let udp = &frame.bytes[frame.transport_offset..];
        assert_eq!(be16(udp, 4), 10, "UDP length");
        assert_eq!(be16(udp, 6), 0xa632, "UDP checksum");
    }

    #[test]
    fn tcp_v4_syn_layout_and_checksums() {
        let frame = FrameBuilder::tcp_v4(A4, B4, 40000, 3306, SYN)
            .payload(b"hello")
            .build_frame();
        let b = &frame.bytes;
        assert_eq!(b.len(), 14 + 20 + 20 + 5);
        assert_eq!(
            (
                frame.network_offset,
                frame.transport_offset,
                frame.payload_offset
            ),
            (14, 34, 54)
        );
        assert_eq!(&b[0..6], DEFAULT_DST_MAC);
        assert_eq!(&b[6..12], DEFAULT_SRC_MAC);
        assert_eq!(be16(b, 12), ETH_P_IPV4);
        assert_eq!(b[14], 0x45);
        assert_eq!(usize::from(be16(b, 16)), 20 + 20 + 5, "IPv4 total length");
        assert_eq!(b[23], IPPROTO_TCP);
        assert_eq!(checksum(&b[14..34]), 0, "IPv4 header checksum verifies");
        assert_eq!((be16(b, 34), be16(b, 36)), (40000, 3306));
        assert_eq!(b[46], 5 << 4, "data offset");
        assert_eq!(b[47], SYN);
        assert_eq!(&b[54..], b"hello");
        assert_eq!(
            ones_complement_sum(&[&v4_pseudo(&frame), &b[34..]]),
            0xffff,
            "TCP checksum verifies"
        );
    }

    #[test]
    fn udp_and_icmp_v6_checksums() {
        let udp = FrameBuilder::udp_v6(A6, B6, 5353, 53, b"abc").build_frame();
        let b = &udp.bytes;
        assert_eq!(b.len(), 14 + 40 + 8 + 3);
        assert_eq!(be16(b, 12), ETH_P_IPV6);
        assert_eq!(b[14] >> 4, 6);
        assert_eq!(usize::from(be16(b, 18)), 8 + 3, "IPv6 payload length");
        assert_eq!(b[20], IPPROTO_UDP);
        assert_eq!(
            ones_complement_sum(&[&v6_pseudo(&udp, IPPROTO_UDP), &b[54..]]),
            0xffff
        );

        let ns = FrameBuilder::neighbour_solicitation(A6, B6).build_frame();
        let b = &ns.bytes;
        assert_eq!(&b[0..6], [0x33, 0x33, 0xff, 0, 0, 2]);
        assert_eq!(b[20], IPPROTO_ICMPV6);
        assert_eq!(b[21], 255, "hop limit");
        assert_eq!(&b[38..54], solicited_node(B6).octets());
        assert_eq!(b[54], ICMPV6_NEIGHBOUR_SOLICITATION);
        assert_eq!(&b[62..78], B6.octets(), "target");
        assert_eq!(
            ones_complement_sum(&[&v6_pseudo(&ns, IPPROTO_ICMPV6), &b[54..]]),
            0xffff
        );
    }

    #[test]
    fn icmp_v4_checksum_has_no_pseudo_header() {
        let frame = FrameBuilder::icmp_v4(A4, B4, ICMP_ECHO_REQUEST, 0)
            .icmp_rest([0, 1, 0, 2])
            .payload(b"ping")
            .build_frame();
        assert_eq!(frame.bytes.len(), 14 + 20 + 8 + 4);
        assert_eq!(frame.bytes[23], IPPROTO_ICMP);
        assert_eq!(checksum(&frame.bytes[34..]), 0);
    }

    #[test]
    fn vlan_tags_sit_between_macs_and_ether_type() {
        let b = FrameBuilder::tcp_v4(A4, B4, 1, 2, SYN)
            .vlan(TPID_8021AD, 100)
            .vlan(TPID_8021Q, 200)
            .build_frame();
        assert_eq!(b.network_offset, 14 + 8);
        let b = &b.bytes;
        assert_eq!(be16(b, 12), TPID_8021AD, "outer TPID");
        assert_eq!(be16(b, 14), 100, "outer VLAN id");
        assert_eq!(be16(b, 16), TPID_8021Q, "inner TPID");
        assert_eq!(be16(b, 18), 200, "inner VLAN id");
        assert_eq!(be16(b, 20), ETH_P_IPV4);
        assert_eq!(b[22], 0x45);
        assert_eq!(b.len(), 14 + 8 + 20 + 20);
    }

    #[test]
    fn ipv4_options_are_padded_and_counted_in_ihl() {
        let frame = FrameBuilder::tcp_v4(A4, B4, 1, 2, SYN)
            .ipv4_options(&[1, 1, 1])
            .build_frame();
        let b = &frame.bytes;
        assert_eq!(b[14], 0x46, "IHL 6 words");
        assert_eq!(&b[34..38], [1, 1, 1, 0]);
        assert_eq!(frame.transport_offset, 38);
        assert_eq!(usize::from(be16(b, 16)), 24 + 20);
        assert_eq!(checksum(&b[14..38]), 0);

        let full = FrameBuilder::tcp_v4(A4, B4, 1, 2, SYN)
            .ipv4_options(&[1; 40])
            .build_frame();
        assert_eq!(full.bytes[14], 0x4f);
        assert_eq!(full.transport_offset, 14 + 60);
    }

    #[test]
    #[should_panic(expected = "at most 40 fit")]
    fn ipv4_options_beyond_40_bytes_panic() {
        let _ = FrameBuilder::tcp_v4(A4, B4, 1, 2, SYN).ipv4_options(&[1; 41]);
    }

    #[test]
    fn ipv4_fragment_fields() {
        let first = FrameBuilder::tcp_v4(A4, B4, 1, 2, SYN)
            .ipv4_fragment(0, true)
            .ipv4_id(7)
            .build();
        assert_eq!(be16(&first, 18), 7);
        assert_eq!(be16(&first, 20), 0x2000);
        let later = FrameBuilder::tcp_v4(A4, B4, 1, 2, SYN)
            .ipv4_fragment(185, false)
            .build();
        assert_eq!(be16(&later, 20), 185);
        let whole = FrameBuilder::tcp_v4(A4, B4, 1, 2, SYN).build();
        assert_eq!(be16(&whole, 20), 0x4000, "don't fragment");
    }

    #[test]
    fn ipv6_extension_chain_links_and_lengths() {
        let frame = FrameBuilder::tcp_v6(A6, B6, 1, 22, SYN)
            .ipv6_ext(IPPROTO_HOPOPTS, 8)
            .ipv6_ext(IPPROTO_DSTOPTS, 24)
            .ipv6_ext(IPPROTO_ROUTING, 16)
            .ipv6_fragment(0, true)
            .ipv6_ext(IPPROTO_AH, 12)
            .build_frame();
        let b = &frame.bytes;
        let chain = 8 + 24 + 16 + 8 + 12;
        assert_eq!(frame.transport_offset, 54 + chain);
        assert_eq!(usize::from(be16(b, 18)), chain + 20);
        assert_eq!(b[20], IPPROTO_HOPOPTS);
        // (offset, next header, length byte)
        let expected = [
            (54, IPPROTO_DSTOPTS, 0),
            (62, IPPROTO_ROUTING, 2),
            (86, IPPROTO_FRAGMENT, 1),
            (102, IPPROTO_AH, 0),
            (110, IPPROTO_TCP, 1),
        ];
        for (at, next, len) in expected {
            assert_eq!((b[at], b[at + 1]), (next, len), "extension header at {at}");
        }
        assert_eq!(be16(b, 104), 1, "fragment offset 0, M set");
        assert_eq!(b[88], EXPERIMENTAL_ROUTING_TYPE);
        assert_eq!(b[89], 0, "segments left");
        assert_eq!(be16(b, frame.transport_offset + 2), 22);
        assert_eq!(
            ones_complement_sum(&[
                &v6_pseudo(&frame, IPPROTO_TCP),
                &b[frame.transport_offset..]
            ]),
            0xffff
        );
    }

    #[test]
    fn long_option_headers_use_few_non_padding_options() {
        let frame = FrameBuilder::udp_v6(A6, B6, 1, 2, &[])
            .ipv6_ext(IPPROTO_HOPOPTS, 2048)
            .build_frame();
        let options = &frame.bytes[56..54 + 2048];
        let mut at = 0;
        let mut count = 0;
        while at < options.len() {
            match options[at] {
                0 => at += 1,
                EXPERIMENTAL_OPTION => {
                    at += 2 + usize::from(options[at + 1]);
                    count += 1;
                }
                other => panic!("unexpected option type {other}"),
            }
        }
        assert_eq!(at, options.len(), "options fill the header exactly");
        assert!(count <= 8, "{count} options: Linux accepts 8 by default");
        assert_eq!(frame.bytes[55], 255);
    }

    #[test]
    fn ipv6_fragment_offset() {
        let b = FrameBuilder::udp_v6(A6, B6, 1, 2, &[])
            .ipv6_fragment(3, false)
            .build();
        assert_eq!(b[20], IPPROTO_FRAGMENT);
        assert_eq!(b[54], IPPROTO_UDP);
        assert_eq!(be16(&b, 56), 3 << 3);
    }

    #[test]
    fn truncated_transport_and_padding() {
        let frame = FrameBuilder::tcp_v4(A4, B4, 1, 2, SYN)
            .ipv4_fragment(0, true)
            .truncate_transport(8)
            .pad_to(ETH_MIN_FRAME)
            .build_frame();
        assert_eq!(frame.bytes.len(), ETH_MIN_FRAME);
        assert_eq!(
            be16(&frame.bytes, 16),
            28,
            "IPv4 total length counts 8 bytes of TCP"
        );
        assert!(frame.bytes[42..].iter().all(|b| *b == 0), "zero padding");
        assert_eq!(checksum(&frame.bytes[14..34]), 0);
    }

    #[test]
    fn arp_request() {
        let b = FrameBuilder::arp(ARP_REQUEST, A4, B4).build();
        assert_eq!(b.len(), 14 + 28);
        assert_eq!(&b[0..6], BROADCAST_MAC);
        assert_eq!(be16(&b, 12), ETH_P_ARP);
        assert_eq!(be16(&b, 20), ARP_REQUEST);
        assert_eq!(&b[22..28], DEFAULT_SRC_MAC);
        assert_eq!(&b[28..32], A4.octets());
        assert_eq!(&b[38..42], B4.octets());
    }
}
