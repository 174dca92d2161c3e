//! The command line: clap's types ([`args`]), one function per command ([`dispatch`]),
//! their output ([`render`]), and failures with their exit codes ([`error`]).

pub mod args;
pub mod dispatch;
pub mod error;
mod render;

use std::process::ExitCode;

use clap::Parser as _;

pub use args::Cli;
pub use error::{CliError, UsageError};

/// Parses the command line, runs it, prints a failure with its causes, and gives the exit
/// code: 0, 1, or 2 for bad input (clap's own usage errors exit 2 as well).
#[must_use]
pub fn main() -> ExitCode {
    match dispatch::run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("fwxdp: {}", crate::error::chain(&error));
            error.exit_code()
        }
    }
}
