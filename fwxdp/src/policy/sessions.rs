//! The SSH sessions established into this host now, as the kernel lists its TCP sockets
//! (`/proc/net/tcp{,6}` of this network namespace): established connections whose socket an
//! `sshd` process holds (the per-session `sshd`, or OpenSSH 9.8's `sshd-session`), which
//! also finds them when systemd holds the listening socket (`ssh.socket`).

use std::{
    collections::BTreeSet,
    fs,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

/// One established inbound SSH connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SshSession {
    pub client: IpAddr,
    /// The server's address it came in to.
    pub local: IpAddr,
    /// The server's port.
    pub port: u16,
}

/// The TCP state `/proc/net/tcp` calls established.
const ESTABLISHED: &str = "01";

/// One row of `/proc/net/tcp{,6}`.
#[derive(Debug, PartialEq, Eq)]
struct Row {
    local: IpAddr,
    local_port: u16,
    remote: IpAddr,
    state: String,
    inode: u64,
}

/// Every established inbound connection an `sshd` process holds. Empty when nothing can be
/// read: the guard then has nothing to protect.
#[must_use]
pub fn established_ssh() -> Vec<SshSession> {
    let inodes = sshd_socket_inodes();
    if inodes.is_empty() {
        return Vec::new();
    }
    let mut sessions: Vec<SshSession> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|path| fs::read_to_string(path).ok())
        .flat_map(|text| {
            text.lines()
                .skip(1)
                .filter_map(parse_row)
                .collect::<Vec<_>>()
        })
        .filter(|r| r.state == ESTABLISHED && inodes.contains(&r.inode))
        .map(|r| SshSession {
            client: canonical(r.remote),
            local: canonical(r.local),
            port: r.local_port,
        })
        .collect();
    sessions.sort();
    sessions.dedup();
    sessions
}

/// An IPv4-mapped IPv6 address (a dual-stack socket's IPv4 peer) as the IPv4 address the
/// filter sees.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    }
}

/// The socket inodes of every process called `sshd` or `sshd-session`.
fn sshd_socket_inodes() -> BTreeSet<u64> {
    crate::process::socket_holders(|name| name.starts_with("sshd"))
        .into_keys()
        .collect()
}

/// Parses `  0: 0100007F:0016 0200007F:C350 01 ... inode ...`.
fn parse_row(line: &str) -> Option<Row> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (local, local_port) = parse_endpoint(fields.get(1)?)?;
    let (remote, _) = parse_endpoint(fields.get(2)?)?;
    Some(Row {
        local,
        local_port,
        remote,
        state: (*fields.get(3)?).to_owned(),
        inode: fields.get(9)?.parse().ok()?,
    })
}

/// `ADDR:PORT` in hex; the address is 32-bit words in host byte order.
fn parse_endpoint(text: &str) -> Option<(IpAddr, u16)> {
    let (addr, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |hex: &str| u32::from_str_radix(hex, 16).ok().map(u32::to_ne_bytes);
    let addr = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(addr)?)),
        32 => {
            let mut octets = [0u8; 16];
            for (i, chunk) in octets.chunks_mut(4).enumerate() {
                chunk.copy_from_slice(&word(addr.get(i * 8..i * 8 + 8)?)?);
            }
            IpAddr::V6(Ipv6Addr::from(octets))
        }
        _ => return None,
    };
    Some((addr, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_endian = "little")]
    fn reads_the_kernels_rows() {
        // Little-endian host: 127.0.0.1:22 from 10.0.0.2:50000, established.
        let row = parse_row(
            "   1: 0100007F:0016 0200000A:C350 01 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 20 4 30 10 -1",
        )
        .expect("row");
        assert_eq!(row.local, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(row.local_port, 22);
        assert_eq!(row.remote, "10.0.0.2".parse::<IpAddr>().unwrap());
        assert_eq!((row.state.as_str(), row.inode), (ESTABLISHED, 4242));
        // ::ffff:10.0.0.2 in a tcp6 row.
        let (mapped, port) =
            parse_endpoint("0000000000000000FFFF00000200000A:0016").expect("endpoint");
        assert_eq!(canonical(mapped), "10.0.0.2".parse::<IpAddr>().unwrap());
        assert_eq!(port, 22);
        assert_eq!(parse_endpoint("zz:16"), None);
    }
}
