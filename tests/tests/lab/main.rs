//! The filter end to end, in network-namespace labs with real listeners and clients: one
//! test binary, a module per topic.
#![expect(
    unused_crate_dependencies,
    reason = "one package serves every test binary; this one needs only part of it"
)]

mod audit;
mod blocks;
mod confirm;
mod crash;
mod docker;
mod droplog;
mod edits;
mod filter;
mod limits;
mod mechanisms;
mod metrics;
mod modes;
mod persist;
mod protocols;
mod raw_frames;
mod recovery;
mod sandbox;
mod syn_cookies;
mod tunnels;
mod upgrade;
