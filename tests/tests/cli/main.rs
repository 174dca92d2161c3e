//! The `fwxdp` binary as operators and systemd drive it: commands, exit codes, and the
//! service. One test binary, a module per topic.
#![expect(
    unused_crate_dependencies,
    reason = "one package serves every test binary; this one needs only part of it"
)]

mod commands;
mod docs;
mod interfaces;
mod output;
mod service;
