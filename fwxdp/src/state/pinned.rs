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
use crate::policy::Policy;

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

    /// Releases the links (which detaches the programs) and removes every pin.
    pub fn remove(self) -> Result<(), PinError> {
        self.dir.remove()
    }
}
