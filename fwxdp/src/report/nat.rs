//! Ports published by NAT: the DNAT and REDIRECT rules of the nat table (Docker's `-p`,
//! hand-written port forwards), read from `iptables-save -t nat` and `ip6tables-save -t
//! nat`, which list the rules of iptables-nft (nftables) or iptables-legacy, whichever the
//! host's iptables is. The filter judges such a packet by the port it arrives for, before
//! the rule rewrites it.

use std::{net::IpAddr, process::Command};

use ipnet::IpNet;

use crate::netlink::sockets::SocketProto;

/// One published port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    pub proto: SocketProto,
    pub port: u16,
    /// `false` for IPv4 (`iptables`), `true` for IPv6 (`ip6tables`).
    pub ipv6: bool,
    /// `-d`: only to this destination.
    pub destination: Option<IpNet>,
    /// `-i`: only coming in on this interface; `! -i`: on any but this one.
    pub in_iface: Option<(bool, String)>,
    /// Where it goes (`--to-destination`, `--to-ports`).
    pub to: String,
}

impl Published {
    /// Whether a packet coming in on `iface` can take this rule.
    #[must_use]
    pub fn applies_on(&self, iface: &str) -> bool {
        match &self.in_iface {
            None => true,
            Some((true, name)) => name == iface,
            Some((false, name)) => name != iface,
        }
    }

    /// Whether only packets to a loopback address take it.
    #[must_use]
    pub fn loopback_only(&self) -> bool {
        self.destination.is_some_and(|d| d.addr().is_loopback())
    }
}

/// The ports published in the IPv4 and IPv6 nat tables, and why a table could not be read.
#[must_use]
pub fn published() -> (Vec<Published>, Vec<String>) {
    let mut all = Vec::new();
    let mut problems = Vec::new();
    for (program, ipv6) in [("iptables-save", false), ("ip6tables-save", true)] {
        match Command::new(program).args(["-t", "nat"]).output() {
            Ok(out) if out.status.success() => {
                all.extend(parse(&String::from_utf8_lossy(&out.stdout), ipv6));
            }
            Ok(out) => problems.push(format!(
                "{program} -t nat failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Err(e) => problems.push(format!("cannot run {program}: {e}")),
        }
    }
    (all, problems)
}

/// The published ports of one `iptables-save` text.
#[must_use]
pub fn parse(text: &str, ipv6: bool) -> Vec<Published> {
    let mut all = Vec::new();
    let mut table_nat = false;
    for line in text.lines() {
        let line = line.trim();
        if let Some(table) = line.strip_prefix('*') {
            table_nat = table == "nat";
            continue;
        }
        if table_nat && line.starts_with("-A ") {
            all.extend(rule(line, ipv6));
        }
    }
    all
}

/// The ports one `-A CHAIN ...` rule publishes, if it is a DNAT or REDIRECT rule.
fn rule(line: &str, ipv6: bool) -> Vec<Published> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let value = |flag: &str| -> Option<(bool, &str)> {
        let at = words.iter().position(|w| *w == flag)?;
        let negated = at > 0 && words[at - 1] == "!";
        words.get(at + 1).map(|v| (negated, *v))
    };
    let Some((_, target)) = value("-j") else {
        return Vec::new();
    };
    if target != "DNAT" && target != "REDIRECT" {
        return Vec::new();
    }
    let protos = match value("-p") {
        Some((false, "tcp")) => vec![SocketProto::Tcp],
        Some((false, "udp")) => vec![SocketProto::Udp],
        // No port to match without a protocol: such a rule forwards whole addresses, which
        // the audit does not list (README).
        _ => return Vec::new(),
    };
    let mut ports: Vec<u16> = Vec::new();
    if let Some((false, spec)) = value("--dport") {
        ports.extend(range(spec));
    }
    if let Some((false, spec)) = value("--dports") {
        for part in spec.split(',') {
            ports.extend(range(part));
        }
    }
    let destination = value("-d")
        .filter(|(negated, _)| !negated)
        .and_then(|(_, d)| {
            d.parse::<IpNet>()
                .ok()
                .or_else(|| d.parse::<IpAddr>().ok().map(IpNet::from))
        });
    let in_iface = value("-i").map(|(negated, name)| (!negated, name.to_owned()));
    let to = value("--to-destination")
        .or_else(|| value("--to-ports"))
        .map_or_else(String::new, |(_, to)| to.to_owned());
    let mut all = Vec::new();
    for proto in protos {
        for &port in &ports {
            all.push(Published {
                proto,
                port,
                ipv6,
                destination,
                in_iface: in_iface.clone(),
                to: to.clone(),
            });
        }
    }
    all
}

/// `80` or `8000:8010`; at most 1,024 ports of a range are listed.
fn range(spec: &str) -> Vec<u16> {
    let (first, last) = spec.split_once(':').unwrap_or((spec, spec));
    match (first.parse::<u16>(), last.parse::<u16>()) {
        (Ok(first), Ok(last)) if first <= last => (first..=last).take(1024).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_dockers_rules_and_hand_written_forwards() {
        let text = "*filter\n-A INPUT -p tcp --dport 22 -j DNAT --to-destination 1.2.3.4\nCOMMIT\n\
                    *nat\n:DOCKER - [0:0]\n\
                    -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER\n\
                    -A DOCKER ! -i docker0 -p tcp -m tcp --dport 8000 -j DNAT --to-destination 172.17.0.2:8000\n\
                    -A DOCKER -d 127.0.0.1/32 ! -i docker0 -p tcp -m tcp --dport 5432 -j DNAT --to-destination 172.17.0.3:5432\n\
                    -A PREROUTING -i eth1 -p udp -m multiport --dports 53,6000:6001 -j REDIRECT --to-ports 5353\n\
                    COMMIT\n";
        let all = parse(text, false);
        assert_eq!(all.len(), 5, "{all:?}");
        assert_eq!((all[0].port, all[0].proto), (8000, SocketProto::Tcp));
        assert!(all[0].applies_on("eth0") && !all[0].applies_on("docker0"));
        assert_eq!(all[0].to, "172.17.0.2:8000");
        assert!(all[1].loopback_only());
        let udp: Vec<u16> = all[2..].iter().map(|p| p.port).collect();
        assert_eq!(udp, [53, 6000, 6001]);
        assert!(all[2].applies_on("eth1") && !all[2].applies_on("eth0"));
        assert_eq!(all[2].to, "5353");
    }
}
