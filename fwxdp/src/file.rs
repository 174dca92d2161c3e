//! Replacing a file whole: the one way fwxdp writes a file that must never be seen half
//! written (the config `save` writes, the last good config, the records of changes
//! waiting for confirmation).

use std::{
    fs,
    io::{self, Write as _},
    os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _},
    path::Path,
};

/// Replaces `path` with `bytes`: written beside it under a name of its own (made new, so
/// never a file or link someone left there), flushed, renamed over, and the directory
/// flushed. A crash leaves the old file or the new one. The file gets `mode`, or keeps the
/// mode it had when `mode` is `None` (0644 for a new one); its directory is made when
/// missing.
///
/// # Errors
/// When the directory or the file cannot be written.
pub fn replace(path: &Path, bytes: &[u8], mode: Option<u32>) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir)?;
    let mode = mode
        .unwrap_or_else(|| fs::metadata(path).map_or(0o644, |m| m.permissions().mode() & 0o7777));
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    // Hidden and of another suffix: never taken for the file itself.
    let staged = dir.join(format!(".{name}.{}.{nanos:x}.new", std::process::id()));
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&staged)?;
        // The umask may have narrowed it.
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&staged, path)
    })();
    if result.is_err() {
        let _: io::Result<()> = fs::remove_file(&staged);
    }
    result?;
    fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_and_keeps_the_mode() {
        let dir = std::env::temp_dir().join(format!("fwxdp-file-{}", std::process::id()));
        let path = dir.join("sub").join("f.toml");
        replace(&path, b"one", None).expect("new");
        assert_eq!(fs::read(&path).expect("read"), b"one");
        let mode = |p: &Path| fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o644);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
        replace(&path, b"two", None).expect("again");
        assert_eq!(
            (fs::read(&path).expect("read"), mode(&path)),
            (b"two".to_vec(), 0o600)
        );
        replace(&path, b"three", Some(0o640)).expect("mode given");
        assert_eq!(mode(&path), 0o640);
        let left: Vec<_> = fs::read_dir(path.parent().expect("dir"))
            .expect("list")
            .filter_map(Result::ok)
            .collect();
        assert_eq!(left.len(), 1, "no staged file left");
        fs::remove_dir_all(&dir).expect("clean up");
    }
}
