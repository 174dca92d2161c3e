//! How a netlink request or event read fails.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("open a netlink socket")]
    Open(#[source] io::Error),
    #[error("netlink {what}")]
    Io {
        what: &'static str,
        source: io::Error,
    },
    #[error("netlink {what}: the kernel refused")]
    Kernel {
        what: &'static str,
        source: io::Error,
    },
    #[error("netlink {what}: cannot parse the kernel's answer: {message}")]
    Decode { what: &'static str, message: String },
    /// The kernel dropped events because they came faster than they were read: what
    /// happened meanwhile must be read afresh.
    #[error("netlink events were lost (the socket's buffer overflowed)")]
    Overrun,
}
