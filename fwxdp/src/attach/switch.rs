//! The ingress link of an interface: placed in the mode asked for, and moved between modes
//! with no moment where the interface is unfiltered.
//!
//! Every mode runs the same verdict on the same pinned maps, so while the ingress link moves
//! another mode can hold the line. The kernel refuses native and generic XDP on one device at
//! once; the TC program bridges that gap.

use aya::programs::{TcAttachType, XdpMode};

use super::hook::{self, HookError};
use crate::{
    error,
    mode::AttachMode,
    state::{Attachment, LinkPin, PinDir, PinError, ProgramPin},
};

#[derive(Debug, thiserror::Error)]
pub enum SwitchError {
    #[error(transparent)]
    Hook(#[from] HookError),
    #[error(transparent)]
    Pins(#[from] PinError),
}

/// The ingress link pinned after a request: the mode in force and, when `auto` fell back to
/// generic XDP, why native XDP was refused.
pub struct Placed {
    pub mode: AttachMode,
    pub fallback: Option<String>,
}

/// Attaches the ingress program pinned in `dir` to `iface` in `mode`, which is in force
/// from then on; `auto` tries native XDP, then generic.
pub fn attach_ingress(
    dir: &PinDir,
    iface: &str,
    mode: AttachMode,
) -> Result<(Placed, Attachment), HookError> {
    let placed = |mode, fallback| Placed { mode, fallback };
    Ok(match mode {
        AttachMode::Native => (
            placed(mode, None),
            hook::attach_xdp(dir, iface, XdpMode::Driver)?,
        ),
        AttachMode::Generic => (
            placed(mode, None),
            hook::attach_xdp(dir, iface, XdpMode::Skb)?,
        ),
        AttachMode::Tc => (
            placed(mode, None),
            hook::attach_tc(dir, ProgramPin::TcIngress, iface, TcAttachType::Ingress)?,
        ),
        AttachMode::Auto => match hook::attach_xdp(dir, iface, XdpMode::Driver) {
            Ok(link) => (placed(AttachMode::Native, None), link),
            Err(native) => {
                let link = hook::attach_xdp(dir, iface, XdpMode::Skb)?;
                let fallback = Some(error::chain(&native));
                (placed(AttachMode::Generic, fallback), link)
            }
        },
    })
}

/// Moves the ingress program of an attached interface from `current` to what `request` asks,
/// never leaving the interface unfiltered. On failure the interface keeps a working mode,
/// which the result's `Err` also names.
pub fn switch(
    dir: &PinDir,
    iface: &str,
    current: AttachMode,
    request: AttachMode,
) -> Result<Placed, (AttachMode, SwitchError)> {
    let keep = |error: SwitchError| (current, error);
    let in_tc = |error: PinError| (AttachMode::Tc, SwitchError::from(error));
    if current == AttachMode::Tc {
        // XDP runs before TC: attach it, then let the TC program go.
        let (placed, link) = attach_ingress(dir, iface, request).map_err(|e| keep(e.into()))?;
        dir.keep(link, LinkPin::Bridge)
            .map_err(|e| keep(e.into()))?;
        dir.release(LinkPin::Ingress).map_err(|e| keep(e.into()))?;
        dir.move_role(LinkPin::Bridge, LinkPin::Ingress)
            .map_err(|e| (placed.mode, e.into()))?;
        return Ok(placed);
    }
    // From XDP: the TC program holds the line while XDP moves (or for good, to tc).
    let (_, link) = attach_ingress(dir, iface, AttachMode::Tc).map_err(|e| keep(e.into()))?;
    dir.keep(link, LinkPin::Bridge)
        .map_err(|e| keep(e.into()))?;
    if let Err(error) = dir.release(LinkPin::Ingress) {
        // Both programs are attached; undo the bridge and stay as we were.
        return Err(dir
            .release(LinkPin::Bridge)
            .map_or_else(in_tc, |()| keep(error.into())));
    }
    if request == AttachMode::Tc {
        dir.move_role(LinkPin::Bridge, LinkPin::Ingress)
            .map_err(in_tc)?;
        return Ok(Placed {
            mode: AttachMode::Tc,
            fallback: None,
        });
    }
    let placed = match attach_ingress(dir, iface, request) {
        Ok((placed, link)) => match dir.keep(link, LinkPin::Ingress) {
            Ok(()) => placed,
            // The new link went with the failed pin: the TC program stays in force.
            Err(error) => {
                dir.move_role(LinkPin::Bridge, LinkPin::Ingress)
                    .map_err(in_tc)?;
                return Err((AttachMode::Tc, error.into()));
            }
        },
        // Put the old mode back; failing that, the TC program stays in force.
        Err(error) => {
            let restored = attach_ingress(dir, iface, current)
                .map_err(SwitchError::from)
                .and_then(|(_, link)| Ok(dir.keep(link, LinkPin::Ingress)?));
            if restored.is_ok() {
                dir.release(LinkPin::Bridge).map_err(|e| keep(e.into()))?;
                return Err((current, error.into()));
            }
            dir.move_role(LinkPin::Bridge, LinkPin::Ingress)
                .map_err(in_tc)?;
            return Err((AttachMode::Tc, error.into()));
        }
    };
    dir.release(LinkPin::Bridge)
        .map_err(|e| (placed.mode, e.into()))?;
    Ok(placed)
}
