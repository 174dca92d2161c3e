//! The ingress program of an interface: attached in a mode from its pinned program, and moved
//! between modes with no moment where the interface is unfiltered.
//!
//! Every mode runs the same verdict on the same pinned maps, so while the ingress link moves
//! another mode can hold the line. The kernel refuses native and generic XDP on one device at
//! once; the TC program bridges that gap.

use std::{fs, io, path::Path};

use aya::programs::{
    LinkOrder, ProgramError, SchedClassifier, TcAttachType, Xdp, XdpMode,
    links::{FdLink, LinkError},
    tc::TcAttachOptions,
};
use aya_obj::programs::XdpAttachType;
use fwxdp_common::AttachMode;

use crate::{detach, pins::name};

/// The mode asked for on the command line or in the config.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ModeRequest {
    /// Native XDP where the driver supports it, else generic XDP.
    #[default]
    Auto,
    Native,
    Generic,
    Tc,
}

impl ModeRequest {
    /// Whether an interface attached in `mode` satisfies this request.
    #[must_use]
    pub fn accepts(self, mode: AttachMode) -> bool {
        match self {
            Self::Auto => mode != AttachMode::Tc,
            Self::Native => mode == AttachMode::Native,
            Self::Generic => mode == AttachMode::Generic,
            Self::Tc => mode == AttachMode::Tc,
        }
    }

    /// Every mode, as the command line and the config name them.
    pub const ALL: [Self; 4] = [Self::Auto, Self::Native, Self::Generic, Self::Tc];

    /// The name used on the command line.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Native => "native",
            Self::Generic => "generic",
            Self::Tc => "tc",
        }
    }
}

impl std::str::FromStr for ModeRequest {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|mode| mode.name() == text)
            .ok_or_else(|| format!("unknown mode {text:?} (auto, native, generic or tc)"))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IngressError {
    #[error("cannot open the pinned program {path}")]
    Program {
        path: String,
        source: Box<ProgramError>,
    },
    #[error("cannot attach to {iface} in {mode} mode")]
    Attach {
        iface: String,
        mode: &'static str,
        source: Box<ProgramError>,
    },
    #[error("cannot keep the {mode} link of {iface} as a BPF link")]
    Link {
        iface: String,
        mode: &'static str,
        source: Box<LinkError>,
    },
    #[error("cannot pin {path}")]
    Pin {
        path: String,
        source: Box<aya::pin::PinError>,
    },
    #[error("cannot rename {path}")]
    Rename { path: String, source: io::Error },
    #[error(transparent)]
    Release(#[from] Box<detach::DetachError>),
}

/// The ingress link pinned in `dir` after a request: the mode in force and, when `auto` fell
/// back to generic XDP, why native XDP was refused.
pub struct Placed {
    pub mode: AttachMode,
    pub fallback: Option<String>,
}

/// Attaches the ingress program pinned in `dir` to `iface` in `mode`.
pub fn attach(dir: &Path, iface: &str, mode: AttachMode) -> Result<FdLink, IngressError> {
    let attach_error = |source| IngressError::Attach {
        iface: iface.to_owned(),
        mode: mode.name(),
        source: Box::new(source),
    };
    let link_error = |source| IngressError::Link {
        iface: iface.to_owned(),
        mode: mode.name(),
        source: Box::new(source),
    };
    if mode == AttachMode::Tc {
        return attach_tcx(dir, name::PROG_TC_INGRESS, iface, TcAttachType::Ingress);
    }
    let path = dir.join(name::PROG_XDP);
    let mut xdp =
        Xdp::from_pin(&path, XdpAttachType::Interface).map_err(|source| IngressError::Program {
            path: path.display().to_string(),
            source: Box::new(source),
        })?;
    let xdp_mode = if mode == AttachMode::Native {
        XdpMode::Driver
    } else {
        XdpMode::Skb
    };
    let id = xdp.attach(iface, xdp_mode).map_err(attach_error)?;
    let link = xdp.take_link(id).map_err(attach_error)?;
    FdLink::try_from(link).map_err(link_error)
}

/// Attaches the TC program pinned in `dir` as `program` to `iface` with TCX, ingress or
/// egress.
pub fn attach_tcx(
    dir: &Path,
    program: &str,
    iface: &str,
    direction: TcAttachType,
) -> Result<FdLink, IngressError> {
    let mode = if direction == TcAttachType::Egress {
        "tc egress"
    } else {
        "tc"
    };
    let attach_error = |source| IngressError::Attach {
        iface: iface.to_owned(),
        mode,
        source: Box::new(source),
    };
    let path = dir.join(program);
    let mut tc = SchedClassifier::from_pin(&path).map_err(|source| IngressError::Program {
        path: path.display().to_string(),
        source: Box::new(source),
    })?;
    let options = TcAttachOptions::TcxOrder(LinkOrder::default());
    let id = tc
        .attach_with_options(iface, direction, options)
        .map_err(attach_error)?;
    let link = tc.take_link(id).map_err(attach_error)?;
    FdLink::try_from(link).map_err(|source| IngressError::Link {
        iface: iface.to_owned(),
        mode,
        source: Box::new(source),
    })
}

/// Attaches as `request` asks; `auto` tries native XDP, then generic.
fn attach_requested(
    dir: &Path,
    iface: &str,
    request: ModeRequest,
) -> Result<(Placed, FdLink), IngressError> {
    let mode = match request {
        ModeRequest::Native => AttachMode::Native,
        ModeRequest::Generic => AttachMode::Generic,
        ModeRequest::Tc => AttachMode::Tc,
        ModeRequest::Auto => match attach(dir, iface, AttachMode::Native) {
            Ok(link) => {
                let placed = Placed {
                    mode: AttachMode::Native,
                    fallback: None,
                };
                return Ok((placed, link));
            }
            Err(native) => {
                let link = attach(dir, iface, AttachMode::Generic)?;
                let placed = Placed {
                    mode: AttachMode::Generic,
                    fallback: Some(error_chain(&native)),
                };
                return Ok((placed, link));
            }
        },
    };
    Ok((
        Placed {
            mode,
            fallback: None,
        },
        attach(dir, iface, mode)?,
    ))
}

/// An error and its sources, `: `-separated, for one log line.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn pin(link: FdLink, path: &Path) -> Result<(), IngressError> {
    link.pin(path)
        .map(drop)
        .map_err(|source| IngressError::Pin {
            path: path.display().to_string(),
            source: Box::new(source),
        })
}

fn rename(from: &Path, to: &Path) -> Result<(), IngressError> {
    fs::rename(from, to).map_err(|source| IngressError::Rename {
        path: from.display().to_string(),
        source,
    })
}

fn release(path: &Path) -> Result<(), IngressError> {
    detach::release_link(path).map_err(|e| IngressError::Release(Box::new(e)))
}

/// Attaches the ingress program of a new interface as `request` asks and pins its link.
pub fn place(dir: &Path, iface: &str, request: ModeRequest) -> Result<Placed, IngressError> {
    let (placed, link) = attach_requested(dir, iface, request)?;
    pin(link, &dir.join(name::LINK_INGRESS))?;
    Ok(placed)
}

/// Moves the ingress program of an attached interface from `current` to what `request` asks,
/// never leaving the interface unfiltered. On failure the interface keeps a working mode,
/// which the result's `Err` also names.
pub fn switch(
    dir: &Path,
    iface: &str,
    current: AttachMode,
    request: ModeRequest,
) -> Result<Placed, (AttachMode, IngressError)> {
    let ingress = dir.join(name::LINK_INGRESS);
    let bridge = dir.join(name::LINK_BRIDGE);
    let keep = |error| (current, error);
    if current == AttachMode::Tc {
        // XDP runs before TC: attach it, then let the TC program go.
        let (placed, link) = attach_requested(dir, iface, request).map_err(keep)?;
        pin(link, &bridge).map_err(keep)?;
        release(&ingress).map_err(keep)?;
        rename(&bridge, &ingress).map_err(|e| (placed.mode, e))?;
        return Ok(placed);
    }
    // From XDP: the TC program holds the line while XDP moves (or for good, to tc).
    let link = attach(dir, iface, AttachMode::Tc).map_err(keep)?;
    pin(link, &bridge).map_err(keep)?;
    let in_tc = |error| (AttachMode::Tc, error);
    if let Err(error) = release(&ingress) {
        // Both programs are attached; undo the bridge and stay as we were.
        return Err(release(&bridge).map_or_else(in_tc, |()| keep(error)));
    }
    if request == ModeRequest::Tc {
        rename(&bridge, &ingress).map_err(in_tc)?;
        return Ok(Placed {
            mode: AttachMode::Tc,
            fallback: None,
        });
    }
    let placed = match attach_requested(dir, iface, request) {
        Ok((placed, link)) => match pin(link, &ingress) {
            Ok(()) => placed,
            // The new link went with the failed pin: the TC program stays in force.
            Err(error) => {
                rename(&bridge, &ingress).map_err(in_tc)?;
                return Err((AttachMode::Tc, error));
            }
        },
        // Put the old mode back; failing that, the TC program stays in force.
        Err(error) => {
            if attach(dir, iface, current)
                .and_then(|link| pin(link, &ingress))
                .is_ok()
            {
                release(&bridge).map_err(keep)?;
                return Err((current, error));
            }
            rename(&bridge, &ingress).map_err(in_tc)?;
            return Err((AttachMode::Tc, error));
        }
    };
    release(&bridge).map_err(|e| (placed.mode, e))?;
    Ok(placed)
}
