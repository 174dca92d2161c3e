//! The policy as map entries: a flags byte per port, LPM-trie keys per generation, and the
//! policy rebuilt from what the maps hold.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use fwxdp_common::{CIDR_KEY_FIXED_BITS, CidrKey, FAMILY_V4, FAMILY_V6, Proto};
use ipnet::IpNet;

use super::{PORTS, Policy};

impl Policy {
    /// The flags byte of `port` in the ports map.
    #[must_use]
    pub fn port_flags(&self, port: u16) -> u8 {
        let mut flags = self.open[usize::from(port)];
        for proto in Proto::ALL {
            if self.has_cidrs(proto, port) {
                flags |= proto.cidr_flag();
            }
        }
        flags
    }

    fn has_cidrs(&self, proto: Proto, port: u16) -> bool {
        let low = (proto, port, IpNet::V4(ipnet::Ipv4Net::default()));
        self.cidrs
            .range(low..)
            .next()
            .is_some_and(|(p, n, _)| *p == proto && *n == port)
    }

    /// The LPM trie entries of this policy for `generation`: (prefix length, key).
    pub fn cidr_entries(&self, generation: u8) -> impl Iterator<Item = (u32, CidrKey)> + '_ {
        self.cidrs.iter().map(move |&(proto, port, net)| {
            let mut key = CidrKey {
                generation,
                proto: proto as u8,
                family: FAMILY_V4,
                _pad: 0,
                port_be: port.to_be(),
                addr: [0; 16],
            };
            match net.network() {
                IpAddr::V4(addr) => key.addr[..4].copy_from_slice(&addr.octets()),
                IpAddr::V6(addr) => {
                    key.family = FAMILY_V6;
                    key.addr = addr.octets();
                }
            }
            (CIDR_KEY_FIXED_BITS + u32::from(net.prefix_len()), key)
        })
    }

    /// Rebuilds a policy from the ports map (`flags[port]`) and trie entries of one generation.
    #[must_use]
    pub fn from_entries(flags: &[u8], cidrs: impl IntoIterator<Item = (u32, CidrKey)>) -> Self {
        let mut policy = Self::deny_all();
        for (port, f) in flags.iter().take(PORTS).enumerate() {
            policy.open[port] = f & (Proto::Tcp.allow_flag() | Proto::Udp.allow_flag());
        }
        for (prefix_len, key) in cidrs {
            let (Some(proto), Some(bits)) = (
                Proto::from_raw(key.proto),
                prefix_len.checked_sub(CIDR_KEY_FIXED_BITS),
            ) else {
                continue;
            };
            let Ok(bits) = u8::try_from(bits) else {
                continue;
            };
            let net = match key.family {
                FAMILY_V4 => {
                    let addr = Ipv4Addr::new(key.addr[0], key.addr[1], key.addr[2], key.addr[3]);
                    IpNet::new(IpAddr::V4(addr), bits)
                }
                _ => IpNet::new(IpAddr::V6(Ipv6Addr::from(key.addr)), bits),
            };
            if let Ok(net) = net {
                policy.cidrs.insert((proto, u16::from_be(key.port_be), net));
            }
        }
        policy
    }
}

#[cfg(test)]
mod tests {
    use fwxdp_common::{PORT_TCP_ALLOW, PORT_TCP_CIDR, PORT_UDP_ALLOW, PORT_UDP_CIDR};

    use super::*;

    fn policy(list: &str) -> Policy {
        Policy::parse(&[list]).unwrap()
    }

    #[test]
    fn compiles_ports_into_flags() {
        let p = policy("22,80-81/tcp,53/udp,5432@10.0.0.0/8");
        assert_eq!(p.port_flags(22), PORT_TCP_ALLOW | PORT_UDP_ALLOW);
        assert_eq!(p.port_flags(80), PORT_TCP_ALLOW);
        assert_eq!(p.port_flags(81), PORT_TCP_ALLOW);
        assert_eq!(p.port_flags(82), 0);
        assert_eq!(p.port_flags(53), PORT_UDP_ALLOW);
        assert_eq!(p.port_flags(5432), PORT_TCP_CIDR | PORT_UDP_CIDR);
        assert_eq!(p.port_flags(0), 0);
        assert_eq!(p.port_flags(65535), 0);
        assert_eq!(p.open_port_count(Proto::Tcp), 3);
        assert_eq!(p.open_port_count(Proto::Udp), 2);
    }

    #[test]
    fn compiles_cidrs_into_trie_keys() {
        let p = policy("5432/tcp@10.0.0.0/8,22@2001:db8::/32");
        let entries: Vec<_> = p.cidr_entries(1).collect();
        assert_eq!(entries.len(), 3);
        let (len, key) = entries.iter().find(|(_, k)| k.family == FAMILY_V4).unwrap();
        assert_eq!(*len, CIDR_KEY_FIXED_BITS + 8);
        assert_eq!(key.generation, 1);
        assert_eq!(key.proto, Proto::Tcp as u8);
        assert_eq!(key.port_be, 5432u16.to_be());
        assert_eq!(&key.addr[..4], &[10, 0, 0, 0]);
        let v6: Vec<_> = entries
            .iter()
            .filter(|(_, k)| k.family == FAMILY_V6)
            .collect();
        assert_eq!(v6.len(), 2);
        assert!(v6.iter().all(|(len, k)| *len == CIDR_KEY_FIXED_BITS + 32
            && k.port_be == 22u16.to_be()
            && k.addr[..4] == [0x20, 0x01, 0x0d, 0xb8]));
    }

    #[test]
    fn cidr_on_an_open_port_adds_no_entry() {
        let p = policy("22,22@10.0.0.0/8");
        assert_eq!(p.cidr_entries(0).count(), 0);
        assert_eq!(p.to_specs(), vec!["22"]);
    }

    #[test]
    fn decompiles_map_entries() {
        let p = policy("22,53/udp,6379/tcp@192.168.0.0/16,80@fd00::/8");
        let flags: Vec<u8> = (0..=u16::MAX).map(|port| p.port_flags(port)).collect();
        let back = Policy::from_entries(&flags, p.cidr_entries(0));
        assert_eq!(back, p);
    }
}
