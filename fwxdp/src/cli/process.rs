//! What a command that changes pins needs of its process: root, and signals held.

use nix::sys::signal::{SigSet, Signal};

use super::error::CliError;

/// Fails unless the process runs as root.
pub(super) fn require_root() -> Result<(), CliError> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err(CliError::NotRoot)
    }
}

/// Holds SIGINT, SIGTERM, SIGHUP and SIGQUIT until the process exits: Ctrl-C midway through
/// an attach or detach would leave programs attached from a staging directory, or a record
/// that names a filter already removed. They act on exit.
pub(super) fn hold_signals() -> Result<(), CliError> {
    let mut hold = SigSet::empty();
    for signal in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ] {
        hold.add(signal);
    }
    hold.thread_block().map_err(CliError::BlockSignals)
}
