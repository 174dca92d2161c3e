//! fwxdp: a port-allowlist firewall in XDP.
//!
//! The library holds everything but the command line: the allow-spec grammar and policy
//! compiler, the loader that attaches and pins the BPF programs, and the readers behind
//! `status` and `stats`.

pub mod attach;
pub mod config;
pub mod daemon;
pub mod detach;
pub mod iface;
pub mod ingress;
pub mod lock;
pub mod maps;
pub mod metrics;
pub mod object;
pub mod pins;
pub mod policy;
pub mod spec;
pub mod stats;
pub mod status;
mod sys;
