//! The verdict on synthetic frames, through `BPF_PROG_TEST_RUN` on the real BPF object
//! (`docs/DESIGN.md`, "The verdict"): one test binary, a module per topic.
#![expect(
    unused_crate_dependencies,
    reason = "one package serves every test binary; this one needs only part of it"
)]

mod blocks;
mod config;
mod counters;
mod droplog;
mod flows;
mod headers;
mod limits;
mod pass;
mod ports;
mod protocols;
mod sockets;
mod truncation;
mod tunnels;
