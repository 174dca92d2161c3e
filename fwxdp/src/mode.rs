//! The attach mode: how the verdict program hooks into an interface.

use serde::{Deserialize, Serialize};

/// How the ingress verdict is attached: as asked for on the command line or in the config
/// (`auto` included), and as in force (never `auto`), stored in
/// [`fwxdp_common::Config::mode`] by its discriminant.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, clap::ValueEnum, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum AttachMode {
    /// Native XDP, falling back to generic XDP where the driver cannot.
    #[default]
    Auto = 0,
    /// XDP in the driver.
    Native = 1,
    /// XDP in the kernel's generic path.
    Generic = 2,
    /// A TC (clsact) ingress classifier.
    Tc = 3,
}

impl AttachMode {
    /// The mode in force that the pinned config stores as `raw`; `None` for anything else
    /// (`auto` is never in force).
    #[must_use]
    pub const fn from_raw(raw: u8) -> Option<Self> {
        match raw {
            1 => Some(Self::Native),
            2 => Some(Self::Generic),
            3 => Some(Self::Tc),
            _ => None,
        }
    }

    /// The value the pinned config stores.
    #[must_use]
    pub const fn raw(self) -> u8 {
        self as u8
    }

    /// The name used on the command line, in the config and in JSON.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Native => "native",
            Self::Generic => "generic",
            Self::Tc => "tc",
        }
    }

    /// Whether an interface attached in `in_force` satisfies this mode as a request.
    #[must_use]
    pub fn accepts(self, in_force: Self) -> bool {
        match self {
            Self::Auto => matches!(in_force, Self::Native | Self::Generic),
            wanted => wanted == in_force,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::ValueEnum as _;

    use super::AttachMode;

    #[test]
    fn names_agree_everywhere() {
        for &mode in AttachMode::value_variants() {
            assert_eq!(AttachMode::from_str(mode.name(), false), Ok(mode));
            let value = mode.to_possible_value().expect("every mode is a value");
            assert_eq!(value.get_name(), mode.name());
            let json = serde_json::to_string(&mode).expect("serialise");
            assert_eq!(json, format!("\"{}\"", mode.name()));
        }
        assert!(AttachMode::from_str("fast", false).is_err());
    }

    #[test]
    fn raw_values_round_trip_and_auto_is_never_in_force() {
        for mode in [AttachMode::Native, AttachMode::Generic, AttachMode::Tc] {
            assert_eq!(AttachMode::from_raw(mode.raw()), Some(mode));
        }
        assert_eq!(AttachMode::from_raw(AttachMode::Auto.raw()), None);
        assert_eq!(AttachMode::from_raw(9), None);
    }

    #[test]
    fn auto_accepts_either_xdp_mode() {
        assert!(AttachMode::Auto.accepts(AttachMode::Native));
        assert!(AttachMode::Auto.accepts(AttachMode::Generic));
        assert!(!AttachMode::Auto.accepts(AttachMode::Tc));
        assert!(AttachMode::Tc.accepts(AttachMode::Tc));
        assert!(!AttachMode::Native.accepts(AttachMode::Generic));
    }
}
