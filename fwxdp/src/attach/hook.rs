//! Hooking a pinned program into an interface: XDP in the driver or the generic path, or a
//! TC classifier with TCX, each kept as a BPF link the caller pins.

use aya::programs::{
    LinkOrder, ProgramError, SchedClassifier, TcAttachType, Xdp, XdpMode,
    links::{FdLink, LinkError},
    tc::TcAttachOptions,
};
use aya_obj::programs::XdpAttachType;

use crate::state::{PinDir, ProgramPin};

#[derive(Debug, thiserror::Error)]
pub enum HookError {
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
}

/// Attaches the XDP program pinned in `dir` to `iface`, in the driver
/// ([`XdpMode::Driver`]) or the generic path ([`XdpMode::Skb`]).
pub fn attach_xdp(dir: &PinDir, iface: &str, xdp_mode: XdpMode) -> Result<FdLink, HookError> {
    let mode = if xdp_mode == XdpMode::Driver {
        "native"
    } else {
        "generic"
    };
    let path = dir.program(ProgramPin::Xdp);
    let mut xdp =
        Xdp::from_pin(&path, XdpAttachType::Interface).map_err(|source| HookError::Program {
            path: path.display().to_string(),
            source: Box::new(source),
        })?;
    let attach_error = |source| attach_error(iface, mode, source);
    let id = xdp.attach(iface, xdp_mode).map_err(attach_error)?;
    let link = xdp.take_link(id).map_err(attach_error)?;
    FdLink::try_from(link).map_err(|source| link_error(iface, mode, source))
}

/// Attaches the TC program pinned in `dir` as `program` to `iface` with TCX, ingress or
/// egress.
pub fn attach_tc(
    dir: &PinDir,
    program: ProgramPin,
    iface: &str,
    direction: TcAttachType,
) -> Result<FdLink, HookError> {
    let mode = if direction == TcAttachType::Egress {
        "tc egress"
    } else {
        "tc"
    };
    let path = dir.program(program);
    let mut tc = SchedClassifier::from_pin(&path).map_err(|source| HookError::Program {
        path: path.display().to_string(),
        source: Box::new(source),
    })?;
    let attach_error = |source| attach_error(iface, mode, source);
    let options = TcAttachOptions::TcxOrder(LinkOrder::default());
    let id = tc
        .attach_with_options(iface, direction, options)
        .map_err(attach_error)?;
    let link = tc.take_link(id).map_err(attach_error)?;
    FdLink::try_from(link).map_err(|source| link_error(iface, mode, source))
}

fn attach_error(iface: &str, mode: &'static str, source: ProgramError) -> HookError {
    HookError::Attach {
        iface: iface.to_owned(),
        mode,
        source: Box::new(source),
    }
}

fn link_error(iface: &str, mode: &'static str, source: LinkError) -> HookError {
    HookError::Link {
        iface: iface.to_owned(),
        mode,
        source: Box::new(source),
    }
}
