//! The BPF object that build.rs compiled, embedded in the binary, and one loaded instance.

use std::path::Path;

use aya::{
    Ebpf, EbpfError, EbpfLoader,
    maps::{HashMap, Map, MapData},
    programs::{ProgramError, SchedClassifier, Xdp},
};
use fwxdp_common::{Config, FlowKey, program_name};

use crate::{
    policy::Policy,
    state::{CounterMaps, MapPin, MapSource, MapsError, PinDir, PolicyMaps, ProgramPin},
};

/// The BPF object: the XDP and TC programs and their maps.
pub static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/fwxdp"));

/// A digest of [`OBJECT`], as `fwxdp --version` shows it.
pub const OBJECT_DIGEST: &str = env!("FWXDP_BPF_DIGEST");

#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error("cannot load the BPF object (is this kernel built with BPF, and are we root?)")]
    Load(#[source] EbpfError),
    #[error(transparent)]
    Maps(#[from] MapsError),
    #[error("the BPF object has no program {name}")]
    MissingProgram { name: &'static str },
    #[error("cannot load program {name}")]
    Program {
        name: &'static str,
        source: ProgramError,
    },
    #[error("cannot pin program at {path}")]
    Pin {
        path: std::path::PathBuf,
        source: aya::pin::PinError,
    },
}

/// Loads [`OBJECT`] with the one loader of this process: aya parses the kernel's BTF
/// (megabytes of it) whenever a loader is made, which would otherwise be half of each
/// attach the service makes for an interface that just appeared.
fn load_object() -> Result<Ebpf, EbpfError> {
    static LOADER: std::sync::LazyLock<std::sync::Mutex<EbpfLoader<'static>>> =
        std::sync::LazyLock::new(|| std::sync::Mutex::new(EbpfLoader::new()));
    LOADER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .load(OBJECT)
}

/// One instance of the object: maps created and filled, programs loaded on demand.
pub struct Loaded {
    ebpf: Ebpf,
    /// The policy maps.
    pub policy: PolicyMaps,
    /// The counters.
    pub counters: CounterMaps,
    /// Flows started by the host (an LRU hash): protocol, local and remote end → last seen
    /// (ns).
    pub flows: HashMap<MapData, FlowKey, u64>,
    /// The rate-limit state, which only the program reads and writes: taken so that it is
    /// pinned, and held so that the programs still to be loaded find it open.
    _rates: Map,
}

impl Loaded {
    /// Loads the object and installs `config` with `policy` in its generation. With `pin_dir`,
    /// every map is pinned there. Programs are loaded (verified) when first asked for.
    pub fn new(
        policy: &Policy,
        config: &Config,
        pin_dir: Option<&Path>,
    ) -> Result<Self, ObjectError> {
        Self::install(
            load_object().map_err(ObjectError::Load)?,
            policy,
            config,
            pin_dir,
        )
    }

    /// [`Loaded::new`] on an instance whose programs were verified ahead of need.
    pub fn from_spare(
        spare: Spare,
        policy: &Policy,
        config: &Config,
        pin_dir: Option<&Path>,
    ) -> Result<Self, ObjectError> {
        Self::install(spare.ebpf, policy, config, pin_dir)
    }

    fn install(
        mut ebpf: Ebpf,
        policy: &Policy,
        config: &Config,
        pin_dir: Option<&Path>,
    ) -> Result<Self, ObjectError> {
        let mut source = MapSource::Loaded {
            ebpf: &mut ebpf,
            pin_dir,
        };
        let mut policy_maps = PolicyMaps::open(&mut source)?;
        let counters = CounterMaps::open(&mut source)?;
        let flows = source.open(MapPin::Flows)?;
        // Userspace's own records; taken so that they are pinned with the rest.
        drop(source.map(MapPin::Links)?);
        let rates = source.map(MapPin::Rates)?;
        policy_maps.write_generation(config.generation, policy)?;
        policy_maps.set_config(config)?;
        Ok(Self {
            ebpf,
            policy: policy_maps,
            counters,
            flows,
            _rates: rates,
        })
    }

    /// The XDP ingress program, loaded into the kernel.
    pub fn xdp(&mut self) -> Result<&mut Xdp, ObjectError> {
        load_xdp(&mut self.ebpf)
    }

    /// A TC program ([`program_name::TC_INGRESS`] or [`program_name::TC_EGRESS`]), loaded.
    pub fn tc(&mut self, name: &'static str) -> Result<&mut SchedClassifier, ObjectError> {
        load_tc(&mut self.ebpf, name)
    }

    /// Loads `program` and pins it in `dir`.
    pub fn pin_program(&mut self, program: ProgramPin, dir: &PinDir) -> Result<(), ObjectError> {
        let path = dir.program(program);
        let pinned = match program {
            ProgramPin::Xdp => self.xdp()?.pin(&path),
            ProgramPin::TcIngress | ProgramPin::TcEgress => {
                self.tc(program.object_name())?.pin(&path)
            }
        };
        pinned.map_err(|source| ObjectError::Pin { path, source })
    }
}

/// An instance of the object whose programs are loaded, and so verified, ahead of need.
/// The verifier is most of a fresh attach (tens of milliseconds for the three programs), and
/// an interface that appears must be filtered before anything can configure it. Its maps
/// exist but are empty and unpinned, so one spare serves any policy; it costs the kernel
/// memory of one attached interface's maps.
pub struct Spare {
    ebpf: Ebpf,
}

impl Spare {
    /// Loads the object and every program in it.
    pub fn new() -> Result<Self, ObjectError> {
        let mut ebpf = load_object().map_err(ObjectError::Load)?;
        load_xdp(&mut ebpf)?;
        load_tc(&mut ebpf, program_name::TC_INGRESS)?;
        load_tc(&mut ebpf, program_name::TC_EGRESS)?;
        Ok(Self { ebpf })
    }
}

fn load_xdp(ebpf: &mut Ebpf) -> Result<&mut Xdp, ObjectError> {
    let name = program_name::XDP_INGRESS;
    let program: &mut Xdp = program(ebpf, name)?;
    if program.fd().is_err() {
        program
            .load()
            .map_err(|source| ObjectError::Program { name, source })?;
    }
    Ok(program)
}

fn load_tc<'a>(
    ebpf: &'a mut Ebpf,
    name: &'static str,
) -> Result<&'a mut SchedClassifier, ObjectError> {
    let program: &mut SchedClassifier = program(ebpf, name)?;
    if program.fd().is_err() {
        program
            .load()
            .map_err(|source| ObjectError::Program { name, source })?;
    }
    Ok(program)
}

fn program<'a, T>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut T, ObjectError>
where
    &'a mut T: TryFrom<&'a mut aya::programs::Program, Error = ProgramError>,
{
    let program = ebpf
        .program_mut(name)
        .ok_or(ObjectError::MissingProgram { name })?;
    program
        .try_into()
        .map_err(|source| ObjectError::Program { name, source })
}
