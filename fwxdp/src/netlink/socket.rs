//! One request and its (possibly multi-part) answer over a netlink socket: routing
//! netlink, or `sock_diag`.

use std::{fmt::Debug, io};

use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST, NetlinkDeserializable, NetlinkHeader,
    NetlinkMessage, NetlinkPayload, NetlinkSerializable,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

use super::error::NetlinkError;

/// A socket of the netlink `protocol` bound to the kernel, for requests.
pub(super) fn open(protocol: isize) -> Result<Socket, NetlinkError> {
    let mut socket = Socket::new(protocol).map_err(NetlinkError::Open)?;
    socket.bind_auto().map_err(NetlinkError::Open)?;
    socket
        .connect(&SocketAddr::new(0, 0))
        .map_err(NetlinkError::Open)?;
    Ok(socket)
}

/// Sends `request` as a routing dump and returns every message of the answer.
pub(super) fn dump(
    request: RouteNetlinkMessage,
    what: &'static str,
) -> Result<Vec<RouteNetlinkMessage>, NetlinkError> {
    dump_over(NETLINK_ROUTE, request, what)
}

/// Sends `request` as a dump over a socket of the netlink `protocol` and returns every
/// message of the answer.
pub(super) fn dump_over<M>(
    protocol: isize,
    request: M,
    what: &'static str,
) -> Result<Vec<M>, NetlinkError>
where
    M: NetlinkSerializable + NetlinkDeserializable + Debug,
{
    let socket = open(protocol)?;
    let mut packet = NetlinkMessage::new(
        NetlinkHeader::default(),
        NetlinkPayload::InnerMessage(request),
    );
    packet.header.flags = NLM_F_DUMP | NLM_F_REQUEST;
    packet.header.sequence_number = 1;
    packet.finalize();
    let mut buffer = vec![0; packet.buffer_len()];
    packet.serialize(&mut buffer);
    socket
        .send(&buffer, 0)
        .map_err(|source| NetlinkError::Io { what, source })?;
    let mut answer = Vec::new();
    loop {
        let (datagram, _) = socket
            .recv_from_full()
            .map_err(|source| NetlinkError::Io { what, source })?;
        for message in parse(&datagram, what)? {
            match message.payload {
                // A dump that failed midway says so here, not in an error message.
                NetlinkPayload::Done(done) if done.code < 0 => {
                    return Err(NetlinkError::Kernel {
                        what,
                        source: io::Error::from_raw_os_error(-done.code),
                    });
                }
                NetlinkPayload::Done(_) => {
                    if message.header.flags & NLM_F_DUMP_INTR != 0 {
                        // The table changed while it was read: the answer may be torn.
                        return Err(NetlinkError::Kernel {
                            what,
                            source: io::Error::from_raw_os_error(libc::EAGAIN),
                        });
                    }
                    return Ok(answer);
                }
                NetlinkPayload::Error(error) => {
                    let Some(code) = error.code else {
                        continue;
                    };
                    return Err(NetlinkError::Kernel {
                        what,
                        source: io::Error::from_raw_os_error(-code.get()),
                    });
                }
                NetlinkPayload::InnerMessage(inner) => answer.push(inner),
                _ => {}
            }
        }
    }
}

/// The messages of one datagram.
pub(super) fn parse<M: NetlinkDeserializable + Debug>(
    mut datagram: &[u8],
    what: &'static str,
) -> Result<Vec<NetlinkMessage<M>>, NetlinkError> {
    let mut messages = Vec::new();
    while !datagram.is_empty() {
        let message =
            NetlinkMessage::<M>::deserialize(datagram).map_err(|e| NetlinkError::Decode {
                what,
                message: e.to_string(),
            })?;
        let length = usize::try_from(message.header.length).unwrap_or(usize::MAX);
        messages.push(message);
        // netlink pads each message to 4 bytes.
        let step = length.next_multiple_of(4);
        if length == 0 || step > datagram.len() {
            break;
        }
        datagram = &datagram[step..];
    }
    Ok(messages)
}
