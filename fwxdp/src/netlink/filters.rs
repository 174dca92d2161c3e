//! The `cls_bpf` filters of an interface's clsact qdisc, as the kernel has them.

use netlink_packet_route::{
    RouteNetlinkMessage,
    tc::{TcAttribute, TcFilterBpfOption, TcHandle, TcMessage, TcOption},
};

use super::{error::NetlinkError, socket};

/// One `cls_bpf` filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BpfFilter {
    pub priority: u16,
    pub handle: u32,
    /// The kernel's id of the program it runs.
    pub program_id: u32,
}

/// The `cls_bpf` filters on the ingress (or egress) hook of `ifindex`'s clsact qdisc. None
/// when the interface or the qdisc does not exist (the kernel answers an empty dump).
pub fn bpf_filters(ifindex: u32, egress: bool) -> Result<Vec<BpfFilter>, NetlinkError> {
    let mut request = TcMessage::default();
    request.header.index = i32::try_from(ifindex).unwrap_or(i32::MAX);
    request.header.parent = TcHandle {
        major: TcHandle::CLSACT.major,
        minor: if egress {
            TcHandle::MIN_EGRESS
        } else {
            TcHandle::MIN_INGRESS
        },
    };
    // A missing interface or qdisc is an empty answer; any error is a real one, and says
    // nothing about whether a filter is there.
    let answer = socket::dump(
        RouteNetlinkMessage::GetTrafficFilter(request),
        "list TC filters",
    )?;
    Ok(answer
        .iter()
        .filter_map(|message| match message {
            RouteNetlinkMessage::NewTrafficFilter(filter) => bpf_filter(filter),
            _ => None,
        })
        .collect())
}

fn bpf_filter(message: &TcMessage) -> Option<BpfFilter> {
    let program_id = message.attributes.iter().find_map(|a| match a {
        TcAttribute::Options(options) => options.iter().find_map(|o| match o {
            TcOption::Bpf(TcFilterBpfOption::ProgId(id)) => Some(*id),
            _ => None,
        }),
        _ => None,
    })?;
    Some(BpfFilter {
        // tcm_info holds TC_H_MAKE(priority << 16, protocol).
        priority: u16::try_from(message.header.info >> 16).unwrap_or(u16::MAX),
        handle: u32::from(message.header.handle),
        program_id,
    })
}
