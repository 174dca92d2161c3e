//! The privileged end-to-end suite's support code: the network-namespace lab, and
//! synthetic frames.

pub mod lab;
