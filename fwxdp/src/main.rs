//! The `fwxdp` command: parses the command line, runs it, maps failures to exit codes.

mod cli;
mod commands;
mod serve;
mod ssh_guard;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("fwxdp: {error:#}");
            exit_code(&error)
        }
    }
}

/// 2 for bad input (as clap uses for usage errors), 1 for everything else.
fn exit_code(error: &anyhow::Error) -> ExitCode {
    let usage = error.chain().any(|cause| {
        cause.is::<commands::UsageError>()
            || cause.is::<fwxdp::policy::PolicyError>()
            || cause.is::<fwxdp::config::ConfigError>()
            || matches!(
                cause.downcast_ref::<fwxdp::daemon::DaemonError>(),
                Some(fwxdp::daemon::DaemonError::Config(_))
            )
    });
    ExitCode::from(if usage { 2 } else { 1 })
}
