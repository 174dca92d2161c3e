//! Hooking a pinned program into an interface, by the mechanism the kernel has: XDP as a BPF
//! link; TC as a TCX link, or, where the kernel has no TCX, a `cls_bpf` filter (direct
//! action) on the clsact qdisc, made over netlink. Mechanisms are probed, never chosen by
//! the kernel's version.

use aya::{
    programs::{
        Link as _, LinkOrder, ProgramError, SchedClassifier, TcAttachType, Xdp, XdpMode,
        links::{FdLink, LinkError},
        tc::{self, NlOptions, TcAttachOptions, TcError},
    },
    sys::SyscallError,
};
use aya_obj::programs::XdpAttachType;
use fwxdp_common::{LINK_TC_NETLINK, LinkRecord};

use crate::state::{
    Attachment, PinDir, ProgramPin,
    records::{DIRECTION_EGRESS, DIRECTION_INGRESS},
};

/// Set to `clsact` to attach TC programs as netlink filters even where the kernel has TCX
/// (to test that path, or to keep fwxdp's filters visible to `tc filter show`).
pub const TC_MECHANISM_ENV: &str = "FWXDP_TC_MECHANISM";

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
    #[error(
        "cannot attach to {iface} in {mode} mode: this kernel has no BPF links for XDP \
         (Linux 5.9 and later have them); nothing was left attached"
    )]
    NoXdpLinks { iface: String, mode: &'static str },
    #[error("cannot add a clsact qdisc to {iface}")]
    Clsact { iface: String, source: Box<TcError> },
}

/// Attaches the XDP program pinned in `dir` to `iface`, in the driver
/// ([`XdpMode::Driver`]) or the generic path ([`XdpMode::Skb`]).
pub fn attach_xdp(dir: &PinDir, iface: &str, xdp_mode: XdpMode) -> Result<Attachment, HookError> {
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
    // aya falls back to netlink XDP where `BPF_LINK_CREATE` refuses XDP, which only kernels
    // older than fwxdp supports need; nothing could find that attachment again, so it is
    // undone. aya 0.14 shows which kind of link it made only in its Debug form.
    if format!("{link:?}").contains("NlLink") {
        link.detach().map_err(attach_error)?;
        return Err(HookError::NoXdpLinks {
            iface: iface.to_owned(),
            mode,
        });
    }
    FdLink::try_from(link)
        .map(Attachment::Link)
        .map_err(|source| HookError::Link {
            iface: iface.to_owned(),
            mode,
            source: Box::new(source),
        })
}

/// Attaches the TC program pinned in `dir` as `program` to `iface`, ingress or egress: with
/// TCX where the kernel has it, else as a clsact filter.
pub fn attach_tc(
    dir: &PinDir,
    program: ProgramPin,
    iface: &str,
    direction: TcAttachType,
) -> Result<Attachment, HookError> {
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
    let forced = std::env::var(TC_MECHANISM_ENV).is_ok_and(|v| v == "clsact");
    if !forced {
        // First, so that no other program can pass a packet before the verdict sees it.
        let options = TcAttachOptions::TcxOrder(LinkOrder::first());
        match tc.attach_with_options(iface, direction, options) {
            Ok(id) => {
                let link = tc.take_link(id).map_err(attach_error)?;
                return FdLink::try_from(link)
                    .map(Attachment::Link)
                    .map_err(|source| HookError::Link {
                        iface: iface.to_owned(),
                        mode,
                        source: Box::new(source),
                    });
            }
            Err(error) if !tcx_missing(&error) => return Err(attach_error(error)),
            Err(_) => {}
        }
    }
    attach_clsact(&mut tc, iface, direction, mode)
}

/// Whether TCX failed because the kernel does not have it (an attach type it does not
/// know is `EINVAL`), rather than for a reason that a filter would meet as well.
fn tcx_missing(error: &ProgramError) -> bool {
    matches!(
        error,
        ProgramError::SyscallError(SyscallError { io_error, .. })
            if matches!(io_error.raw_os_error(), Some(libc::EINVAL | libc::EOPNOTSUPP | 524))
    )
}

/// Attaches `tc` as a `cls_bpf` filter on the clsact qdisc (added when missing), and
/// returns the record that finds the filter again. The filter outlives this process.
fn attach_clsact(
    tc: &mut SchedClassifier,
    iface: &str,
    direction: TcAttachType,
    mode: &'static str,
) -> Result<Attachment, HookError> {
    match tc::qdisc_add_clsact(iface) {
        Ok(()) => {}
        Err(TcError::NetlinkError(e)) if e.raw_os_error() == Some(libc::EEXIST) => {}
        Err(source) => {
            return Err(HookError::Clsact {
                iface: iface.to_owned(),
                source: Box::new(source),
            });
        }
    }
    let attach_error = |source| attach_error(iface, mode, source);
    // Priority 1 runs before every other filter, so none can pass a packet the verdict has
    // not seen. Only where a filter of another kind holds priority 1 (the kernel answers
    // EINVAL) does the kernel pick one, behind that filter.
    let first = TcAttachOptions::Netlink(NlOptions {
        priority: 1,
        ..NlOptions::default()
    });
    let id = match tc.attach_with_options(iface, direction, first) {
        Ok(id) => id,
        Err(ProgramError::TcError(TcError::NetlinkError(e)))
            if e.raw_os_error() == Some(libc::EINVAL) =>
        {
            tc.attach_with_options(
                iface,
                direction,
                TcAttachOptions::Netlink(NlOptions::default()),
            )
            .map_err(attach_error)?
        }
        Err(error) => return Err(attach_error(error)),
    };
    let link = tc.take_link(id).map_err(attach_error)?;
    let record = LinkRecord {
        kind: LINK_TC_NETLINK,
        direction: if direction == TcAttachType::Egress {
            DIRECTION_EGRESS
        } else {
            DIRECTION_INGRESS
        },
        priority: link.priority().map_err(attach_error)?,
        handle: link.handle().map_err(attach_error)?.into(),
        ifindex: nix::net::if_::if_nametoindex(iface).unwrap_or_default(),
        _pad: [0; 4],
    };
    // Dropping the link would remove the filter: the record owns it from here on.
    std::mem::forget(link);
    Ok(Attachment::TcFilter(record))
}

fn attach_error(iface: &str, mode: &'static str, source: ProgramError) -> HookError {
    HookError::Attach {
        iface: iface.to_owned(),
        mode,
        source: Box::new(source),
    }
}
