//! Processes, read from `/proc`: this process's ancestors (where the SSH session a command
//! runs in, or the mount namespace it was started from, is found), and which processes hold
//! which sockets.

use std::collections::BTreeMap;

/// A process that holds a socket.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Holder {
    pub pid: u32,
    /// Its command name (`comm`).
    pub name: String,
}

/// The processes that hold each socket, by the socket's inode, among the processes whose
/// command name `wanted` accepts. Processes that end or cannot be read meanwhile are left
/// out.
pub fn socket_holders(wanted: impl Fn(&str) -> bool) -> BTreeMap<u64, Vec<Holder>> {
    let mut holders: BTreeMap<u64, Vec<Holder>> = BTreeMap::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return holders;
    };
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let path = entry.path();
        let Ok(comm) = std::fs::read_to_string(path.join("comm")) else {
            continue;
        };
        let name = comm.trim_end().to_owned();
        if !wanted(&name) {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(path.join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            if let Some(inode) = target
                .to_string_lossy()
                .strip_prefix("socket:[")
                .and_then(|rest| rest.strip_suffix(']'))
                .and_then(|n| n.parse().ok())
            {
                let list = holders.entry(inode).or_default();
                let holder = Holder {
                    pid,
                    name: name.clone(),
                };
                if !list.contains(&holder) {
                    list.push(holder);
                }
            }
        }
    }
    holders
}

/// The ancestors of this process, nearest first, up to but not including PID 1. Bounded:
/// a process tree is never this deep, and a walk must end.
pub fn ancestors() -> impl Iterator<Item = u32> {
    let mut next = Some(std::os::unix::process::parent_id());
    std::iter::from_fn(move || {
        let pid = next.take().filter(|&pid| pid > 1)?;
        next = parent_of(pid);
        Some(pid)
    })
    .take(64)
}

/// The parent of `pid`, from `/proc/<pid>/stat` (the field after the command's closing ')').
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_nearest_ancestor_is_the_parent() {
        let parent = std::os::unix::process::parent_id();
        let first = super::ancestors().next();
        assert!(
            parent <= 1 || first == Some(parent),
            "{first:?} vs {parent}"
        );
        assert!(super::ancestors().count() <= 64);
    }
}
