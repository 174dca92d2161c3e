//! The shapes serde reads a config file into, before validation.

use serde::Deserialize;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    #[serde(default, rename = "interface")]
    pub(super) interfaces: Vec<RawInterface>,
    pub(super) metrics: Option<RawMetrics>,
    /// Says that a file without interfaces is meant (a reload with it detaches them all).
    #[serde(default)]
    pub(super) filter_nothing: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawInterface {
    pub(super) name: Spanned<OneOrMany>,
    #[serde(default)]
    pub(super) allow: Vec<Spanned<String>>,
    /// Per-source rate limits (`22/tcp=4/60s`); a limited port is allowed.
    #[serde(default)]
    pub(super) limit: Vec<Spanned<String>>,
    pub(super) mode: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) monitor: bool,
    /// Drop events logged per second per CPU (0: none).
    #[serde(default = "default_log_rate")]
    pub(super) log_rate: u32,
    /// Says that an empty allow list (every new connection dropped, SSH too) is meant.
    #[serde(default)]
    pub(super) allow_nothing: bool,
    /// Says that a reload may refuse new logins to an SSH session established now.
    #[serde(default)]
    pub(super) close_ssh: bool,
}

const fn default_log_rate() -> u32 {
    fwxdp_common::LOG_RATE_DEFAULT
}

/// `name = "eth0"` or `name = ["eth*", "en*"]`.
#[derive(Deserialize)]
#[serde(untagged, expecting = "a name or pattern, or a list of them")]
pub(super) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub(super) fn items(&self) -> &[String] {
        match self {
            Self::One(one) => std::slice::from_ref(one),
            Self::Many(many) => many,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetrics {
    pub(super) listen: Option<Spanned<String>>,
    pub(super) max_port_series: Option<usize>,
}
