//! A link role handed from one pin directory to another whose programs are bound to other
//! maps (an upgrade across pin layouts), with the interface judged at every moment: what
//! holds the role switches programs in one step of the kernel's, then moves.

use std::{fs, os::fd::AsFd as _, path::Path};

use aya::programs::{ProgramError, SchedClassifier, tc::TcError};
use fwxdp_common::LinkRecord;

use crate::netlink::filters;

use super::{
    links::{Hold, Mechanism},
    names::{LinkPin, ProgramPin},
    pins::{PinDir, PinError},
    records::{DIRECTION_EGRESS, filter_link},
    sys,
};

impl PinDir {
    /// Moves what holds `role` on interface `ifindex` to `to`, switched first to `to`'s
    /// program of its kind: a BPF link (XDP, TCX) is updated in place (`BPF_LINK_UPDATE`),
    /// then its pin moved; a netlink filter is replaced in place (its priority and handle
    /// kept), recorded in `to` before and forgotten here after, so that one of the two
    /// directories always holds what filters. A BPF link that is no longer attached is
    /// released; a filter the kernel no longer has is forgotten. Safe to run again after a
    /// kill at any point.
    pub fn hand_over(&self, role: LinkPin, to: &Self, ifindex: u32) -> Result<(), PinError> {
        match self.mechanism(role) {
            None => Ok(()),
            Some(Mechanism::BpfLink) => {
                match self.hold(role, ifindex)? {
                    Hold::Here => {}
                    Hold::Nothing => return self.release(role),
                    Hold::Elsewhere { ifindex } => {
                        return Err(PinError::Elsewhere {
                            path: self.link(role),
                            ifindex,
                        });
                    }
                }
                let path = self.link(role);
                let info = |source| PinError::LinkInfo {
                    path: path.clone(),
                    source,
                };
                let link = sys::obj_get(&path).map_err(info)?;
                let program = match sys::link_target(link.as_fd()).map_err(info)?.kind {
                    sys::LinkKind::Xdp => ProgramPin::Xdp,
                    sys::LinkKind::Tcx if role == LinkPin::Egress => ProgramPin::TcEgress,
                    sys::LinkKind::Tcx => ProgramPin::TcIngress,
                };
                let program = to.program(program);
                let update = |source| PinError::UpdateLink {
                    path: path.clone(),
                    program: program.clone(),
                    source,
                };
                let new = sys::obj_get(&program).map_err(update)?;
                sys::link_update(link.as_fd(), new.as_fd()).map_err(update)?;
                let dest = to.link(role);
                fs::rename(&path, &dest).map_err(|e| PinError::io("rename", &path, e))
            }
            Some(Mechanism::TcFilter) => {
                let record = self.record(role)?;
                // Recorded there first: until the filter runs `to`'s program this directory's
                // record is the one that finds it live, from then on `to`'s.
                to.set_record(role, &record)?;
                let program = if record.direction == DIRECTION_EGRESS {
                    ProgramPin::TcEgress
                } else {
                    ProgramPin::TcIngress
                };
                if !replace_filter(&record, &to.program(program))? {
                    to.forget_record(role)?;
                }
                self.forget_record(role)
            }
        }
    }
}

/// Makes the TC filter `record` names run the program pinned at `program`, in place: the
/// kernel swaps a `cls_bpf` filter's program between two packets. `false` when the filter is
/// gone (with its interface, or removed behind fwxdp's back), as the kernel's list of the
/// interface's filters confirms: a filter still there that could not be replaced is an
/// error, and stays recorded.
fn replace_filter(record: &LinkRecord, program: &Path) -> Result<bool, PinError> {
    let still_there = || -> Result<bool, PinError> {
        let egress = record.direction == DIRECTION_EGRESS;
        let found = filters::bpf_filters(record.ifindex, egress).map_err(|source| {
            PinError::ListFilters {
                ifindex: record.ifindex,
                source: Box::new(source),
            }
        })?;
        Ok(found
            .iter()
            .any(|f| f.priority == record.priority && f.handle == record.handle))
    };
    let Some((name, link)) = filter_link(record) else {
        // Its interface is gone, or has another name than a moment ago.
        if still_there()? {
            return Err(PinError::FilterMoved {
                ifindex: record.ifindex,
                priority: record.priority,
                handle: record.handle,
            });
        }
        return Ok(false);
    };
    let replace_error = |source| PinError::ReplaceFilter {
        iface: name.clone(),
        priority: record.priority,
        handle: record.handle,
        program: program.to_owned(),
        source: Box::new(source),
    };
    let mut tc = SchedClassifier::from_pin(program).map_err(replace_error)?;
    let link = link.map_err(|e| replace_error(ProgramError::TcError(TcError::IoError(e))))?;
    match tc.attach_to_link(link) {
        Ok(id) => {
            let link = tc.take_link(id).map_err(replace_error)?;
            // Dropping the link would remove the filter: the record owns it.
            std::mem::forget(link);
            Ok(true)
        }
        Err(error @ ProgramError::TcError(TcError::NetlinkError(_))) if !still_there()? => {
            drop(error);
            Ok(false)
        }
        Err(error) => Err(replace_error(error)),
    }
}
