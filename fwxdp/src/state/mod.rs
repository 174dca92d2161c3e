//! What fwxdp keeps on bpffs, and the only code that touches it.
//!
//! - [`names`]: the one table of map, program and link pin names.
//! - [`root`] and [`pins`]: the pin root with a directory per interface, and a directory of
//!   pins with a removal that touches only what fwxdp pinned; [`links`]: the roles its links
//!   hold, as pinned BPF links or TC filters that [`records`] keeps track of.
//! - [`maps`] and [`counters`]: typed map handles, the policy's reads and writes, counter
//!   totals read in batches through [`sys`].
//! - [`handover`]: a link role moved to a directory of another layout, judged throughout.
//! - [`layout`]: what pins of every layout share, read before anything is opened by type.
//! - [`pinned`]: [`PinnedInterface`], an attached interface's state as one object;
//!   [`running`]: what runs on it, as `save`, `diff` and a revert use it.
//! - [`lock`]: the lock that serialises fwxdp invocations.
//! - [`blocks`]: the blocklist every interface of the pin root shares.
//! - [`droplog`]: the events of the drop log, read from an interface's ring buffer.

pub mod blocks;
pub mod counters;
pub mod droplog;
pub mod handover;
pub mod layout;
pub mod links;
pub mod lock;
pub mod maps;
pub mod names;
pub mod pinned;
pub mod pins;
pub mod records;
pub mod root;
pub mod running;
mod sys;

pub use blocks::{Block, Blocklist, BlocksError, Scope};
pub use counters::{CounterMaps, PortTotal, Totals};
pub use droplog::{DropEntry, DropReader};
pub use layout::PinnedLayout;
pub use links::{Attachment, Hold, Mechanism};
pub use lock::{LockError, StateLock};
pub use maps::{MapSource, MapsError, PolicyMaps};
pub use names::{LinkPin, MapPin, ProgramPin};
pub use pinned::{Filtering, PinnedInterface};
pub use pins::{PinDir, PinError};
pub use root::{BlockPins, DEFAULT_PIN_ROOT, PinRoot};
pub use running::{Running, RunningError};
