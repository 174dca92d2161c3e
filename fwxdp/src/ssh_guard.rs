//! The SSH lock-out guard: `attach` refuses an allow list that would refuse new logins over
//! the SSH session it runs in.

use std::net::IpAddr;

use anyhow::Result;
use fwxdp::policy::Policy;
use fwxdp_common::Proto;

use crate::commands::UsageError;

/// Refuses a policy that would lock out new logins over the SSH session running this
/// command: a remote operator's most expensive mistake.
pub(crate) fn check(policy: &Policy) -> Result<()> {
    let Some(connection) = ssh_connection() else {
        return Ok(());
    };
    let mut fields = connection.split_whitespace();
    let (Some(client), Some(_), Some(_), Some(port)) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Ok(());
    };
    let (Ok(client), Ok(port)) = (client.parse::<IpAddr>(), port.parse::<u16>()) else {
        return Ok(());
    };
    if policy.admits(Proto::Tcp, port, client) {
        return Ok(());
    }
    Err(UsageError(format!(
        "this SSH session came in on TCP port {port} from {client}, which the allow list does \
         not open: new SSH logins would be refused. Add {port} to --allow, or pass --force"
    ))
    .into())
}

/// `SSH_CONNECTION` of this process or, as sudo's `env_reset` removes it, of the nearest
/// ancestor that has it.
fn ssh_connection() -> Option<String> {
    if let Ok(connection) = std::env::var("SSH_CONNECTION") {
        return Some(connection);
    }
    let mut pid = std::os::unix::process::parent_id();
    // Bounded: a process tree is never this deep, and a loop must end.
    for _ in 0..64 {
        if pid <= 1 {
            return None;
        }
        if let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) {
            let found = environ
                .split(|b| *b == 0)
                .find_map(|var| var.strip_prefix(b"SSH_CONNECTION="))
                .map(|value| String::from_utf8_lossy(value).into_owned());
            if found.is_some() {
                return found;
            }
        }
        pid = parent_of(pid)?;
    }
    None
}

/// The parent of `pid`, from `/proc/<pid>/stat` (the field after the command's closing ')').
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}
