//! The policy as map entries: flags per port and per IP protocol, LPM-trie keys per
//! generation, and the policy rebuilt from what the maps hold.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use fwxdp_common::{
    CIDR_IP_PROTOCOL, CIDR_KEY_FIXED_BITS, CidrKey, FAMILY_V4, FAMILY_V6, LIMIT_MAX_COUNT, Limit,
    LimitKey, PORT_LIMIT, PROTOCOL_ALLOW, PROTOCOL_CIDR, Proto,
};
use ipnet::IpNet;

use super::{PORTS, Policy};

/// Entries of one generation of the protocols map.
pub const PROTOCOL_NUMBERS: usize = 256;

impl Policy {
    /// The flags of `port` in the ports map.
    #[must_use]
    pub fn port_flags(&self, port: u16) -> u16 {
        let mut flags = self.open[usize::from(port)];
        for proto in Proto::ALL {
            if self.has_cidrs(proto, port) {
                flags |= proto.cidr_flag();
            }
            if self.limits.contains_key(&(proto, port)) {
                flags |= PORT_LIMIT;
            }
        }
        flags
    }

    /// The limits map entries of this policy for `generation`.
    pub fn limit_entries(&self, generation: u8) -> impl Iterator<Item = (LimitKey, Limit)> + '_ {
        self.limits.iter().map(move |(&(proto, port), &limit)| {
            (
                LimitKey {
                    generation,
                    proto: proto as u8,
                    port,
                },
                limit,
            )
        })
    }

    fn has_cidrs(&self, proto: Proto, port: u16) -> bool {
        let low = (proto, port, IpNet::V4(ipnet::Ipv4Net::default()));
        self.cidrs
            .range(low..)
            .next()
            .is_some_and(|(p, n, _)| *p == proto && *n == port)
    }

    /// The flags of IP protocol `number` in the protocols map.
    #[must_use]
    pub fn protocol_flags(&self, number: u8) -> u8 {
        if self.protocols.contains(&number) {
            PROTOCOL_ALLOW
        } else if self
            .protocol_cidrs
            .range((number, IpNet::V4(ipnet::Ipv4Net::default()))..)
            .next()
            .is_some_and(|(n, _)| *n == number)
        {
            PROTOCOL_CIDR
        } else {
            0
        }
    }

    /// The LPM trie entries of this policy for `generation`: (prefix length, key).
    pub fn cidr_entries(&self, generation: u8) -> impl Iterator<Item = (u32, CidrKey)> + '_ {
        let ports = self
            .cidrs
            .iter()
            .map(|&(proto, port, net)| (proto as u8, port, net));
        let protocols = self
            .protocol_cidrs
            .iter()
            .map(|&(number, net)| (CIDR_IP_PROTOCOL, u16::from(number), net));
        ports.chain(protocols).map(move |(proto, port, net)| {
            let mut key = CidrKey {
                generation,
                proto,
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

    /// Rebuilds a policy from the ports map (`flags[port]`), the protocols map
    /// (`protocol_flags[number]`), and the trie and limits entries of one generation. A
    /// limit the program would not enforce (its port not flagged, or not open for its
    /// protocol) is left out, so the policy shows what is enforced.
    #[must_use]
    pub fn from_entries(
        flags: &[u16],
        protocol_flags: &[u8],
        cidrs: impl IntoIterator<Item = (u32, CidrKey)>,
        limits: impl IntoIterator<Item = (LimitKey, Limit)>,
    ) -> Self {
        let allow_bits = Proto::ALL.iter().fold(0, |bits, p| bits | p.allow_flag());
        let mut policy = Self::deny_all();
        for (port, f) in flags.iter().take(PORTS).enumerate() {
            policy.open[port] = f & allow_bits;
        }
        for (number, f) in (0..=u8::MAX).zip(protocol_flags) {
            if f & PROTOCOL_ALLOW != 0 {
                policy.protocols.insert(number);
            }
        }
        for (prefix_len, key) in cidrs {
            let Some(bits) = prefix_len
                .checked_sub(CIDR_KEY_FIXED_BITS)
                .and_then(|bits| u8::try_from(bits).ok())
            else {
                continue;
            };
            let net = match key.family {
                FAMILY_V4 => {
                    let addr = Ipv4Addr::new(key.addr[0], key.addr[1], key.addr[2], key.addr[3]);
                    IpNet::new(IpAddr::V4(addr), bits)
                }
                _ => IpNet::new(IpAddr::V6(Ipv6Addr::from(key.addr)), bits),
            };
            let Ok(net) = net else {
                continue;
            };
            let port = u16::from_be(key.port_be);
            if key.proto == CIDR_IP_PROTOCOL {
                if let Ok(number) = u8::try_from(port) {
                    policy.protocol_cidrs.insert((number, net));
                }
            } else if let Some(proto) = Proto::from_raw(key.proto) {
                policy.cidrs.insert((proto, port, net));
            }
        }
        for (key, limit) in limits {
            let Some(proto) = Proto::from_raw(key.proto) else {
                continue;
            };
            let port_flags = flags.get(usize::from(key.port)).copied().unwrap_or(0);
            let enforced = port_flags & PORT_LIMIT != 0 && port_flags & proto.allow_flag() != 0;
            // The program clamps the count into 1..=16 and compares the window as stored.
            let limit = Limit {
                count: limit.count.clamp(1, LIMIT_MAX_COUNT),
                window_ms: limit.window_ms,
            };
            if enforced {
                policy.limits.insert((proto, key.port), limit);
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

    /// `p` written as map entries (generation 0) and read back.
    fn round_trip(p: &Policy) -> Policy {
        let flags: Vec<u16> = (0..=u16::MAX).map(|port| p.port_flags(port)).collect();
        let protocol_flags: Vec<u8> = (0..=u8::MAX).map(|n| p.protocol_flags(n)).collect();
        Policy::from_entries(
            &flags,
            &protocol_flags,
            p.cidr_entries(0),
            p.limit_entries(0),
        )
    }

    #[test]
    fn decompiles_map_entries() {
        let p = policy(
            "22,53/udp,6379/tcp@192.168.0.0/16,80@fd00::/8,5000/sctp,5300/udplite@10.0.0.0/8,\
             33/dccp,ip:esp,ip:gre@203.0.113.0/24,ip:253@2001:db8::/32",
        );
        let back = round_trip(&p);
        assert_eq!(back, p);
    }

    #[test]
    fn compiles_limits_and_reads_them_back() {
        let p = Policy::parse_with_limits(&["80"], &["22/tcp=4/60s,2222-2224/tcp=10/5s"]).unwrap();
        assert_eq!(p.port_flags(22), PORT_TCP_ALLOW | PORT_LIMIT);
        assert_eq!(p.port_flags(80), PORT_TCP_ALLOW | PORT_UDP_ALLOW);
        assert_eq!(p.limit_entries(1).count(), 4);
        assert!(p.limit_entries(1).all(|(key, _)| key.generation == 1));
        let back = round_trip(&p);
        assert_eq!(back, p);
        assert_eq!(back.limit_specs(), ["22/tcp=4/1m", "2222-2224/tcp=10/5s"]);
        // A limit entry whose port the flags do not mark is not enforced, so not shown.
        let unflagged = vec![0u16; 1 << 16];
        let back = Policy::from_entries(&unflagged, &[0; 256], [], p.limit_entries(0));
        assert!(back.limit_specs().is_empty());
    }

    #[test]
    fn compiles_protocols_into_flags_and_trie_keys() {
        let p = policy("ip:esp,ip:gre@203.0.113.0/24,ip:gre@198.51.100.0/24,ip:4@10.0.0.0/8,ip:4");
        assert_eq!(p.protocol_flags(50), PROTOCOL_ALLOW);
        assert_eq!(p.protocol_flags(47), PROTOCOL_CIDR);
        // Open to everyone: its CIDR adds nothing.
        assert_eq!(p.protocol_flags(4), PROTOCOL_ALLOW);
        assert_eq!(p.protocol_flags(41), 0);
        let entries: Vec<_> = p.cidr_entries(1).collect();
        assert_eq!(entries.len(), 2);
        assert!(
            entries
                .iter()
                .all(|(len, k)| *len == CIDR_KEY_FIXED_BITS + 24
                    && k.proto == CIDR_IP_PROTOCOL
                    && k.port_be == 47u16.to_be()
                    && k.generation == 1)
        );
    }

    #[test]
    fn every_transport_has_its_own_flags() {
        let p = policy("5000/sctp,5000/udplite@10.0.0.0/8,5000/dccp");
        assert_eq!(
            p.port_flags(5000),
            Proto::Sctp.allow_flag() | Proto::Dccp.allow_flag() | Proto::UdpLite.cidr_flag()
        );
    }
}
