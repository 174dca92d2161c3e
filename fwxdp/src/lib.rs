//! fwxdp: a port-allowlist firewall in XDP. `docs/DESIGN.md` is the design; this is the
//! userspace half, the BPF programs are in `fwxdp-ebpf`, and the types both share are in
//! `fwxdp-common`.
//!
//! # Layout
//!
//! Layers from the top; a module imports only from the layers below it.
//!
//! - [`cli`]: clap arguments, one function per command, rendering, exit codes.
//! - [`service`]: `fwxdp run`, with its config file, run loop, reloads and exporter task.
//! - [`confirm`]: changes made with `--confirm`, recorded and reverted unless confirmed.
//! - [`metrics`] and [`report`]: the Prometheus exporter; `status` and `stats`.
//! - [`attach`]: the embedded BPF object, a fresh attach through a staging directory,
//!   replacing a policy in place, attach modes and the switch between them, detach.
//! - [`state`]: what lives on bpffs: the one table of pin names, the pin root and pin
//!   directories, maps and their batch reads, links, the state lock, and
//!   [`state::PinnedInterface`], one attached interface's state as one object.
//! - [`policy`]: the allow-spec grammar, the policy, its map entries, and the SSH lock-out
//!   guard.
//! - [`mode`], [`iface`], [`netlink`], [`process`], [`file`] and [`error`]: the attach-mode
//!   enum, interface names, the kernel's interface list and events and its TC filters, this
//!   process's ancestors and the sockets processes hold, replacing a file whole, and the
//!   error-chain formatter.

pub mod attach;
pub mod cli;
pub mod confirm;
pub mod error;
pub mod file;
pub mod iface;
pub mod metrics;
pub mod mode;
pub mod netlink;
pub mod policy;
pub mod process;
pub mod report;
pub mod service;
pub mod state;
