//! The pin root: the directory on a bpffs that holds one pin directory per attached
//! interface (and, while an attach runs, its staging directory).

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use nix::{
    mount::{MsFlags, mount},
    sys::statfs::{BPF_FS_MAGIC, statfs},
};

use super::{
    names::LinkPin,
    pins::{PinDir, PinError},
};

/// The default pin root.
pub const DEFAULT_PIN_ROOT: &str = "/sys/fs/bpf/fwxdp";
/// The conventional bpffs mount point, mounted on demand.
const BPFFS: &str = "/sys/fs/bpf";

/// The pins of the blocklist a pin root's interfaces share: the trie, and the counts of its
/// entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockPins {
    pub trie: PathBuf,
    pub counts: PathBuf,
}

/// Prefix of staging directories; ':' cannot appear in an interface name.
const STAGING_PREFIX: &str = "staging:";
/// Prefix of the directory an interface's pins of another layout are upgraded into.
const UPGRADE_PREFIX: &str = "upgrade:";
/// Prefix of an upgraded interface's old pins, moved aside in one rename to be removed.
const RETIRED_PREFIX: &str = "retired:";

/// The directory under which each attached interface has a directory of pins.
#[derive(Clone, Debug)]
pub struct PinRoot {
    root: PathBuf,
}

impl PinRoot {
    /// A pin root at `root`; nothing is created yet.
    #[must_use]
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The root directory.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Where the blocklist every interface shares is pinned. ':' cannot appear in an
    /// interface name, so no interface's directory can take these names.
    #[must_use]
    pub fn block_pins(&self) -> BlockPins {
        BlockPins {
            trie: self.root.join("global:blocks"),
            counts: self.root.join("global:block-counts"),
        }
    }

    /// The directory of `iface`'s pins.
    #[must_use]
    pub fn iface_dir(&self, iface: &str) -> PinDir {
        PinDir::new(self.root.join(encode(iface)))
    }

    /// A scratch directory to build `iface`'s pins in before they are renamed into place.
    #[must_use]
    pub fn staging_dir(&self, iface: &str) -> PinDir {
        PinDir::new(self.root.join(format!(
            "{STAGING_PREFIX}{}:{}",
            std::process::id(),
            encode(iface)
        )))
    }

    /// Where `iface`'s pins of another layout are upgraded into: a whole instance of this
    /// layout, which takes over the old pins' links one by one (see `attach::upgrade`).
    #[must_use]
    pub fn upgrade_dir(&self, iface: &str) -> PinDir {
        PinDir::new(self.root.join(format!("{UPGRADE_PREFIX}{}", encode(iface))))
    }

    /// Where `iface`'s old pins go once an upgrade took every link over: out of the way in one
    /// rename, so that no command ever finds them half removed.
    #[must_use]
    pub fn retired_dir(&self, iface: &str) -> PinDir {
        PinDir::new(self.root.join(format!("{RETIRED_PREFIX}{}", encode(iface))))
    }

    /// Staging directories present under the root, with the interface each was for.
    #[must_use]
    pub fn staging_dirs(&self) -> Vec<(String, PinDir)> {
        fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let rest = name.strip_prefix(STAGING_PREFIX)?;
                let (_, iface) = rest.split_once(':')?;
                Some((decode(iface), PinDir::new(e.path())))
            })
            .collect()
    }

    /// Settles what attaches killed midway left in staging directories, and the old pins of
    /// upgrades (under the state lock no attach is in progress, so every one is a leftover). One that holds an
    /// ingress link is a whole filter, mode included: it is renamed into place, where the
    /// next step finds it as attached, so nothing that filters is removed or left
    /// invisible. Every other one is removed, links detached.
    pub fn sweep_staging(&self) -> Result<(), PinError> {
        for (iface, dir) in self.staging_dirs() {
            // A filter made but not recorded is recorded first: an ingress one filters, and
            // makes the directory a whole filter to take over.
            dir.adopt_unrecorded_filters()?;
            let dest = self.iface_dir(&iface);
            if dir.holds(LinkPin::Ingress) && !dest.exists() {
                fs::rename(dir.path(), dest.path())
                    .map_err(|e| PinError::io("rename", dir.path(), e))?;
            } else {
                dir.remove()?;
            }
        }
        // Old pins an upgrade moved aside once every link they held was handed over (an
        // unrecorded filter was recorded first, so it was handed over too).
        for entry in fs::read_dir(&self.root).into_iter().flatten().flatten() {
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(RETIRED_PREFIX)
            {
                PinDir::new(entry.path()).remove()?;
            }
        }
        Ok(())
    }

    /// Makes sure the root exists on a bpffs, mounting one at /sys/fs/bpf when the root is
    /// below it and nothing is mounted there.
    pub fn ensure(&self) -> Result<(), PinError> {
        if !is_bpffs(nearest_existing(&self.root)) {
            // A service's mounts stay in its own namespace and die with it, pins and all.
            if std::env::var_os("INVOCATION_ID").is_some() {
                return Err(PinError::NotBpffs {
                    path: self.root.clone(),
                });
            }
            if self.root.starts_with(BPFFS) && !is_bpffs(Path::new(BPFFS)) {
                // `ip netns exec` runs commands in a mount namespace of their own (with a
                // fresh /sys): a bpffs mounted there dies with the command, filter and all.
                if private_mount_namespace() {
                    return Err(PinError::PrivateMounts {
                        path: PathBuf::from(BPFFS),
                    });
                }
                mount(
                    Some("bpffs"),
                    BPFFS,
                    Some("bpf"),
                    MsFlags::empty(),
                    None::<&str>,
                )
                .map_err(|source| PinError::Mount {
                    path: PathBuf::from(BPFFS),
                    source,
                })?;
            } else {
                return Err(PinError::NotBpffs {
                    path: self.root.clone(),
                });
            }
        }
        fs::create_dir_all(&self.root).map_err(|e| PinError::io("create", &self.root, e))
    }

    /// Checks that the root, if it exists, is on a bpffs: commands that only read or remove
    /// pins must never work on some other directory.
    pub fn verify(&self) -> Result<(), PinError> {
        if self.root.exists() && !is_bpffs(&self.root) {
            return Err(PinError::NotBpffs {
                path: self.root.clone(),
            });
        }
        Ok(())
    }

    /// The interfaces that have pins (of an upgrade too), sorted by name. Empty when the root
    /// does not exist.
    pub fn interfaces(&self) -> Result<Vec<String>, PinError> {
        let entries = match fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(PinError::io("read", &self.root, e)),
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| !name.starts_with(STAGING_PREFIX) && !name.starts_with(RETIRED_PREFIX))
            .map(|name| decode(name.strip_prefix(UPGRADE_PREFIX).unwrap_or(&name)))
            .collect();
        names.sort();
        // An upgrade interrupted after the old pins were removed leaves only its own.
        names.dedup();
        Ok(names)
    }
}

impl Default for PinRoot {
    fn default() -> Self {
        Self::new(DEFAULT_PIN_ROOT)
    }
}

/// bpffs refuses names that contain '.', which interface names may (`eth0.100`).
fn encode(iface: &str) -> String {
    iface.replace('%', "%25").replace('.', "%2e")
}

fn decode(name: &str) -> String {
    name.replace("%2e", ".").replace("%25", "%")
}

fn nearest_existing(path: &Path) -> &Path {
    path.ancestors()
        .find(|p| p.exists())
        .unwrap_or(Path::new("/"))
}

/// Whether this process's mount namespace is one of its own: not PID 1's (the host's, or
/// the container's), or, where PID 1's cannot be read, not that of some ancestor.
fn private_mount_namespace() -> bool {
    let Ok(own) = fs::read_link("/proc/self/ns/mnt") else {
        return false;
    };
    if let Ok(init) = fs::read_link("/proc/1/ns/mnt") {
        return own != init;
    }
    crate::process::ancestors()
        .any(|pid| fs::read_link(format!("/proc/{pid}/ns/mnt")).is_ok_and(|theirs| theirs != own))
}

fn is_bpffs(path: &Path) -> bool {
    statfs(path).is_ok_and(|s| s.filesystem_type() == BPF_FS_MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_names_have_no_dots_and_round_trip() {
        for iface in ["eth0", "eth0.100", "a%2eb", "%", "br-1.2.3"] {
            let encoded = encode(iface);
            assert!(!encoded.contains('.'), "{encoded}");
            assert_eq!(decode(&encoded), iface);
        }
    }
}
