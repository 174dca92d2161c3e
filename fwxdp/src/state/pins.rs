//! A directory of pins (an interface's, or a staging one): where each map, program and link
//! is pinned, and removal that touches only what fwxdp pins. Its links are in [`super::links`].

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use aya::programs::{links::LinkError, tc::TcError};

use super::names::{self, LinkPin, MapPin, ProgramPin};

#[derive(Debug, thiserror::Error)]
pub enum PinError {
    #[error("pin root {path} is not on a bpf filesystem")]
    NotBpffs { path: PathBuf },
    #[error("{path} holds {name:?}, which fwxdp did not pin: not removing it")]
    NotOurs { path: PathBuf, name: String },
    #[error(
        "{path} has no bpf filesystem in this command's own mount namespace (`ip netns exec` \
         makes one): pins made here would vanish, filter and all, when the command exits; \
         run it as `nsenter --net=/run/netns/NAME fwxdp ...` instead"
    )]
    PrivateMounts { path: PathBuf },
    #[error("cannot mount a bpf filesystem at {path}")]
    Mount { path: PathBuf, source: nix::Error },
    #[error("cannot {action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("cannot pin {path}")]
    PinLink {
        path: PathBuf,
        source: Box<aya::pin::PinError>,
    },
    #[error("cannot open link {path}")]
    OpenLink {
        path: PathBuf,
        source: Box<LinkError>,
    },
    #[error("cannot release link {path}")]
    ReleaseLink { path: PathBuf, source: io::Error },
    #[error("cannot use the link records")]
    Records { source: Box<super::maps::MapsError> },
    #[error(
        "{path} does not exist: these pins predate TC filter records (run `fwxdp detach` and \
         attach again)"
    )]
    NoRecords { path: PathBuf },
    #[error("cannot ask the kernel what {path} is attached to")]
    LinkInfo { path: PathBuf, source: io::Error },
    #[error("cannot list the TC filters of interface index {ifindex}")]
    ListFilters {
        ifindex: u32,
        source: Box<crate::netlink::NetlinkError>,
    },
    #[error("cannot switch the link {path} to the program {program}")]
    UpdateLink {
        path: PathBuf,
        program: PathBuf,
        source: io::Error,
    },
    #[error(
        "cannot switch the TC filter (priority {priority}, handle {handle:#x}) of {iface} to \
         the program {program}"
    )]
    ReplaceFilter {
        iface: String,
        priority: u16,
        handle: u32,
        program: PathBuf,
        source: Box<aya::programs::ProgramError>,
    },
    #[error(
        "the TC filter (priority {priority}, handle {handle:#x}) of interface index {ifindex} \
         is still there but its interface's name changed meanwhile: it is left as it is"
    )]
    FilterMoved {
        ifindex: u32,
        priority: u16,
        handle: u32,
    },
    #[error(
        "{path} holds a filter in force on another device (interface index {ifindex} of its \
         namespace): not moving it"
    )]
    Elsewhere { path: PathBuf, ifindex: u32 },
    #[error("cannot remove the TC filter (priority {priority}, handle {handle:#x}) from {iface}")]
    RemoveFilter {
        iface: String,
        priority: u16,
        handle: u32,
        source: Box<TcError>,
    },
}

impl PinError {
    pub(crate) fn io(action: &'static str, path: &Path, source: io::Error) -> Self {
        Self::Io {
            action,
            path: path.to_owned(),
            source,
        }
    }
}

/// A directory of pins on a bpffs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinDir {
    path: PathBuf,
}

impl PinDir {
    /// The pin directory at `path`; nothing is created.
    #[must_use]
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Creates the directory, which must not exist.
    pub fn create(path: impl Into<PathBuf>) -> Result<Self, PinError> {
        let dir = Self::new(path);
        fs::create_dir(&dir.path).map_err(|e| PinError::io("create", &dir.path, e))?;
        Ok(dir)
    }

    /// The directory.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether anything is at the directory's path: for an attach, even a file there is
    /// state it must not start afresh over.
    #[must_use]
    pub fn exists(&self) -> bool {
        self.path.exists()
    }

    /// Where `map` is pinned.
    #[must_use]
    pub fn map(&self, map: MapPin) -> PathBuf {
        self.path.join(map.pin_name())
    }

    /// Where `program` is pinned.
    #[must_use]
    pub fn program(&self, program: ProgramPin) -> PathBuf {
        self.path.join(program.pin_name())
    }

    /// Where `link` is pinned.
    #[must_use]
    pub fn link(&self, link: LinkPin) -> PathBuf {
        self.path.join(link.pin_name())
    }

    /// Releases the links, then removes the files fwxdp pins and the directory, refusing
    /// anything else it finds. The links go first, so a failure leaves the filter attached
    /// rather than half-removed. Removing a pin only drops the file's reference: a link that
    /// is still open elsewhere stays attached. A missing directory is not an error.
    pub fn remove(&self) -> Result<(), PinError> {
        if !self.path.exists() {
            return Ok(());
        }
        // A filter a killed command made but never recorded would outlive the pins.
        self.adopt_unrecorded_filters()?;
        for &link in LinkPin::ALL {
            self.release(link)?;
        }
        self.remove_files()
    }

    /// The names in the directory that this build does not pin (none when it does not
    /// exist): pins of another layout that it could not take over or remove.
    pub fn unknown_names(&self) -> Result<Vec<String>, PinError> {
        let entries = match fs::read_dir(&self.path) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(PinError::io("read", &self.path, e)),
        };
        let mut unknown = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| PinError::io("read", &self.path, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !names::is_ours(&name) {
                unknown.push(name);
            }
        }
        unknown.sort();
        Ok(unknown)
    }

    /// Removes the files fwxdp pins, then the directory, refusing anything else.
    pub(crate) fn remove_files(&self) -> Result<(), PinError> {
        let dir = &self.path;
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(PinError::io("read", dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| PinError::io("read", dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !names::is_ours(&name) {
                return Err(PinError::NotOurs {
                    path: dir.clone(),
                    name,
                });
            }
            fs::remove_file(entry.path()).map_err(|e| PinError::io("remove", &entry.path(), e))?;
        }
        fs::remove_dir(dir).map_err(|e| PinError::io("remove", dir, e))
    }
}
