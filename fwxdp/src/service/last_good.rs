//! The last config the service applied successfully, kept so that a config broken at boot
//! still brings up the filter it had (`/var/lib/fwxdp/last-good.toml`).

use std::{
    io,
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

    /// Keeps `text` as the last good config, whole ([`crate::file::replace`]): a crash
    /// leaves the old copy or the new one, never half of one.
    pub(super) fn save(&self, text: &str) -> io::Result<()> {
        crate::file::replace(&self.path, text.as_bytes(), Some(0o644))
    }

    /// Keeps `text` as the last good config, and says so when it cannot: the filter does
    /// not depend on it.
    pub(super) fn keep(&self, text: &str) {
        if let Err(e) = self.save(text) {
            tracing::warn!(
                "cannot keep the config as the last good one in {}: {e}",
                self.path.display()
            );
        }
    }

    /// The last good config, validated again (by this build).
    pub(super) fn load(&self) -> Result<(String, ServiceConfig), ConfigError> {
        config::load_text(&self.path)
    }
}
