//! Where the VMs' kernels and root file systems come from: a cache outside the repository,
//! filled from the machine's own Debian mirror.

use std::fs;

use anyhow::{Result, bail};

/// Kernel packages, extracted kernels, initramfs trees, root file systems.
pub(crate) const CACHE: &str = "/var/cache/fwxdp-vmtest";

/// The Debian mirror of the machine's own sources.
pub(crate) fn mirror() -> Result<String> {
    let mut texts: Vec<String> = fs::read_to_string("/etc/apt/sources.list")
        .into_iter()
        .collect();
    if let Ok(dir) = fs::read_dir("/etc/apt/sources.list.d") {
        for entry in dir.filter_map(Result::ok) {
            texts.extend(fs::read_to_string(entry.path()).ok());
        }
    }
    for text in &texts {
        for line in text.lines() {
            let line = line.trim();
            let url = if let Some(uris) = line.strip_prefix("URIs:") {
                uris.split_whitespace().next()
            } else if line.starts_with("deb ") {
                line.split_whitespace().find(|w| w.starts_with("http"))
            } else {
                None
            };
            if let Some(url) = url
                && url.trim_end_matches('/').ends_with("/debian")
            {
                return Ok(url.trim_end_matches('/').to_owned());
            }
        }
    }
    bail!("no Debian mirror in /etc/apt/sources.list or sources.list.d")
}
