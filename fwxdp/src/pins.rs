//! Where an interface's programs, links and maps are pinned, and the bpffs that holds them.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use nix::{
    mount::{MsFlags, mount},
    sys::statfs::{BPF_FS_MAGIC, statfs},
};

/// The default pin root.
pub const DEFAULT_PIN_ROOT: &str = "/sys/fs/bpf/fwxdp";
/// The conventional bpffs mount point, mounted on demand.
const BPFFS: &str = "/sys/fs/bpf";

/// Pin names inside an interface's directory.
pub mod name {
    pub const CONFIG: &str = "config";
    pub const PORTS: &str = "ports";
    pub const CIDRS: &str = "cidrs";
    pub const REASONS: &str = "reasons";
    pub const PORT_DROPS: &str = "port_drops";
    pub const PORT_OVERFLOW: &str = "port_overflow";
    pub const UDP_FLOWS: &str = "udp_flows";
    /// The verdict for XDP (native or generic).
    pub const PROG_XDP: &str = "prog_xdp";
    /// The same verdict as a TC ingress classifier.
    pub const PROG_TC_INGRESS: &str = "prog_tc_ingress";
    /// The egress UDP flow tracker.
    pub const PROG_EGRESS: &str = "prog_egress";
    /// The link that attaches the verdict in the mode in force.
    pub const LINK_INGRESS: &str = "link_ingress";
    /// A second ingress link, held only while the mode changes.
    pub const LINK_BRIDGE: &str = "link_bridge";
    pub const LINK_EGRESS: &str = "link_egress";

    /// Names earlier builds pinned, which `detach` may still remove.
    pub const RETIRED: [&str; 1] = ["prog_ingress"];

    /// Every name fwxdp pins; nothing else is ever removed from an interface directory.
    pub const ALL: [&str; 13] = [
        CONFIG,
        PORTS,
        CIDRS,
        REASONS,
        PORT_DROPS,
        PORT_OVERFLOW,
        UDP_FLOWS,
        PROG_XDP,
        PROG_TC_INGRESS,
        PROG_EGRESS,
        LINK_INGRESS,
        LINK_BRIDGE,
        LINK_EGRESS,
    ];
}

#[derive(Debug, thiserror::Error)]
pub enum PinError {
    #[error("pin root {path} is not on a bpf filesystem")]
    NotBpffs { path: PathBuf },
    #[error("{path} holds {name:?}, which fwxdp did not pin: not removing it")]
    NotOurs { path: PathBuf, name: String },
    #[error("cannot mount a bpf filesystem at {BPFFS}")]
    Mount { source: nix::Error },
    #[error("cannot {action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

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

    /// The directory of `iface`'s pins.
    #[must_use]
    pub fn iface_dir(&self, iface: &str) -> PathBuf {
        self.root.join(encode(iface))
    }

    /// A scratch directory to build `iface`'s pins in before they are renamed into place.
    #[must_use]
    pub fn staging_dir(&self, iface: &str) -> PathBuf {
        self.root.join(format!(
            "{STAGING_PREFIX}{}:{}",
            std::process::id(),
            encode(iface)
        ))
    }

    /// Staging directories present under the root.
    #[must_use]
    pub fn staging_dirs(&self) -> Vec<PathBuf> {
        fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(STAGING_PREFIX))
            .map(|e| e.path())
            .collect()
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
                mount(
                    Some("bpffs"),
                    BPFFS,
                    Some("bpf"),
                    MsFlags::empty(),
                    None::<&str>,
                )
                .map_err(|source| PinError::Mount { source })?;
            } else {
                return Err(PinError::NotBpffs {
                    path: self.root.clone(),
                });
            }
        }
        fs::create_dir_all(&self.root).map_err(|source| PinError::Io {
            action: "create",
            path: self.root.clone(),
            source,
        })
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

    /// The interfaces that have pins, sorted by name. Empty when the root does not exist.
    pub fn interfaces(&self) -> Result<Vec<String>, PinError> {
        let entries = match fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(PinError::Io {
                    action: "read",
                    path: self.root.clone(),
                    source,
                });
            }
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| !name.starts_with(STAGING_PREFIX))
            .map(|name| decode(&name))
            .collect();
        names.sort();
        Ok(names)
    }
}

impl Default for PinRoot {
    fn default() -> Self {
        Self::new(DEFAULT_PIN_ROOT)
    }
}

/// Prefix of staging directories; ':' cannot appear in an interface name.
const STAGING_PREFIX: &str = "staging:";

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

fn is_bpffs(path: &Path) -> bool {
    statfs(path).is_ok_and(|s| s.filesystem_type() == BPF_FS_MAGIC)
}

/// Removes a directory of pins: the names fwxdp pins, then the directory, refusing anything
/// else it finds. Removing a pin only drops the file's reference: a link that is still open
/// elsewhere stays attached.
pub fn remove_dir(dir: &Path) -> Result<(), PinError> {
    let io_error = |action, path: &Path, source| PinError::Io {
        action,
        path: path.to_owned(),
        source,
    };
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_error("read", dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| io_error("read", dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name::ALL.contains(&name.as_str()) && !name::RETIRED.contains(&name.as_str()) {
            return Err(PinError::NotOurs {
                path: dir.to_owned(),
                name,
            });
        }
        fs::remove_file(entry.path()).map_err(|e| io_error("remove", &entry.path(), e))?;
    }
    fs::remove_dir(dir).map_err(|e| io_error("remove", dir, e))
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
