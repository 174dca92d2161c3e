//! Standard output for the commands' results. A reader that went away (`fwxdp stats |
//! head -1`) is nothing to report; any other write failure (a full disk) makes the command
//! fail once it is done, so a script never takes a cut-short listing for a whole one.

use std::{
    fmt,
    io::{self, Write as _},
    sync::OnceLock,
};

use super::error::CliError;

static FAILED: OnceLock<io::Error> = OnceLock::new();

/// Writes one line (what `say!` expands to).
pub(crate) fn line(args: fmt::Arguments<'_>) {
    if let Err(e) = writeln!(io::stdout(), "{args}")
        && e.kind() != io::ErrorKind::BrokenPipe
    {
        // The first failure is the one worth telling.
        let _: Result<(), io::Error> = FAILED.set(e);
    }
}

/// Writes `bytes` as they are (a generated script, say), like [`line`].
pub(crate) fn raw(bytes: &[u8]) {
    if let Err(e) = io::stdout().write_all(bytes)
        && e.kind() != io::ErrorKind::BrokenPipe
    {
        let _: Result<(), io::Error> = FAILED.set(e);
    }
}

/// Whether every line reached standard output (or its reader left).
pub(crate) fn outcome() -> Result<(), CliError> {
    match FAILED.get() {
        Some(e) => Err(CliError::Output(io::Error::new(e.kind(), e.to_string()))),
        None => Ok(()),
    }
}
