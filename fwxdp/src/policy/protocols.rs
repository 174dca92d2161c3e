//! IP protocols without ports, as allow items name them (`ip:gre`, `ip:47`): the names
//! fwxdp knows, and the numbers an `ip:` item cannot take because the verdict treats them
//! otherwise.

use fwxdp_common::{Proto, ip_protocol};

/// Names of protocols a server meets (as in /etc/protocols, lowercase) → number.
const NAMES: &[(&str, u8)] = &[
    ("ipip", 4),
    ("ipv4", 4),
    ("egp", 8),
    ("ipv6", 41),
    ("rsvp", 46),
    ("gre", 47),
    ("esp", 50),
    ("ipv6-nonxt", 59),
    ("eigrp", 88),
    ("ospf", 89),
    ("etherip", 97),
    ("pim", 103),
    ("ipcomp", 108),
    ("vrrp", 112),
    ("l2tp", 115),
    ("isis", 124),
    ("mpls-in-ip", 137),
];

/// Names an `ip:` item may use only to be told why it is refused.
const REFUSED_NAMES: &[(&str, u8)] = &[
    ("hopopt", 0),
    ("icmp", 1),
    ("igmp", 2),
    ("tcp", 6),
    ("udp", 17),
    ("dccp", 33),
    ("ipv6-route", 43),
    ("ipv6-frag", 44),
    ("ah", 51),
    ("icmpv6", 58),
    ("ipv6-icmp", 58),
    ("ipv6-opts", 60),
    ("sctp", 132),
    ("udplite", 136),
];

/// Why `ip:<number>` is refused, when it is.
#[must_use]
pub fn refusal(number: u8) -> Option<String> {
    if let Some(proto) = Proto::from_ip_protocol(number) {
        let name = proto.name();
        return Some(format!(
            "{name} has ports: allow them as PORTS/{name} (for example 5000/{name})"
        ));
    }
    match number {
        ip_protocol::ICMP | ip_protocol::ICMPV6 | ip_protocol::IGMP => Some(
            "ICMP and IGMP in IPv4 and ICMPv6 in IPv6 always pass (neighbour discovery, path \
             MTU and multicast need them)"
                .to_owned(),
        ),
        0 | 43 | 44 | 60 => {
            Some("an IPv6 extension header is walked, and the protocol after it judged".to_owned())
        }
        51 => Some("AH is walked, and the protocol it carries judged".to_owned()),
        _ => None,
    }
}

/// The number of a protocol named `name` (a name of [`NAMES`] or a number), lowercase.
#[must_use]
pub fn number(name: &str) -> Option<u8> {
    let name = name.trim().to_ascii_lowercase();
    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
        return name.parse().ok();
    }
    NAMES
        .iter()
        .chain(REFUSED_NAMES)
        .find(|(n, _)| *n == name)
        .map(|&(_, number)| number)
}

/// The name an allow item shows for `number`: its first name in [`NAMES`], else the number.
#[must_use]
pub fn name(number: u8) -> String {
    NAMES
        .iter()
        .find(|&&(_, n)| n == number)
        .map_or_else(|| number.to_string(), |(name, _)| (*name).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_round_trip() {
        for &(name, n) in NAMES {
            assert_eq!(number(name), Some(n));
            assert_eq!(number(&self::name(n)), Some(n));
            assert!(refusal(n).is_none(), "{name}");
        }
        assert_eq!(number("GRE"), Some(47));
        assert_eq!(number("253"), Some(253));
        assert_eq!(number("256"), None);
        assert_eq!(number("warp"), None);
        assert_eq!(name(253), "253");
    }

    #[test]
    fn protocols_the_verdict_treats_otherwise_are_refused() {
        for &(name, n) in REFUSED_NAMES {
            assert_eq!(number(name), Some(n));
            assert!(refusal(n).is_some(), "{name}");
        }
    }
}
