//! The allow-spec grammar shared by the CLI and the config file.
//!
//! ```text
//! list     = item *("," item)
//! item     = ports ["/" proto] ["@" cidr] | "ip:" protocol ["@" cidr]
//! ports    = port ["-" port]          ; 1..=65535, first <= last
//! proto    = "tcp" | "udp" | "udplite" | "sctp" | "dccp"   ; tcp and udp when absent
//! protocol = name | number            ; an IP protocol without ports: esp, gre, 47...
//! cidr     = address ["/" prefix]     ; IPv4 or IPv6; a bare address is a host
//! ```

use std::{fmt, net::IpAddr, str::FromStr};

use fwxdp_common::Proto;
use ipnet::IpNet;

use super::protocols;

/// One item of an allow list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllowItem {
    /// A port range of protocols with ports.
    Ports(AllowRule),
    /// An IP protocol without ports.
    Protocol(ProtocolRule),
}

impl fmt::Display for AllowItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ports(rule) => rule.fmt(f),
            Self::Protocol(rule) => rule.fmt(f),
        }
    }
}

/// An IP protocol without ports (`ip:gre`), from anywhere or from one source network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProtocolRule {
    /// The IP protocol number.
    pub number: u8,
    /// The source network allowed, or `None` for every source.
    pub source: Option<IpNet>,
}

impl fmt::Display for ProtocolRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ip:{}", protocols::name(self.number))?;
        if let Some(source) = self.source {
            write!(f, "@{source}")?;
        }
        Ok(())
    }
}

/// One rule of an allow list: a port range, for one or both protocols, from anywhere or from
/// one source network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllowRule {
    /// First port of the range.
    pub first: u16,
    /// Last port of the range, inclusive.
    pub last: u16,
    /// The protocol, or `None` for TCP and UDP.
    pub proto: Option<Proto>,
    /// The source network allowed, or `None` for every source.
    pub source: Option<IpNet>,
}

impl AllowRule {
    /// The protocols the rule covers.
    pub fn protos(&self) -> impl Iterator<Item = Proto> + use<> {
        let proto = self.proto;
        Proto::ALL
            .into_iter()
            .filter(move |p| proto.map_or(matches!(p, Proto::Tcp | Proto::Udp), |only| only == *p))
    }
}

impl fmt::Display for AllowRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.first)?;
        if self.last != self.first {
            write!(f, "-{}", self.last)?;
        }
        if let Some(proto) = self.proto {
            write!(f, "/{}", proto.name())?;
        }
        if let Some(source) = self.source {
            write!(f, "@{source}")?;
        }
        Ok(())
    }
}

/// A bad allow-spec item. Every variant names the item as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("empty item in allow list {list:?}")]
    EmptyItem { list: String },
    #[error("bad allow item {item:?}: port {port:?} is not a number")]
    NotANumber { item: String, port: String },
    #[error("bad allow item {item:?}: port 0 cannot be allowed (ports are 1-65535)")]
    PortZero { item: String },
    #[error("bad allow item {item:?}: port {port} is above 65535")]
    PortTooLarge { item: String, port: String },
    #[error("bad allow item {item:?}: range {first}-{last} is inverted")]
    InvertedRange { item: String, first: u16, last: u16 },
    #[error(
        "bad allow item {item:?}: unknown protocol {proto:?} (use tcp, udp, udplite, sctp or \
         dccp; ip:NAME for a protocol without ports)"
    )]
    UnknownProto { item: String, proto: String },
    #[error(
        "bad allow item {item:?}: unknown IP protocol {protocol:?} (a number 0-255, or one of \
         esp, gre, ipip, ipv6, vrrp, ospf, pim, l2tp...)"
    )]
    UnknownProtocol { item: String, protocol: String },
    #[error("bad allow item {item:?}: {why}")]
    RefusedProtocol { item: String, why: String },
    #[error("bad allow item {item:?}: {cidr:?} is not an IPv4 or IPv6 network")]
    BadCidr { item: String, cidr: String },
    #[error("bad allow item {item:?}: {cidr} has host bits set (did you mean {network}?)")]
    HostBits {
        item: String,
        cidr: String,
        network: IpNet,
    },
}

/// Parses a comma-separated list such as `22,80,443,8000-8100/tcp,5432@10.0.0.0/8,ip:esp`.
///
/// Every bad item is reported, so one run shows everything to fix.
pub fn parse_list(list: &str) -> Result<Vec<AllowItem>, Vec<SpecError>> {
    each_item(list, |item| parse_item(item, list))
}

/// Parses each comma-separated item of `list` with `parse`: every item, or every error.
pub(super) fn each_item<T, E>(
    list: &str,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<Vec<T>, Vec<E>> {
    let mut items = Vec::new();
    let mut errors = Vec::new();
    for item in list.split(',') {
        match parse(item.trim()) {
            Ok(parsed) => items.push(parsed),
            Err(error) => errors.push(error),
        }
    }
    if errors.is_empty() {
        Ok(items)
    } else {
        Err(errors)
    }
}

/// Parses one item such as `8000-8100/tcp`, `22@2001:db8::/32` or `ip:gre@203.0.113.0/24`.
pub fn parse_item(item: &str, whole_list: &str) -> Result<AllowItem, SpecError> {
    if item.is_empty() {
        return Err(SpecError::EmptyItem {
            list: whole_list.to_owned(),
        });
    }
    // The CIDR has a '/' of its own, so split at '@' first.
    let (head, cidr) = match item.split_once('@') {
        Some((head, cidr)) => (head, Some(cidr)),
        None => (item, None),
    };
    if let Some(protocol) = head
        .get(..3)
        .filter(|p| p.eq_ignore_ascii_case("ip:"))
        .and(head.get(3..))
    {
        let number = parse_protocol(item, protocol)?;
        let source = cidr.map(|cidr| parse_cidr(item, cidr)).transpose()?;
        return Ok(AllowItem::Protocol(ProtocolRule { number, source }));
    }
    let (ports, proto) = match head.split_once('/') {
        Some((ports, proto)) => (ports, Some(parse_proto(item, proto)?)),
        None => (head, None),
    };
    let (first, last) = if let Some((low, high)) = ports.split_once('-') {
        (parse_port(item, low)?, parse_port(item, high)?)
    } else {
        let port = parse_port(item, ports)?;
        (port, port)
    };
    if first > last {
        return Err(SpecError::InvertedRange {
            item: item.to_owned(),
            first,
            last,
        });
    }
    let source = cidr.map(|cidr| parse_cidr(item, cidr)).transpose()?;
    Ok(AllowItem::Ports(AllowRule {
        first,
        last,
        proto,
        source,
    }))
}

fn parse_protocol(item: &str, protocol: &str) -> Result<u8, SpecError> {
    let number = protocols::number(protocol).ok_or_else(|| SpecError::UnknownProtocol {
        item: item.to_owned(),
        protocol: protocol.to_owned(),
    })?;
    match protocols::refusal(number) {
        Some(why) => Err(SpecError::RefusedProtocol {
            item: item.to_owned(),
            why,
        }),
        None => Ok(number),
    }
}

fn parse_port(item: &str, port: &str) -> Result<u16, SpecError> {
    let trimmed = port.trim();
    if trimmed.is_empty() || !trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SpecError::NotANumber {
            item: item.to_owned(),
            port: port.to_owned(),
        });
    }
    match trimmed.parse::<u32>() {
        Ok(0) => Err(SpecError::PortZero {
            item: item.to_owned(),
        }),
        Ok(n) => u16::try_from(n).map_err(|_| SpecError::PortTooLarge {
            item: item.to_owned(),
            port: trimmed.to_owned(),
        }),
        // Only digits, so the only failure is overflow.
        Err(_) => Err(SpecError::PortTooLarge {
            item: item.to_owned(),
            port: trimmed.to_owned(),
        }),
    }
}

fn parse_proto(item: &str, proto: &str) -> Result<Proto, SpecError> {
    Proto::from_name(proto.trim()).ok_or_else(|| SpecError::UnknownProto {
        item: item.to_owned(),
        proto: proto.to_owned(),
    })
}

fn parse_cidr(item: &str, cidr: &str) -> Result<IpNet, SpecError> {
    network(cidr).map_err(|e| match e {
        BadNetwork::Invalid => SpecError::BadCidr {
            item: item.to_owned(),
            cidr: cidr.to_owned(),
        },
        BadNetwork::HostBits { network } => SpecError::HostBits {
            item: item.to_owned(),
            cidr: cidr.to_owned(),
            network,
        },
    })
}

/// Why a text is no network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadNetwork {
    /// Neither an IPv4 or IPv6 address nor a network.
    Invalid,
    /// A network with host bits set; `network` is the one meant, probably.
    HostBits { network: IpNet },
}

/// An IPv4 or IPv6 network (`10.0.0.0/8`), or an address as a host network, with no host
/// bits set: the form allow items and blocks take.
pub fn network(text: &str) -> Result<IpNet, BadNetwork> {
    let net = if text.contains('/') {
        IpNet::from_str(text).map_err(|_| BadNetwork::Invalid)?
    } else {
        IpNet::from(IpAddr::from_str(text).map_err(|_| BadNetwork::Invalid)?)
    };
    if net.trunc() == net {
        Ok(net)
    } else {
        Err(BadNetwork::HostBits {
            network: net.trunc(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(first: u16, last: u16, proto: Option<Proto>, source: Option<&str>) -> AllowItem {
        AllowItem::Ports(AllowRule {
            first,
            last,
            proto,
            source: source.map(|s| s.parse().unwrap()),
        })
    }

    fn protocol(number: u8, source: Option<&str>) -> AllowItem {
        AllowItem::Protocol(ProtocolRule {
            number,
            source: source.map(|s| s.parse().unwrap()),
        })
    }

    #[test]
    fn parses_every_valid_form() {
        let rules = parse_list(
            "22,80, 443,8000-8100/tcp,53/udp,5432@10.0.0.0/8,22@203.0.113.7/32,\
             22@2001:db8::/32,6379/TCP@192.168.1.1,1-65535/udp@::/0,65535,5000/sctp,\
             5300/udplite,6000-6001/dccp@10.0.0.0/8,ip:esp,IP:GRE@203.0.113.0/24,ip:112",
        )
        .unwrap();
        assert_eq!(
            rules,
            vec![
                rule(22, 22, None, None),
                rule(80, 80, None, None),
                rule(443, 443, None, None),
                rule(8000, 8100, Some(Proto::Tcp), None),
                rule(53, 53, Some(Proto::Udp), None),
                rule(5432, 5432, None, Some("10.0.0.0/8")),
                rule(22, 22, None, Some("203.0.113.7/32")),
                rule(22, 22, None, Some("2001:db8::/32")),
                rule(6379, 6379, Some(Proto::Tcp), Some("192.168.1.1/32")),
                rule(1, 65535, Some(Proto::Udp), Some("::/0")),
                rule(65535, 65535, None, None),
                rule(5000, 5000, Some(Proto::Sctp), None),
                rule(5300, 5300, Some(Proto::UdpLite), None),
                rule(6000, 6001, Some(Proto::Dccp), Some("10.0.0.0/8")),
                protocol(50, None),
                protocol(47, Some("203.0.113.0/24")),
                protocol(112, None),
            ]
        );
    }

    #[test]
    fn display_round_trips() {
        for item in [
            "22",
            "8000-8100/tcp",
            "53/udp",
            "5432@10.0.0.0/8",
            "22/tcp@2001:db8::/32",
            "5000/sctp",
            "ip:gre@203.0.113.0/24",
            "ip:253",
        ] {
            assert_eq!(parse_item(item, item).unwrap().to_string(), item);
        }
    }

    #[test]
    fn rejects_every_invalid_form_naming_the_item() {
        let cases: &[(&str, &str)] = &[
            ("0", "port 0"),
            ("65536", "above 65535"),
            ("99999999999999999999", "above 65535"),
            ("100-10", "inverted"),
            ("abc", "not a number"),
            ("-5", "not a number"),
            ("22-", "not a number"),
            ("22/icmp", "unknown protocol"),
            ("22@10.0.0.0/33", "not an IPv4 or IPv6 network"),
            ("22@10.0.0", "not an IPv4 or IPv6 network"),
            ("22@", "not an IPv4 or IPv6 network"),
            ("22@10.0.0.5/8", "host bits set (did you mean 10.0.0.0/8?)"),
            ("22@2001:db8::1/32", "host bits set"),
            ("+22", "not a number"),
            ("ip:warp", "unknown IP protocol"),
            ("ip:256", "unknown IP protocol"),
            ("ip:", "unknown IP protocol"),
            ("ip:tcp", "allow them as PORTS/tcp"),
            ("ip:icmp", "always pass"),
            ("ip:6", "allow them as PORTS/tcp"),
            ("ip:132", "PORTS/sctp"),
            ("ip:1", "always pass"),
            ("ip:58", "always pass"),
            ("ip:44", "extension header"),
            ("ip:51", "AH is walked"),
            ("ip:gre@10.0.0.1/8", "host bits set"),
            ("22/ip", "unknown protocol"),
        ];
        for (item, expected) in cases {
            let errors = parse_list(item).unwrap_err();
            assert_eq!(errors.len(), 1, "{item}");
            let message = errors[0].to_string();
            assert!(message.contains(expected), "{item}: {message}");
            assert!(message.contains(&format!("{item:?}")), "{item}: {message}");
        }
    }

    #[test]
    fn empty_items_are_errors() {
        for list in ["", "22,,80", "22,", ",22", " "] {
            let errors = parse_list(list).unwrap_err();
            assert!(
                errors
                    .iter()
                    .any(|e| matches!(e, SpecError::EmptyItem { .. })),
                "{list:?}"
            );
        }
    }

    #[test]
    fn reports_every_bad_item_at_once() {
        let errors = parse_list("22,0,80,70000,443").unwrap_err();
        assert_eq!(errors.len(), 2);
        assert!(errors[0].to_string().contains("\"0\""));
        assert!(errors[1].to_string().contains("\"70000\""));
    }
}
