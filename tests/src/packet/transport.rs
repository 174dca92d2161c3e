//! The transport layer: TCP, UDP, ICMP and other protocols, the payload, and their checksums.

use super::{
    ACK, FrameBuilder, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, Network, checksum,
    checksum::Pseudo,
};

pub(super) const TCP_HLEN: usize = 20;
pub(super) const UDP_HLEN: usize = 8;
pub(super) const ICMP_HLEN: usize = 8;

#[derive(Clone, Copy, Debug)]
pub(super) enum Transport {
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

impl FrameBuilder {
    pub(super) const fn tcp(src_port: u16, dst_port: u16, flags: u8) -> Transport {
        Transport::Tcp {
            src_port,
            dst_port,
            flags,
            seq: 1,
            ack: if flags & ACK == 0 { 0 } else { 1 },
        }
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

    pub(super) fn cut(&self, transport: &mut Vec<u8>) {
        if let Some(len) = self.truncate_transport {
            transport.truncate(len);
        }
    }

    /// The IP protocol number of the transport layer.
    pub(super) fn protocol(&self) -> u8 {
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
    pub(super) fn transport_bytes(&self, pseudo: &Pseudo) -> Vec<u8> {
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
}
