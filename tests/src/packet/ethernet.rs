//! The Ethernet layer: MAC addresses, VLAN tags, and ARP, which has no IP layer above it.

use std::net::Ipv4Addr;

use super::{ARP_REQUEST, ETH_P_IPV4, FrameBuilder, Network, transport::Transport};

const ARP_LEN: usize = 28;
pub(super) const BROADCAST_MAC: [u8; 6] = [0xff; 6];

impl FrameBuilder {
    /// An ARP packet ([`ARP_REQUEST`] or [`ARP_REPLY`](super::ARP_REPLY)). The sender
    /// hardware address is the source MAC; a request goes to the broadcast MAC unless
    /// [`macs`](Self::macs) says otherwise.
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

    pub(super) fn arp_body(&self, operation: u16, sender: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
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
}
