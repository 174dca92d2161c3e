//! The command line: clap's types ([`args`]), one function per command ([`dispatch`];
//! `allow` and `revoke` in [`edit`], `save` and `diff` in [`persist`], completions and man
//! pages in [`docs`]; what they need of the process in [`process`]), their output
//! ([`render`]), and failures with their exit codes ([`error`]).

/// `println!` that a closed stdout (`fwxdp stats | head -1`) cannot turn into a panic: what
/// nobody reads is dropped.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::output::line(format_args!($($arg)*))
    };
}

pub mod args;
mod confirm;
pub mod dispatch;
pub mod docs;
mod edit;
pub mod error;
pub(crate) mod output;
mod persist;
mod process;
mod render;
mod targets;

use std::process::ExitCode;

use clap::Parser as _;

pub use args::Cli;
pub use error::{CliError, UsageError};

/// Parses the command line, runs it, prints a failure with its causes, and gives the exit
/// code: 0, 1, or 2 for bad input (clap's own usage errors exit 2 as well).
#[must_use]
pub fn main() -> ExitCode {
    match dispatch::run(Cli::parse()).and_then(|()| output::outcome()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Under journald every line needs its priority, or it is logged as info.
            let priority = if std::env::var_os("JOURNAL_STREAM").is_some() {
                "<3>"
            } else {
                ""
            };
            for line in format!("fwxdp: {}", crate::error::chain(&error)).lines() {
                eprintln!("{priority}{line}");
            }
            error.exit_code()
        }
    }
}
