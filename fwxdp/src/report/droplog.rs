//! A drop-log entry as people and tools read it: a line in the key=value style of an
//! iptables LOG line, behind a fixed prefix (`fwxdp DROP IN=eth0 SRC=... DST=... PROTO=TCP
//! SPT=... DPT=... SYN REASON=port`), and the same as JSON.

use std::fmt::Write as _;

use fwxdp_common::{Proto, TCP_FLAG_ACK, TCP_FLAG_SYN, ip_protocol};
use serde_json::{Value, json};

use crate::{policy::protocols, state::DropEntry};

/// What every drop-log line starts with, for filters (fail2ban's `failregex`) to anchor on.
pub const PREFIX: &str = "fwxdp DROP";

/// The protocol's name as iptables writes it.
fn protocol(number: u8) -> String {
    match number {
        ip_protocol::ICMP => "ICMP".to_owned(),
        ip_protocol::ICMPV6 => "ICMPv6".to_owned(),
        ip_protocol::IGMP => "IGMP".to_owned(),
        n => match Proto::from_ip_protocol(n) {
            Some(proto) => proto.name().to_uppercase(),
            None => protocols::name(n).to_uppercase(),
        },
    }
}

fn has_ports(number: u8) -> bool {
    Proto::from_ip_protocol(number).is_some()
}

fn flags(d: &DropEntry) -> Vec<&'static str> {
    let mut flags = Vec::new();
    if d.tcp_flags & TCP_FLAG_SYN != 0 {
        flags.push("SYN");
    }
    if d.tcp_flags & TCP_FLAG_ACK != 0 {
        flags.push("ACK");
    }
    flags
}

/// The entry as one log line.
#[must_use]
pub fn line(d: &DropEntry) -> String {
    let addr = |a: Option<std::net::IpAddr>| a.map(|a| a.to_string()).unwrap_or_default();
    let mut out = format!(
        "{PREFIX} IN={} SRC={} DST={} LEN={}",
        d.interface,
        addr(d.src),
        addr(d.dst),
        d.len
    );
    if d.src.is_some() {
        let _ = write!(out, " PROTO={}", protocol(d.protocol));
        if has_ports(d.protocol) {
            let _ = write!(out, " SPT={} DPT={}", d.src_port, d.dst_port);
        }
    }
    for flag in flags(d) {
        let _ = write!(out, " {flag}");
    }
    let _ = write!(out, " REASON={}", d.reason.name());
    out
}

/// The entry as JSON, with its line.
#[must_use]
pub fn json(d: &DropEntry) -> Value {
    let ports = d.src.is_some() && has_ports(d.protocol);
    json!({
        "time": humantime::format_rfc3339_millis(d.time).to_string(),
        "interface": d.interface,
        "reason": d.reason.name(),
        "protocol": d.src.map(|_| protocol(d.protocol).to_lowercase()),
        "protocol_number": d.protocol,
        "src": d.src.map(|a| a.to_string()),
        "dst": d.dst.map(|a| a.to_string()),
        "src_port": ports.then_some(d.src_port),
        "dst_port": ports.then_some(d.dst_port),
        "len": d.len,
        "flags": flags(d),
        "line": line(d),
    })
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use fwxdp_common::Reason;

    use super::*;

    fn entry(protocol: u8, src: Option<&str>) -> DropEntry {
        DropEntry {
            interface: "eth0".into(),
            time: UNIX_EPOCH,
            reason: Reason::Port,
            src: src.map(|s| s.parse().unwrap()),
            dst: src.map(|_| "198.51.100.1".parse().unwrap()),
            protocol,
            src_port: 40_000,
            dst_port: 3306,
            tcp_flags: TCP_FLAG_SYN,
            len: 60,
        }
    }

    #[test]
    fn lines_read_like_iptables_log_lines() {
        assert_eq!(
            line(&entry(6, Some("203.0.113.7"))),
            "fwxdp DROP IN=eth0 SRC=203.0.113.7 DST=198.51.100.1 LEN=60 PROTO=TCP SPT=40000 \
             DPT=3306 SYN REASON=port"
        );
        let mut gre = entry(47, Some("203.0.113.7"));
        gre.tcp_flags = 0;
        gre.reason = Reason::Protocol;
        assert_eq!(
            line(&gre),
            "fwxdp DROP IN=eth0 SRC=203.0.113.7 DST=198.51.100.1 LEN=60 PROTO=GRE REASON=protocol"
        );
        let mut bad = entry(0, None);
        bad.tcp_flags = 0;
        bad.reason = Reason::Malformed;
        assert_eq!(
            line(&bad),
            "fwxdp DROP IN=eth0 SRC= DST= LEN=60 REASON=malformed"
        );
        let json = json(&entry(17, Some("2001:db8::7")));
        assert_eq!(json["protocol"], "udp");
        assert_eq!(json["src"], "2001:db8::7");
        assert_eq!(json["dst_port"], 3306);
        assert_eq!(json["time"], "1970-01-01T00:00:00.000Z");
    }
}
