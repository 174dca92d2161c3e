//! `fwxdp save` and `fwxdp diff`: the running state of every attached interface written
//! as the service's config, or compared with it.

use std::{
    fs,
    io::{self, Write as _},
    os::unix::fs::PermissionsExt as _,
    path::Path,
};

use super::{error::CliError, process::require_root};
use crate::{
    mode::AttachMode,
    service::config::{
        self,
        diff::differences,
        save::{Running, save},
    },
    state::{PinRoot, PinnedInterface, StateLock},
};

/// Runs `save`: the running state written to `path`, which `fwxdp run` restores.
pub(super) fn save_to(root: &PinRoot, path: &Path) -> Result<(), CliError> {
    require_root()?;
    // Held while reading and writing, so no edit lands between the two.
    let _lock = StateLock::acquire()?;
    let running = running(root)?;
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
    let saved =
        save(existing.as_deref(), &running, &present()).map_err(|source| CliError::Save {
            path: path.to_owned(),
            source,
        })?;
    write(path, &saved.text).map_err(|source| write_error(path, source))?;
    let names: Vec<&str> = running.iter().map(|r| r.name.as_str()).collect();
    if names.is_empty() {
        say!(
            "{}: written; nothing is attached, so a boot with it filters nothing",
            path.display()
        );
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
    let running = running(root)?;
    let found = differences(&config, &running, &present());
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

/// Every attached interface as it runs; an interface that cannot be read fails the command,
/// so that nothing is written from half the state.
fn running(root: &PinRoot) -> Result<Vec<Running>, CliError> {
    let mut all = Vec::new();
    for mut pinned in PinnedInterface::all(root)? {
        let iface = pinned.name().to_owned();
        let read = |source| CliError::Running {
            iface: iface.clone(),
            source,
        };
        let config = pinned.config().map_err(read)?;
        let policy = pinned.policy(config.generation).map_err(read)?;
        all.push(Running {
            name: iface.clone(),
            policy,
            // A mode the pins cannot say (never written so) is attached afresh as auto.
            mode: AttachMode::from_raw(config.mode).unwrap_or_default(),
            monitor: config.monitor(),
            log_rate: config.log_rate,
        });
    }
    Ok(all)
}

/// The interfaces this host has now, loopback aside. A listing that fails gives none: the
/// names the file lists are then all kept.
fn present() -> Vec<String> {
    crate::netlink::links::list()
        .unwrap_or_default()
        .into_iter()
        .filter(|l| !l.loopback)
        .map(|l| l.name)
        .collect()
}

/// Replaces `path` with `text` at once: a crash leaves the old file or the new one, never
/// half of either. Its permissions are kept; a new file is 0644 in a directory made for it.
fn write(path: &Path, text: &str) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir)?;
    let mode = fs::metadata(path).map_or(0o644, |m| m.permissions().mode() & 0o7777);
    let name = path
        .file_name()
        .map_or_else(|| "fwxdp.toml".into(), |n| n.to_string_lossy().into_owned());
    let staged = dir.join(format!(".{name}.fwxdp-save.{}", std::process::id()));
    let result = (|| {
        let mut file = fs::File::create(&staged)?;
        file.write_all(text.as_bytes())?;
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.sync_all()?;
        fs::rename(&staged, path)?;
        fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _: io::Result<()> = fs::remove_file(&staged);
    }
    result
}

fn write_error(path: &Path, source: io::Error) -> CliError {
    CliError::Write {
        path: path.to_owned(),
        source,
    }
}
