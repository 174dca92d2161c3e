//! The BPF object that build.rs compiled, embedded in the binary, and one loaded instance.

use std::{path::Path, sync::PoisonError};

use aya::{
    Ebpf, EbpfError, EbpfLoader,
    maps::{HashMap, Map, MapData, ProgramArray},
    programs::{Program, ProgramError, ProgramFd, SchedClassifier, Xdp},
};
use fwxdp_common::{Config, FlowKey, map_name, program_name};

use crate::{
    policy::Policy,
    state::{
        BlockPins, Blocklist, BlocksError, CounterMaps, MapPin, MapSource, MapsError, PinDir,
        PolicyMaps, ProgramPin,
    },
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
    #[error("the BPF object has no map {name}")]
    MissingMap { name: &'static str },
    #[error(transparent)]
    Blocks(#[from] BlocksError),
    #[error(
        "the loaded program does not use the blocklist pinned at {path}: it would not drop \
         blocked sources"
    )]
    BlocksNotShared { path: std::path::PathBuf },
    #[error("cannot open the blocklist: {path} is pinned but {missing} is not")]
    HalfPinnedBlocks {
        path: std::path::PathBuf,
        missing: std::path::PathBuf,
    },
    #[error("cannot open the blocklist pinned at {path}")]
    OpenBlocks {
        path: std::path::PathBuf,
        source: aya::maps::MapError,
    },
    #[error(transparent)]
    Root(crate::state::PinError),
    #[error("cannot hand tunnel packets to program {name}")]
    Inner {
        name: &'static str,
        source: aya::maps::MapError,
    },
}

/// Makes the blocklist's maps and pins them at `pins`, loading no program.
pub fn make_blocks(pins: &BlockPins) -> Result<(Map, Map), ObjectError> {
    let mut ebpf = load_object(Some(pins)).map_err(ObjectError::Load)?;
    Ok((
        take(&mut ebpf, map_name::BLOCKS)?,
        take(&mut ebpf, map_name::BLOCK_COUNTS)?,
    ))
}

fn take(ebpf: &mut Ebpf, name: &'static str) -> Result<Map, ObjectError> {
    ebpf.take_map(name).ok_or(ObjectError::MissingMap { name })
}

/// Loads [`OBJECT`] with one loader per kind of load in this process: aya parses the
/// kernel's BTF (megabytes of it) whenever a loader is made, which would otherwise be half
/// of each attach the service makes for an interface that just appeared. With `blocks`, the
/// instance takes the blocklist pinned there (or makes and pins it); without, it has one of
/// its own (tests, benchmarks).
/// A loader without the kernel's BTF: the programs read only the UAPI contexts and maps,
/// so nothing needs relocating, and parsing `/sys/kernel/btf/vmlinux` (kept as long as the
/// loader) was most of the process's memory and a tenth of a fresh attach.
fn loader() -> EbpfLoader<'static> {
    let mut loader = EbpfLoader::new();
    loader.btf(None);
    loader
}

fn load_object(blocks: Option<&BlockPins>) -> Result<Ebpf, EbpfError> {
    type Loader = std::sync::LazyLock<std::sync::Mutex<EbpfLoader<'static>>>;
    static SHARED: Loader = std::sync::LazyLock::new(|| std::sync::Mutex::new(loader()));
    static OWN: Loader = std::sync::LazyLock::new(|| std::sync::Mutex::new(loader()));
    let lock = |loader: &'static Loader| loader.lock().unwrap_or_else(PoisonError::into_inner);
    match blocks {
        Some(pins) => lock(&SHARED)
            .map_pin_path(map_name::BLOCKS, pins.trie.clone())
            .map_pin_path(map_name::BLOCK_COUNTS, pins.counts.clone())
            .load(OBJECT),
        None => lock(&OWN).load(OBJECT),
    }
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
    /// The drop log's ring buffer, held like the rate-limit state.
    pub log: Map,
    /// The blocklist: the pin root's shared one, or this instance's own.
    pub blocks: Blocklist,
    /// The kernel's ids of the blocklist's maps, to check that they are the shared ones.
    block_ids: [Option<u32>; 2],
    /// Where the ingress programs hand tunnel packets over.
    inner: InnerArrays,
}

impl Loaded {
    /// Loads the object and installs `config` with `policy` in its generation. With `pin_dir`,
    /// every map is pinned there. Programs are loaded (verified) when first asked for.
    pub fn new(
        policy: &Policy,
        config: &Config,
        pin_dir: Option<&Path>,
    ) -> Result<Self, ObjectError> {
        let mut ebpf = load_object(None).map_err(ObjectError::Load)?;
        let inner = InnerArrays::take(&mut ebpf)?;
        Self::install(ebpf, inner, policy, config, pin_dir)
    }

    /// [`Loaded::new`] with the blocklist pinned at `blocks`, which every interface of a pin
    /// root shares (made there if it is not yet).
    pub fn with_blocks(
        policy: &Policy,
        config: &Config,
        pin_dir: Option<&Path>,
        blocks: &BlockPins,
    ) -> Result<Self, ObjectError> {
        let mut ebpf = load_object(Some(blocks)).map_err(ObjectError::Load)?;
        let inner = InnerArrays::take(&mut ebpf)?;
        let loaded = Self::install(ebpf, inner, policy, config, pin_dir)?;
        loaded.check_blocks(blocks)?;
        Ok(loaded)
    }

    /// Fails unless this instance's blocklist is the one pinned at `pins`: a program with a
    /// blocklist of its own would let blocked sources in.
    pub fn check_blocks(&self, pins: &BlockPins) -> Result<(), ObjectError> {
        if self.block_ids[0].is_some() && self.block_ids == pinned_ids(pins) {
            Ok(())
        } else {
            Err(ObjectError::BlocksNotShared {
                path: pins.trie.clone(),
            })
        }
    }

    /// [`Loaded::new`] on an instance whose programs were verified ahead of need.
    pub fn from_spare(
        spare: Spare,
        policy: &Policy,
        config: &Config,
        pin_dir: Option<&Path>,
    ) -> Result<Self, ObjectError> {
        Self::install(spare.ebpf, spare.inner, policy, config, pin_dir)
    }

    fn install(
        mut ebpf: Ebpf,
        inner: InnerArrays,
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
        let log = source.map(MapPin::Log)?;
        if let Some(dir) = pin_dir {
            inner.pin(dir)?;
        }
        // Not pinned with the interface: they are the pin root's (or this instance's own).
        let trie = take(&mut ebpf, map_name::BLOCKS)?;
        let counts = take(&mut ebpf, map_name::BLOCK_COUNTS)?;
        let block_ids = [map_id(&trie), map_id(&counts)];
        let blocks = Blocklist::new(trie, counts)?;
        policy_maps.write_generation(config.generation, policy)?;
        policy_maps.set_config(config)?;
        Ok(Self {
            ebpf,
            policy: policy_maps,
            counters,
            flows,
            _rates: rates,
            log,
            blocks,
            block_ids,
            inner,
        })
    }

    /// The XDP ingress program, loaded into the kernel, with the program it hands tunnel
    /// packets to.
    pub fn xdp(&mut self) -> Result<&mut Xdp, ObjectError> {
        self.inner.fill_xdp(&mut self.ebpf)?;
        load_xdp(&mut self.ebpf, program_name::XDP_INGRESS)
    }

    /// A TC program ([`program_name::TC_INGRESS`] or [`program_name::TC_EGRESS`]), loaded;
    /// the ingress one with the program it hands tunnel packets to.
    pub fn tc(&mut self, name: &'static str) -> Result<&mut SchedClassifier, ObjectError> {
        if name == program_name::TC_INGRESS {
            self.inner.fill_tc(&mut self.ebpf)?;
        }
        load_tc(&mut self.ebpf, name)
    }

    /// Loads every program, the verifier checking them in parallel.
    ///
    /// # Errors
    /// The first program the kernel refused.
    pub fn load_all(&mut self) -> Result<(), ObjectError> {
        load_all(&mut self.ebpf)
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
    inner: InnerArrays,
}

impl Spare {
    /// Loads the object and every program in it, with the blocklist pinned at `blocks`.
    pub fn new(blocks: &BlockPins) -> Result<Self, ObjectError> {
        let mut ebpf = load_object(Some(blocks)).map_err(ObjectError::Load)?;
        let mut inner = InnerArrays::take(&mut ebpf)?;
        load_all(&mut ebpf)?;
        inner.fill_xdp(&mut ebpf)?;
        inner.fill_tc(&mut ebpf)?;
        load_xdp(&mut ebpf, program_name::XDP_INGRESS)?;
        load_tc(&mut ebpf, program_name::TC_INGRESS)?;
        load_tc(&mut ebpf, program_name::TC_EGRESS)?;
        Ok(Self { ebpf, inner })
    }

    /// Whether this spare's blocklist is the one pinned at `pins`.
    #[must_use]
    pub fn shares_blocks(&self, pins: &BlockPins) -> bool {
        let own = [map_name::BLOCKS, map_name::BLOCK_COUNTS]
            .map(|name| self.ebpf.map(name).and_then(map_id));
        own[0].is_some() && own == pinned_ids(pins)
    }
}

/// The program arrays through which the ingress programs hand a tunnel packet to the
/// program that judges what it carries (a tail call): taken out of the object so that they
/// can be filled while its programs are loaded.
struct InnerArrays {
    xdp: Map,
    tc: Map,
}

impl InnerArrays {
    fn take(ebpf: &mut Ebpf) -> Result<Self, ObjectError> {
        Ok(Self {
            xdp: take(ebpf, map_name::XDP_INNER)?,
            tc: take(ebpf, map_name::TC_INNER)?,
        })
    }

    /// Pins both in `dir`. An array whose last reference from userspace goes is emptied by
    /// the kernel, and tunnel packets would then be dropped.
    fn pin(&self, dir: &Path) -> Result<(), ObjectError> {
        for (map, pin) in [(&self.xdp, MapPin::XdpInner), (&self.tc, MapPin::TcInner)] {
            let path = dir.join(pin.pin_name());
            map.pin(&path).map_err(|source| {
                ObjectError::Maps(MapsError::Pin {
                    name: pin.object_name(),
                    path,
                    source: Box::new(source),
                })
            })?;
        }
        Ok(())
    }

    /// Loads the XDP inner program and puts it in its array.
    fn fill_xdp(&mut self, ebpf: &mut Ebpf) -> Result<(), ObjectError> {
        let name = program_name::XDP_INNER;
        let fd = load_xdp(ebpf, name)?
            .fd()
            .map_err(|source| ObjectError::Program { name, source })?;
        set_inner(&mut self.xdp, name, fd)
    }

    /// Loads the TC inner program and puts it in its array.
    fn fill_tc(&mut self, ebpf: &mut Ebpf) -> Result<(), ObjectError> {
        let name = program_name::TC_INNER;
        let fd = load_tc(ebpf, name)?
            .fd()
            .map_err(|source| ObjectError::Program { name, source })?;
        set_inner(&mut self.tc, name, fd)
    }
}

fn set_inner(array: &mut Map, name: &'static str, fd: &ProgramFd) -> Result<(), ObjectError> {
    ProgramArray::try_from(array)
        .and_then(|mut array| array.set(0, fd, 0))
        .map_err(|source| ObjectError::Inner { name, source })
}

/// The kernel's id of a map.
fn map_id(map: &Map) -> Option<u32> {
    let (Map::LpmTrie(data) | Map::Array(data)) = map else {
        return None;
    };
    data.info().map(|info| info.id()).ok()
}

/// The kernel's ids of the maps pinned at `pins`.
fn pinned_ids(pins: &BlockPins) -> [Option<u32>; 2] {
    [&pins.trie, &pins.counts].map(|path| {
        MapData::from_pin(path)
            .and_then(|map| map.info())
            .map(|info| info.id())
            .ok()
    })
}

/// Loads every program of `ebpf` not loaded yet, each on a thread of its own: verification
/// is most of a fresh attach, and the kernel verifies a privileged caller's programs in
/// parallel (five programs: about 190 ms one after another on this machine's two cores,
/// half that together).
fn load_all(ebpf: &mut Ebpf) -> Result<(), ObjectError> {
    let pending: Vec<(&str, &mut Program)> = ebpf
        .programs_mut()
        .filter(|(_, program)| program.fd().is_err())
        .collect();
    std::thread::scope(|scope| {
        let loads: Vec<_> = pending
            .into_iter()
            .map(|(name, program)| {
                let load = scope.spawn(move || match program {
                    Program::Xdp(program) => program.load(),
                    Program::SchedClassifier(program) => program.load(),
                    // The object holds no other kind; `program_mut` would refuse it later.
                    _ => Ok(()),
                });
                (name, load)
            })
            .collect();
        for (name, load) in loads {
            let name = static_name(name);
            load.join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                .map_err(|source| ObjectError::Program { name, source })?;
        }
        Ok(())
    })
}

/// The program name constant equal to `name` (what errors carry), or a generic one.
fn static_name(name: &str) -> &'static str {
    [
        program_name::XDP_INGRESS,
        program_name::TC_INGRESS,
        program_name::TC_EGRESS,
        program_name::XDP_INNER,
        program_name::TC_INNER,
    ]
    .into_iter()
    .find(|known| *known == name)
    .unwrap_or("an unknown program")
}

fn load_xdp<'a>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut Xdp, ObjectError> {
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
    &'a mut T: TryFrom<&'a mut Program, Error = ProgramError>,
{
    let program = ebpf
        .program_mut(name)
        .ok_or(ObjectError::MissingProgram { name })?;
    program
        .try_into()
        .map_err(|source| ObjectError::Program { name, source })
}
