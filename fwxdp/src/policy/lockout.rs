//! The SSH lock-out guard: a policy change must not refuse new logins over the SSH session
//! that makes it, a remote operator's most expensive mistake.

use std::net::IpAddr;

use fwxdp_common::Proto;
use ipnet::IpNet;

use super::Policy;

/// The policy would refuse new logins over the SSH session running this command.
#[derive(Debug, thiserror::Error)]
#[error(
    "this SSH session came in on TCP port {port} from {client}, which the allow list does not \
     open: new SSH logins would be refused. Add {port} to --allow, or pass --force"
)]
pub struct LockoutError {
    /// The server's port the session came in on.
    pub port: u16,
    /// The client's address.
    pub client: IpAddr,
}

/// Refuses a policy that would lock out new logins over the SSH session running this
/// process (found in `SSH_CONNECTION`, or its nearest ancestor's). Outside SSH, or when the
/// variable cannot be read, there is nothing to guard.
pub fn check(policy: &Policy) -> Result<(), LockoutError> {
    let Some((client, port)) = ssh_connection().as_deref().and_then(parse_connection) else {
        return Ok(());
    };
    if policy.admits(Proto::Tcp, port, client) {
        return Ok(());
    }
    Err(LockoutError { port, client })
}

/// A block would cut off the SSH session running this command: a block drops every packet
/// from its sources, those of established connections too.
#[derive(Debug, thiserror::Error)]
#[error(
    "this SSH session comes from {client}, which {net} holds: the block would drop this \
     session and every new login from there. Leave it out, or pass --force"
)]
pub struct BlockLockoutError {
    pub client: IpAddr,
    pub net: IpNet,
}

/// Refuses blocking a network that holds the client of the SSH session running this
/// process. Outside SSH there is nothing to guard.
pub fn check_block(nets: &[IpNet]) -> Result<(), BlockLockoutError> {
    let Some((client, _)) = ssh_connection().as_deref().and_then(parse_connection) else {
        return Ok(());
    };
    match nets.iter().find(|net| net.contains(&client)) {
        Some(&net) => Err(BlockLockoutError { client, net }),
        None => Ok(()),
    }
}

/// The client address and server port of `SSH_CONNECTION` (`client cport server sport`).
fn parse_connection(connection: &str) -> Option<(IpAddr, u16)> {
    let mut fields = connection.split_whitespace();
    let (Some(client), Some(_), Some(_), Some(port)) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return None;
    };
    // An IPv4 client of a dual-stack sshd may be written as `::ffff:a.b.c.d`.
    // A link-local client comes with its zone (`fe80::1%eth0`), which is not an address.
    let client = client.split('%').next()?;
    let client = client.parse::<IpAddr>().ok()?.to_canonical();
    Some((client, port.parse().ok()?))
}

/// `SSH_CONNECTION` of this process or, as sudo's `env_reset` removes it, of the nearest
/// ancestor that has it.
fn ssh_connection() -> Option<String> {
    if let Ok(connection) = std::env::var("SSH_CONNECTION") {
        return Some(connection);
    }
    crate::process::ancestors().find_map(|pid| {
        let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
        environ
            .split(|b| *b == 0)
            .find_map(|var| var.strip_prefix(b"SSH_CONNECTION="))
            .map(|value| String::from_utf8_lossy(value).into_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::parse_connection;

    #[test]
    fn reads_client_and_server_port() {
        assert_eq!(
            parse_connection("203.0.113.9 51234 198.51.100.1 2222"),
            Some(("203.0.113.9".parse().unwrap(), 2222))
        );
        assert_eq!(
            parse_connection("2001:db8::9 51234 2001:db8::1 22"),
            Some(("2001:db8::9".parse().unwrap(), 22))
        );
        assert_eq!(
            parse_connection("::ffff:203.0.113.9 51234 ::ffff:198.51.100.1 22"),
            Some(("203.0.113.9".parse().unwrap(), 22))
        );
        assert_eq!(
            parse_connection("fe80::9%eth0 51234 fe80::1%eth0 22"),
            Some(("fe80::9".parse().unwrap(), 22))
        );
        assert_eq!(parse_connection("203.0.113.9 51234"), None);
        assert_eq!(parse_connection("nonsense 1 2 port"), None);
    }
}
