//! Attaching the filter to an interface, or replacing its policy in place.
//!
//! A fresh attach builds every pin in a staging directory and renames it into place only when
//! the programs are attached, so a failure leaves nothing behind. A replacement writes the
//! new policy into the inactive generation and flips [`Config::generation`] in one map update.

use std::{
    fs, io,
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use aya::{
    programs::{TcAttachType, links::FdLink},
    util::KernelVersion,
};
use fwxdp_common::{AttachMode, CONFIG_MONITOR, CONFIG_VERSION, Config, Proto, program_name};

pub use crate::ingress::ModeRequest;
use crate::{
    detach,
    iface::{self, IfaceError},
    ingress::{self, IngressError},
    maps::{MapsError, PolicyMaps, Source},
    object::{Loaded, ObjectError},
    pins::{self, PinError, PinRoot, name},
    policy::Policy,
};

/// What to attach where.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    pub iface: &'a str,
    pub policy: &'a Policy,
    pub monitor: bool,
    /// The mode asked for; `None` keeps the mode in force (`auto` on a fresh attach).
    pub mode: Option<ModeRequest>,
}

/// What an attach did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub iface: String,
    /// The mode in force.
    pub mode: AttachMode,
    /// True when an attached interface got its policy replaced in place.
    pub replaced: bool,
    /// The mode the interface left, when the request moved it to another.
    pub switched_from: Option<AttachMode>,
    /// Why `auto` fell back to generic XDP, when it did.
    pub fallback: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error(transparent)]
    Iface(#[from] IfaceError),
    #[error(transparent)]
    Pins(#[from] PinError),
    #[error(transparent)]
    Maps(#[from] MapsError),
    #[error(transparent)]
    Object(#[from] ObjectError),
    #[error(transparent)]
    Detach(#[from] detach::DetachError),
    #[error("cannot pin {path}")]
    Pin {
        path: PathBuf,
        source: aya::pin::PinError,
    },
    #[error("cannot pin program at {path}")]
    PinProgram {
        path: PathBuf,
        source: aya::pin::PinError,
    },
    #[error(transparent)]
    Ingress(#[from] IngressError),
    #[error("{iface} could not move from {from} to {requested} mode; it stays in {now} mode")]
    Switch {
        iface: String,
        from: &'static str,
        requested: &'static str,
        now: &'static str,
        source: Box<IngressError>,
    },
    #[error(
        "fwxdp needs Linux 6.6 or later (it attaches with TCX and BPF links); this kernel is \
         {found}"
    )]
    KernelTooOld { found: String },
    #[error(
        "cannot read the pinned state of {iface}; its filter is left as it is (run `fwxdp \
         detach {iface}` to start over)"
    )]
    Unreadable { iface: String, source: MapsError },
    #[error(
        "{iface} was attached by an fwxdp with another pin layout ({found}, this one uses \
         {CONFIG_VERSION}); its filter is left as it is: run `fwxdp detach {iface}` first"
    )]
    Incompatible { iface: String, found: u8 },
    #[error("cannot move pins into {path}")]
    Commit { path: PathBuf, source: io::Error },
}

/// Attaches `request.iface`, or replaces its policy if it is attached already.
///
/// The caller holds the [`crate::lock::StateLock`].
pub fn attach(root: &PinRoot, request: &Request<'_>) -> Result<Outcome, AttachError> {
    let ifindex = iface::filterable_index(request.iface)?;
    root.ensure()?;
    sweep_staging(root)?;
    let dir = root.iface_dir(request.iface);
    if dir.exists() {
        let unreadable = |source| AttachError::Unreadable {
            iface: request.iface.to_owned(),
            source,
        };
        // Any doubt leaves the old filter in force: never open ports to start afresh.
        let mut maps = PolicyMaps::open(&mut Source::Pinned(&dir)).map_err(unreadable)?;
        let config = maps.config().map_err(unreadable)?;
        if config.version != CONFIG_VERSION {
            return Err(AttachError::Incompatible {
                iface: request.iface.to_owned(),
                found: config.version,
            });
        }
        repair_interrupted_switch(&dir, &mut maps, config)?;
        if config.ifindex == ifindex && dir.join(name::LINK_INGRESS).exists() {
            return replace(&mut maps, &dir, request);
        }
        // The pins belong to an interface that was deleted (this one has another index), or
        // hold no link: nothing filters with them.
        detach::remove_pins(&dir)?;
    }
    fresh(root, request, ifindex)
}

/// A mode switch killed midway leaves the TC bridge link beside, or instead of, the ingress
/// link: keep whichever filters, as the ingress link, and say so in the config.
fn repair_interrupted_switch(
    dir: &Path,
    maps: &mut PolicyMaps,
    config: Config,
) -> Result<(), AttachError> {
    let (ingress, bridge) = (dir.join(name::LINK_INGRESS), dir.join(name::LINK_BRIDGE));
    match (ingress.exists(), bridge.exists()) {
        (true, true) => detach::release_link(&bridge)?,
        (false, true) => {
            fs::rename(&bridge, &ingress).map_err(|source| AttachError::Commit {
                path: ingress.clone(),
                source,
            })?;
            maps.set_config(&Config {
                mode: AttachMode::Tc as u8,
                ..config
            })?;
        }
        _ => {}
    }
    Ok(())
}

/// Ports 1-65535 at most: always fits.
fn open_count(policy: &Policy, proto: Proto) -> u16 {
    u16::try_from(policy.open_port_count(proto)).unwrap_or(u16::MAX)
}

fn config_flags(monitor: bool) -> u8 {
    if monitor { CONFIG_MONITOR } else { 0 }
}

fn replace(
    maps: &mut PolicyMaps,
    dir: &Path,
    request: &Request<'_>,
) -> Result<Outcome, AttachError> {
    let config = maps.config()?;
    let mode = AttachMode::from_raw(config.mode).unwrap_or(AttachMode::Generic);
    // The new policy first, in the mode in force: one config write switches to it.
    let next = config.generation ^ 1;
    maps.write_generation(next, request.policy)?;
    let mut config = Config {
        generation: next,
        flags: config_flags(request.monitor),
        open_tcp: open_count(request.policy, Proto::Tcp),
        open_udp: open_count(request.policy, Proto::Udp),
        ..config
    };
    maps.set_config(&config)?;
    let Some(wanted) = request.mode.filter(|wanted| !wanted.accepts(mode)) else {
        return Ok(Outcome {
            iface: request.iface.to_owned(),
            mode,
            replaced: true,
            switched_from: None,
            fallback: None,
        });
    };
    let switched = ingress::switch(dir, request.iface, mode, wanted);
    let now = match &switched {
        Ok(placed) => placed.mode,
        Err((now, _)) => *now,
    };
    config.mode = now as u8;
    maps.set_config(&config)?;
    let placed = switched.map_err(|(now, source)| AttachError::Switch {
        iface: request.iface.to_owned(),
        from: mode.name(),
        requested: wanted.name(),
        now: now.name(),
        source: Box::new(source),
    })?;
    Ok(Outcome {
        iface: request.iface.to_owned(),
        mode: placed.mode,
        replaced: true,
        switched_from: Some(mode),
        fallback: placed.fallback,
    })
}

fn fresh(root: &PinRoot, request: &Request<'_>, ifindex: u32) -> Result<Outcome, AttachError> {
    let iface = request.iface;
    if let Ok(kernel) = KernelVersion::current()
        && kernel < KernelVersion::new(6, 6, 0)
    {
        return Err(AttachError::KernelTooOld {
            found: kernel.to_string(),
        });
    }
    let staging = Staging::create(root.staging_dir(iface))?;
    let mut config = Config {
        generation: 0,
        flags: config_flags(request.monitor),
        mode: 0,
        version: CONFIG_VERSION,
        ifindex,
        attached_at: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        open_tcp: open_count(request.policy, Proto::Tcp),
        open_udp: open_count(request.policy, Proto::Udp),
        _pad2: [0; 4],
    };
    let mut loaded = Loaded::new(request.policy, &config, Some(staging.path()))?;
    // Every program is loaded and pinned, so a later mode switch finds the one it needs
    // bound to these same maps.
    pin_program(
        loaded.xdp()?.pin(staging.path().join(name::PROG_XDP)),
        staging.path(),
        name::PROG_XDP,
    )?;
    pin_program(
        loaded
            .tc(program_name::TC_INGRESS)?
            .pin(staging.path().join(name::PROG_TC_INGRESS)),
        staging.path(),
        name::PROG_TC_INGRESS,
    )?;

    // Egress first, so replies to flows that start meanwhile already pass.
    let egress = loaded.tc(program_name::TC_EGRESS)?;
    pin_program(
        egress.pin(staging.path().join(name::PROG_EGRESS)),
        staging.path(),
        name::PROG_EGRESS,
    )?;
    let link = ingress::attach_tcx(
        staging.path(),
        name::PROG_EGRESS,
        iface,
        TcAttachType::Egress,
    )?;
    staging.pin_link(link, name::LINK_EGRESS)?;

    let placed = ingress::place(staging.path(), iface, request.mode.unwrap_or_default())?;
    config.mode = placed.mode as u8;
    loaded.policy.set_config(&config)?;
    staging.commit(&root.iface_dir(iface))?;
    Ok(Outcome {
        iface: iface.to_owned(),
        mode: placed.mode,
        replaced: false,
        switched_from: None,
        fallback: placed.fallback,
    })
}

fn pin_program(
    result: Result<(), aya::pin::PinError>,
    dir: &Path,
    pin: &str,
) -> Result<(), AttachError> {
    result.map_err(|source| AttachError::PinProgram {
        path: dir.join(pin),
        source,
    })
}

/// Removes staging directories left by an attach that was killed midway. Under the state
/// lock no attach is in progress, so every staging directory is a leftover.
fn sweep_staging(root: &PinRoot) -> Result<(), AttachError> {
    for dir in root.staging_dirs() {
        detach::remove_pins(&dir)?;
    }
    Ok(())
}

/// A directory of pins under construction; removed, links detached, unless committed.
struct Staging {
    dir: PathBuf,
    committed: bool,
}

impl Staging {
    fn create(dir: PathBuf) -> Result<Self, AttachError> {
        pins::remove_dir(&dir)?;
        fs::create_dir(&dir).map_err(|source| PinError::Io {
            action: "create",
            path: dir.clone(),
            source,
        })?;
        Ok(Self {
            dir,
            committed: false,
        })
    }

    fn path(&self) -> &Path {
        &self.dir
    }

    fn pin_link(&self, link: FdLink, pin: &str) -> Result<(), AttachError> {
        let path = self.dir.join(pin);
        link.pin(&path)
            .map(drop)
            .map_err(|source| AttachError::Pin { path, source })
    }

    fn commit(mut self, dest: &Path) -> Result<(), AttachError> {
        fs::rename(&self.dir, dest).map_err(|source| AttachError::Commit {
            path: dest.to_owned(),
            source,
        })?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = detach::remove_pins(&self.dir);
        }
    }
}
