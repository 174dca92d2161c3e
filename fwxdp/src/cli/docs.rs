//! The command line's own documentation, generated from its clap definition so that it
//! cannot drift from it: shell completions (`fwxdp completions bash`) and man pages (what
//! the Debian package ships, made by `cargo xtask deb`).

use std::path::Path;

use clap::CommandFactory as _;
use clap_complete::Shell;

use super::{args::Cli, error::CliError};

/// Man pages are of section 8: `fwxdp` is a system administration command (`/usr/sbin`).
const MAN_SECTION: &str = "8";

/// The completion script for `shell`. Made in memory: `clap_complete` panics when its writer
/// fails, and a closed standard output (`| head`) is no reason to.
#[must_use]
pub fn completions(shell: Shell) -> Vec<u8> {
    let mut cli = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cli, "fwxdp", &mut script);
    script
}

/// Writes `fwxdp.8` and one `fwxdp-<command>.8` per visible command into `dir`; the names
/// of the pages written.
///
/// # Errors
/// A page that cannot be written, named.
pub fn man_pages(dir: &Path) -> Result<Vec<String>, CliError> {
    let mut cli = Cli::command();
    // Built, so that the global options (`--pin-root`, `--run-dir`) are on every command's
    // page too.
    cli.build();
    let mut written = Vec::new();
    let mut write = |name: String, command: clap::Command| -> Result<(), CliError> {
        let path = dir.join(format!("{name}.{MAN_SECTION}"));
        let mut page = Vec::new();
        clap_mangen::Man::new(command)
            .section(MAN_SECTION)
            .manual("fwxdp")
            .render(&mut page)
            .and_then(|()| std::fs::write(&path, page))
            .map_err(|source| CliError::Write { path, source })?;
        written.push(name);
        Ok(())
    };
    // clap's own `help` command needs no page.
    for sub in cli
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        let name = format!("fwxdp-{}", sub.get_name());
        // The page's NAME and SYNOPSIS say `fwxdp-attach`; the synopsis of a subcommand
        // otherwise reads as a command of its own.
        let page = sub
            .clone()
            .name(name.clone())
            .bin_name(format!("fwxdp {}", sub.get_name()));
        write(name, page)?;
    }
    write("fwxdp".to_owned(), cli)?;
    Ok(written)
}
