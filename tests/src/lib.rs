//! The privileged end-to-end suite's support code: the network-namespace lab, and
//! synthetic frames.

#![expect(
    clippy::missing_panics_doc,
    reason = "test support fails by panicking, that is how a test reports it"
)]

pub mod lab;
pub mod model;
pub mod packet;
pub mod verdict;
