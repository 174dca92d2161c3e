//! The last config the service applied successfully, kept so that a config broken at boot
//! still brings up the filter it had (`/var/lib/fwxdp/last-good.toml`).

use std::{
    fs, io,
    io::Write as _,
    path::{Path, PathBuf},
};

use super::config::{self, ConfigError, ServiceConfig};

/// Where the service keeps its state unless told otherwise (systemd's `StateDirectory`).
pub const DEFAULT_STATE_DIR: &str = "/var/lib/fwxdp";

/// The copy of the last config applied successfully.
#[derive(Clone, Debug)]
pub(super) struct LastGood {
    path: PathBuf,
}

impl LastGood {
    pub(super) fn new(state_dir: &Path) -> Self {
        Self {
            path: state_dir.join("last-good.toml"),
        }
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps `text` as the last good config: written beside, flushed to disk, renamed
    /// over, so that a crash leaves the old copy or the new one, never half of one.
    pub(super) fn save(&self, text: &str) -> io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir)?;
        let temporary = self.path.with_extension("toml.new");
        let mut file = fs::File::create(&temporary)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        fs::rename(&temporary, &self.path)?;
        fs::File::open(dir)?.sync_all()
    }

    /// The last good config, validated again (by this build).
    pub(super) fn load(&self) -> Result<(String, ServiceConfig), ConfigError> {
        config::load_text(&self.path)
    }
}
