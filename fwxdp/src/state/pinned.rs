//! [`PinnedInterface`]: everything fwxdp keeps on bpffs for one attached interface, opened
//! once and asked for what it holds.

use fwxdp_common::Config;

use super::{
    counters::{CounterMaps, Totals},
    layout::PinnedLayout,
    links::{Hold, Mechanism},
    maps::{MapSource, MapsError, PolicyMaps},
    names::LinkPin,
    pins::{PinDir, PinError},
    root::PinRoot,
};
use crate::{iface, policy::Policy};

/// Whether an attached interface is filtered, as the kernel has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Filtering {
    /// The ingress program is attached to the live interface.
    Yes,
    /// The interface the pins were made for no longer exists.
    InterfaceGone,
    /// An interface of that name exists, but it is another one: the one filtered was
    /// deleted and this one made since (index `now`).
    Recreated { now: u32 },
    /// The interface is there, but the program is no longer attached to it (detached
    /// behind fwxdp's back).
    Detached,
    /// The filter is in force on this namespace's interface `ifindex`, which has another
    /// name now: renamed. The pins belong under the new name.
    Renamed { ifindex: u32 },
    /// The filter is in force, but on another device (interface index `ifindex` of its own
    /// namespace): the pins belong to another network namespace that shares this pin root.
    /// Nothing may remove it from here.
    Elsewhere { ifindex: u32 },
    /// The kernel could not be asked.
    Unknown(String),
}

impl Filtering {
    /// Whether the interface is filtered.
    #[must_use]
    pub fn is_yes(&self) -> bool {
        *self == Self::Yes
    }

    /// A short label for metrics: `filtered`, `interface_gone`, `recreated`, `detached`,
    /// `renamed`, `elsewhere`, `unknown`.
    #[must_use]
    pub fn label(&self) -> &'static str {
        match self {
            Self::Yes => "filtered",
            Self::InterfaceGone => "interface_gone",
            Self::Recreated { .. } => "recreated",
            Self::Detached => "detached",
            Self::Renamed { .. } => "renamed",
            Self::Elsewhere { .. } => "elsewhere",
            Self::Unknown(_) => "unknown",
        }
    }
}

impl std::fmt::Display for Filtering {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Yes => f.write_str("filtered"),
            Self::InterfaceGone => f.write_str("the interface no longer exists"),
            Self::Recreated { now } => write!(
                f,
                "the interface was deleted and made again (now index {now}); the new one is \
                 not filtered"
            ),
            Self::Detached => f.write_str("the program is no longer attached to the interface"),
            Self::Renamed { ifindex } => write!(
                f,
                "its filter is in force on interface index {ifindex}, which has another name \
                 now (renamed)"
            ),
            Self::Elsewhere { ifindex } => write!(
                f,
                "its filter is in force on another device (interface index {ifindex} of its \
                 namespace): these pins belong to another network namespace sharing the pin \
                 root"
            ),
            Self::Unknown(why) => write!(f, "cannot tell: {why}"),
        }
    }
}

/// The pinned state of one attached interface: its directory of pins, its policy maps
/// (opened on first use, then kept), its counters and its links; and, while an upgrade to
/// another pin layout is under way, the directory that takes its links over.
pub struct PinnedInterface {
    name: String,
    dir: PinDir,
    policy: Option<PolicyMaps>,
    upgrade: Option<PinDir>,
}

impl PinnedInterface {
    /// The pinned state of `iface` under `root`, or `None` when it has none. Nothing is
    /// opened yet, so state that cannot be read can still be found and removed. An upgrade
    /// interrupted after the old pins were removed leaves its own directory only: that is
    /// then the interface's.
    #[must_use]
    pub fn find(root: &PinRoot, iface: &str) -> Option<Self> {
        let upgrade = Some(root.upgrade_dir(iface)).filter(PinDir::exists);
        let (dir, upgrade) = match root.iface_dir(iface) {
            dir if dir.exists() => (dir, upgrade),
            _ => (upgrade?, None),
        };
        Some(Self {
            name: iface.to_owned(),
            dir,
            policy: None,
            upgrade,
        })
    }

    /// Every interface pinned under `root`, sorted by name, after checking that the root
    /// is on a bpffs. Empty when the root does not exist. An attach killed just before its
    /// final rename left a whole filter in a staging directory: it filters, so it is listed
    /// (from there) until the next sweep ([`PinRoot::sweep_staging`]) takes it over.
    pub fn all(root: &PinRoot) -> Result<Vec<Self>, PinError> {
        root.verify()?;
        // Staging first: an attach that renames its staging directory into place between
        // the two reads is then seen in both (and listed once), never in neither.
        let staging: Vec<(String, PinDir)> = root
            .staging_dirs()
            .into_iter()
            .filter(|(_, dir)| {
                dir.holds(LinkPin::Ingress)
                    || dir
                        .pinned_config()
                        .is_some_and(|c| dir.runs_unrecorded_ingress(c.ifindex).unwrap_or(true))
            })
            .collect();
        let mut all: Vec<Self> = root
            .interfaces()?
            .into_iter()
            .filter_map(|name| Self::find(root, &name))
            .collect();
        for (name, dir) in staging {
            if all.iter().any(|p| p.name == name) {
                continue;
            }
            // Renamed into place since the first read: it is in the interface's own
            // directory now (a rename is atomic: it is in one or the other).
            let dir = if dir.exists() {
                dir
            } else {
                root.iface_dir(&name)
            };
            all.push(Self {
                name,
                dir,
                policy: None,
                upgrade: None,
            });
        }
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    /// The interface's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The directory of its pins.
    #[must_use]
    pub fn dir(&self) -> &PinDir {
        &self.dir
    }

    fn policy_maps(&mut self) -> Result<&mut PolicyMaps, MapsError> {
        let maps = match self.policy.take() {
            Some(maps) => maps,
            None => PolicyMaps::open(&mut MapSource::Pinned(self.dir.path()))?,
        };
        Ok(self.policy.insert(maps))
    }

    /// The configuration in force.
    pub fn config(&mut self) -> Result<Config, MapsError> {
        self.policy_maps()?.config()
    }

    /// Replaces the configuration in one map update: the atomic switch.
    pub fn set_config(&mut self, config: &Config) -> Result<(), MapsError> {
        self.policy_maps()?.set_config(config)
    }

    /// The policy stored in `generation`.
    pub fn policy(&mut self, generation: u8) -> Result<Policy, MapsError> {
        self.policy_maps()?.read_policy(generation)
    }

    /// Writes `policy` into `generation`, which must not be the one in force.
    pub fn write_policy(&mut self, generation: u8, policy: &Policy) -> Result<(), MapsError> {
        self.policy_maps()?.write_generation(generation, policy)
    }

    /// The counters, summed over CPUs.
    pub fn counters(&self) -> Result<Totals, MapsError> {
        CounterMaps::open(&mut MapSource::Pinned(self.dir.path()))?.totals()
    }

    /// Whether something holds `link`.
    #[must_use]
    pub fn has_link(&self, link: LinkPin) -> bool {
        self.dir.holds(link)
    }

    /// How `link` is attached, if it is.
    #[must_use]
    pub fn mechanism(&self, link: LinkPin) -> Option<Mechanism> {
        self.dir.mechanism(link)
    }

    /// The kernel's id of the program the ingress link runs: the truth about what filters.
    #[must_use]
    pub fn program_id(&self) -> Option<u32> {
        self.dir.program_id(LinkPin::Ingress)
    }

    /// The pin layout ([`fwxdp_common::CONFIG_VERSION`]) of the interface's pins.
    pub fn layout(&self) -> Result<PinnedLayout, MapsError> {
        self.dir.layout()
    }

    /// Whether the ingress program filters the live interface, as the kernel has it. During
    /// a mode switch the bridge link may be the one that filters; during an upgrade, the
    /// links the new layout took over. Pins of any layout can be asked.
    pub fn filtering(&mut self) -> Filtering {
        let config = match self.dir.layout() {
            Ok(config) => config,
            Err(e) => return Filtering::Unknown(crate::error::chain(&e)),
        };
        let now = iface::index(&self.name);
        let mut moved = None;
        let roles = [LinkPin::Ingress, LinkPin::Bridge];
        let upgrade = self
            .upgrade
            .iter()
            .flat_map(|dir| roles.map(|role| (dir, role)));
        for (dir, role) in roles
            .map(|role| (&self.dir, role))
            .into_iter()
            .chain(upgrade)
        {
            match dir.hold(role, config.ifindex) {
                Ok(Hold::Here) if now == Some(config.ifindex) => return Filtering::Yes,
                // This namespace's device of that index runs it, under another name now.
                Ok(Hold::Here) => {
                    moved = Some(Filtering::Renamed {
                        ifindex: config.ifindex,
                    });
                }
                Ok(Hold::Elsewhere { ifindex }) => moved = Some(Filtering::Elsewhere { ifindex }),
                Ok(Hold::Nothing) => {}
                Err(e) => return Filtering::Unknown(crate::error::chain(&e)),
            }
        }
        if let Some(moved) = moved {
            return moved;
        }
        // A killed command's filter that was never recorded filters all the same.
        let unrecorded = self
            .dir
            .runs_unrecorded_ingress(config.ifindex)
            .and_then(|here| match &self.upgrade {
                Some(upgrade) if !here => upgrade.runs_unrecorded_ingress(config.ifindex),
                _ => Ok(here),
            });
        match unrecorded {
            Ok(true) if now == Some(config.ifindex) => return Filtering::Yes,
            Ok(_) => {}
            Err(e) => return Filtering::Unknown(crate::error::chain(&e)),
        }
        match now {
            None => Filtering::InterfaceGone,
            Some(now) if now != config.ifindex => Filtering::Recreated { now },
            Some(_) => Filtering::Detached,
        }
    }

    /// Moves the pins under `root` to the name `to`, which must have none: the interface was
    /// renamed, and its links (bound to its index, not its name) filter on.
    /// An upgrade under way moves along (an upgrade's directory left alone is whole, and
    /// lands in place).
    pub fn rename(self, root: &PinRoot, to: &str) -> Result<Self, PinError> {
        let rename = |from: &PinDir, to: PinDir| {
            std::fs::rename(from.path(), to.path())
                .map(|()| to)
                .map_err(|e| PinError::io("rename", from.path(), e))
        };
        let upgrade = match &self.upgrade {
            Some(upgrade) => Some(rename(upgrade, root.upgrade_dir(to))?),
            None => None,
        };
        Ok(Self {
            name: to.to_owned(),
            dir: rename(&self.dir, root.iface_dir(to))?,
            policy: None,
            upgrade,
        })
    }

    /// Releases the links (which detaches the programs) and removes every pin, of an
    /// upgrade under way too.
    pub fn remove(self) -> Result<(), PinError> {
        self.dir.remove()?;
        self.upgrade.as_ref().map_or(Ok(()), PinDir::remove)
    }
}
