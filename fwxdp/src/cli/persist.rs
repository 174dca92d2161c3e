//! `fwxdp save` and `fwxdp diff`: the running state of every attached interface written
//! as the service's config, or compared with it.

use std::{fs, io, path::Path};

use super::{error::CliError, process::require_root};
use crate::{
    service::config::{self, diff::differences, save::save},
    state::{Filtering, PinRoot, PinnedInterface, Running, StateLock},
};

/// Runs `save`: the running state written to `path`, which `fwxdp run` restores.
pub(super) fn save_to(root: &PinRoot, path: &Path) -> Result<(), CliError> {
    require_root()?;
    // Held while reading and writing, so no edit lands between the two.
    let _lock = StateLock::acquire()?;
    let (running, unfiltered) = gather(root)?;
    if !unfiltered.is_empty() {
        return Err(CliError::SaveUnfiltered {
            names: unfiltered.join(", "),
        });
    }
    let present = present()?;
    // A link (to a file config management keeps elsewhere) is followed, not replaced.
    let resolved = fs::canonicalize(path);
    let path = resolved.as_deref().unwrap_or(path);
    let existing = match fs::metadata(path) {
        Ok(_) => {
            let text = config::read(path).map_err(super::UsageError::from)?;
            // What is wrong with it, with its lines, and nothing written.
            config::parse_at(path, &text).map_err(super::UsageError::from)?;
            Some(text)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(source) => return Err(write_error(path, source)),
    };
    let saved = save(existing.as_deref(), &running, &present).map_err(|source| CliError::Save {
        path: path.to_owned(),
        source,
    })?;
    crate::file::replace(path, saved.text.as_bytes(), None)
        .map_err(|source| write_error(path, source))?;
    let names: Vec<&str> = running.iter().map(|r| r.name.as_str()).collect();
    if names.is_empty() {
        say!("{}: written; nothing is attached now", path.display());
    } else {
        say!(
            "{}: written; `fwxdp run` restores {}",
            path.display(),
            names.join(", ")
        );
    }
    for note in &saved.notes {
        say!("note: {note}");
    }
    Ok(())
}

/// Runs `diff`: every way the running state differs from the config at `path`; fails when
/// there is one, as diff(1) does.
pub(super) fn diff(root: &PinRoot, path: &Path) -> Result<(), CliError> {
    require_root()?;
    let config = config::load(path).map_err(super::UsageError::from)?;
    let (running, unfiltered) = gather(root)?;
    let mut found: Vec<String> = unfiltered
        .iter()
        .map(|u| format!("{u}: pinned but NOT filtered (`fwxdp status` says why)"))
        .collect();
    found.extend(
        differences(&config, &running, &present()?)
            .iter()
            .map(ToString::to_string),
    );
    if found.is_empty() {
        say!("{}: a boot with it restores what runs now", path.display());
        return Ok(());
    }
    say!(
        "{}: differs from what runs (+ runs and the file lacks it, - the file has it and it \
         does not run)",
        path.display()
    );
    for difference in &found {
        say!("  {difference}");
    }
    Err(CliError::Differs {
        path: path.to_owned(),
        count: found.len(),
    })
}

/// The interfaces attached under `root` as they run, and the names of those pinned but
/// not filtered now (recreated, detached behind fwxdp's back, renamed, unknown), which
/// no config can say. An interface that is gone is kept, for when it comes back; one whose
/// pins belong to another network namespace sharing the pin root is not this host's.
fn gather(root: &PinRoot) -> Result<(Vec<Running>, Vec<String>), CliError> {
    let mut running = Vec::new();
    let mut unfiltered = Vec::new();
    for mut pinned in PinnedInterface::all(root)? {
        match pinned.filtering() {
            Filtering::Yes | Filtering::InterfaceGone => {
                running.push(Running::of(&mut pinned)?);
            }
            Filtering::Elsewhere { .. } => {}
            other => unfiltered.push(format!("{} ({})", pinned.name(), other.label())),
        }
    }
    Ok((running, unfiltered))
}

/// The interfaces this host has now, loopback aside. A listing that fails fails the
/// command: without it, names the file lists could be kept or taken out wrongly.
fn present() -> Result<Vec<String>, CliError> {
    Ok(crate::netlink::links::list()
        .map_err(CliError::Links)?
        .into_iter()
        .filter(|l| !l.loopback)
        .map(|l| l.name)
        .collect())
}

fn write_error(path: &Path, source: io::Error) -> CliError {
    CliError::Write {
        path: path.to_owned(),
        source,
    }
}
