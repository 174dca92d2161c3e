//! [`PinnedInterface`]: everything fwxdp keeps on bpffs for one attached interface, opened
//! once and asked for what it holds.

use fwxdp_common::Config;

use super::{
    counters::{CounterMaps, Totals},
    links::Mechanism,
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
    /// `unknown`.
    #[must_use]
    pub fn label(&self) -> &'static str {
        match self {
            Self::Yes => "filtered",
            Self::InterfaceGone => "interface_gone",
            Self::Recreated { .. } => "recreated",
            Self::Detached => "detached",
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
            Self::Unknown(why) => write!(f, "cannot tell: {why}"),
        }
    }
}

/// The pinned state of one attached interface: its directory of pins, its policy maps
/// (opened on first use, then kept), its counters and its links.
pub struct PinnedInterface {
    name: String,
    dir: PinDir,
    policy: Option<PolicyMaps>,
}

impl PinnedInterface {
    /// The pinned state of `iface` under `root`, or `None` when it has none. Nothing is
    /// opened yet, so state that cannot be read can still be found and removed.
    #[must_use]
    pub fn find(root: &PinRoot, iface: &str) -> Option<Self> {
        let dir = root.iface_dir(iface);
        dir.exists().then(|| Self {
            name: iface.to_owned(),
            dir,
            policy: None,
        })
    }

    /// Every interface pinned under `root`, sorted by name, after checking that the root
    /// is on a bpffs. Empty when the root does not exist. An attach killed just before its
    /// final rename left a whole filter in a staging directory: it filters, so it is listed
    /// (from there) until the next sweep ([`PinRoot::sweep_staging`]) takes it over.
    pub fn all(root: &PinRoot) -> Result<Vec<Self>, PinError> {
        root.verify()?;
        let mut all: Vec<Self> = root
            .interfaces()?
            .into_iter()
            .map(|name| Self {
                dir: root.iface_dir(&name),
                name,
                policy: None,
            })
            .collect();
        for (name, dir) in root.staging_dirs() {
            if dir.holds(LinkPin::Ingress) && !all.iter().any(|p| p.name == name) {
                all.push(Self {
                    name,
                    dir,
                    policy: None,
                });
            }
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

    /// Whether the ingress program filters the live interface, as the kernel has it. During
    /// a mode switch the bridge link may be the one that filters.
    pub fn filtering(&mut self) -> Filtering {
        let config = match self.config() {
            Ok(config) => config,
            Err(e) => return Filtering::Unknown(crate::error::chain(&e)),
        };
        match iface::index(&self.name) {
            None => return Filtering::InterfaceGone,
            Some(now) if now != config.ifindex => return Filtering::Recreated { now },
            Some(_) => {}
        }
        for role in [LinkPin::Ingress, LinkPin::Bridge] {
            match self.dir.attached_to(role, config.ifindex) {
                Ok(true) => return Filtering::Yes,
                Ok(false) => {}
                Err(e) => return Filtering::Unknown(crate::error::chain(&e)),
            }
        }
        Filtering::Detached
    }

    /// Moves the pins under `root` to the name `to`, which must have none: the interface was
    /// renamed, and its links (bound to its index, not its name) filter on.
    pub fn rename(self, root: &PinRoot, to: &str) -> Result<Self, PinError> {
        let dest = root.iface_dir(to);
        std::fs::rename(self.dir.path(), dest.path())
            .map_err(|e| PinError::io("rename", self.dir.path(), e))?;
        Ok(Self {
            name: to.to_owned(),
            dir: dest,
            policy: None,
        })
    }

    /// Releases the links (which detaches the programs) and removes every pin.
    pub fn remove(self) -> Result<(), PinError> {
        self.dir.remove()
    }
}
