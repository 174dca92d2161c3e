//! The blocklist of a pin root: one LPM trie shared by every attached interface, holding
//! blocks on every interface and blocks on one interface's name, each with an optional
//! expiry (monotonic clock, as the program reads it).

use std::{net::IpAddr, time::Duration};

use aya::maps::{Array, LpmTrie, Map, MapData, MapError, lpm_trie::Key};
use fwxdp_common::{
    BLOCK_KEY_FIXED_BITS, BLOCK_SCOPE_ALL, BLOCKS_MAX_ENTRIES, BlockCounts, BlockEntry, BlockKey,
    FAMILY_V4, FAMILY_V6, block_scope,
};
use ipnet::IpNet;

/// Where a block applies.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Every interface, attached now or later.
    All,
    /// The interface of this name, attached now or later.
    Interface(String),
}

impl Scope {
    fn hash(&self) -> u32 {
        match self {
            Self::All => BLOCK_SCOPE_ALL,
            Self::Interface(name) => block_scope(name.as_bytes()),
        }
    }

    fn name_bytes(&self) -> [u8; 16] {
        let mut out = [0; 16];
        if let Self::Interface(name) = self {
            let bytes = name.as_bytes();
            let len = bytes.len().min(out.len());
            out[..len].copy_from_slice(&bytes[..len]);
        }
        out
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::All => f.write_str("all"),
            Self::Interface(name) => f.write_str(name),
        }
    }
}

/// One entry of the blocklist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    pub scope: Scope,
    pub net: IpNet,
    /// When it ends (monotonic ns); `None` for never.
    pub expires_ns: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum BlocksError {
    #[error("cannot {action} the blocklist")]
    Access {
        action: &'static str,
        #[source]
        source: MapError,
    },
    #[error(
        "the blocklist is full ({BLOCKS_MAX_ENTRIES} entries, none expired): unblock some \
         first"
    )]
    Full,
}

fn access(action: &'static str) -> impl Fn(MapError) -> BlocksError {
    move |source| BlocksError::Access { action, source }
}

/// The monotonic clock in nanoseconds, as `bpf_ktime_get_ns` reads it.
#[must_use]
pub fn now_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).map_or(0, |t| {
        Duration::from(t).as_nanos().try_into().unwrap_or(u64::MAX)
    })
}

/// Typed access to the trie and its counts.
pub struct Blocklist {
    trie: LpmTrie<MapData, BlockKey, BlockEntry>,
    counts: Array<MapData, BlockCounts>,
}

impl Blocklist {
    /// The blocklist in `trie`, with the counts of its entries in `counts`.
    pub fn new(trie: Map, counts: Map) -> Result<Self, BlocksError> {
        Ok(Self {
            trie: LpmTrie::try_from(trie).map_err(access("open"))?,
            counts: Array::try_from(counts).map_err(access("open"))?,
        })
    }

    fn counts(&self) -> Result<BlockCounts, BlocksError> {
        self.counts.get(&0, 0).map_err(access("read"))
    }

    /// Adds `delta` to the count of `scope`'s kind.
    fn count(&mut self, scope: &Scope, delta: i32) -> Result<(), BlocksError> {
        let mut counts = self.counts()?;
        let count = if *scope == Scope::All {
            &mut counts.all
        } else {
            &mut counts.scoped
        };
        *count = count.saturating_add_signed(delta);
        self.counts.set(0, counts, 0).map_err(access("write"))
    }

    /// The entry at exactly `key`, if there is one (a lookup finds the longest match, which
    /// may be a shorter entry).
    fn exact(&self, key: &Key<BlockKey>) -> Option<BlockEntry> {
        self.trie
            .get(key, 0)
            .ok()
            .filter(|entry| entry.prefix_len == key.prefix_len())
    }

    /// Blocks `net` in `scope`, for `duration` or for good. A block already there keeps
    /// the later end: a timed block never shortens a longer one.
    pub fn insert(
        &mut self,
        scope: &Scope,
        net: IpNet,
        duration: Option<Duration>,
    ) -> Result<(), BlocksError> {
        let key = key(scope, net);
        let expires_ns = duration.map_or(0, |d| {
            now_ns()
                .saturating_add(d.as_nanos().try_into().unwrap_or(u64::MAX))
                .max(1)
        });
        let old = self.exact(&key);
        let expires_ns = match old {
            Some(old) if old.expires_ns == 0 || expires_ns == 0 => 0,
            Some(old) => old.expires_ns.max(expires_ns),
            None => expires_ns,
        };
        let entry = BlockEntry {
            expires_ns,
            prefix_len: key.prefix_len(),
            _pad: 0,
            iface: scope.name_bytes(),
        };
        if old.is_none() {
            // Raised first: the program must never skip the trie while the entry is in it.
            self.count(scope, 1)?;
        }
        let written = match self.trie.insert(&key, entry, 0) {
            Err(MapError::SyscallError(e)) if e.io_error.raw_os_error() == Some(libc::ENOSPC) => {
                // Pruning sets the counts to what the trie holds, without this entry yet.
                if self.prune()? == 0 {
                    Err(BlocksError::Full)
                } else {
                    self.count(scope, 1)?;
                    self.trie.insert(&key, entry, 0).map_err(access("write"))
                }
            }
            other => other.map_err(access("write")),
        };
        if written.is_err() && old.is_none() {
            self.count(scope, -1)?;
        }
        written
    }

    /// Removes the block of exactly `net` in `scope`; whether there was one.
    pub fn remove(&mut self, scope: &Scope, net: IpNet) -> Result<bool, BlocksError> {
        match self.trie.remove(&key(scope, net)) {
            Ok(()) => {
                // Lowered after: see `insert`.
                self.count(scope, -1)?;
                Ok(true)
            }
            Err(MapError::KeyNotFound) => Ok(false),
            Err(MapError::SyscallError(e)) if e.io_error.raw_os_error() == Some(libc::ENOENT) => {
                Ok(false)
            }
            Err(e) => Err(access("write")(e)),
        }
    }

    /// Every entry, expired ones included, sorted by scope and network.
    pub fn entries(&self) -> Result<Vec<Block>, BlocksError> {
        let mut blocks = Vec::new();
        for entry in &self.trie {
            let (key, value) = entry.map_err(access("read"))?;
            if let Some(block) = block(&key, &value) {
                blocks.push(block);
            }
        }
        blocks.sort_by(|a, b| (&a.scope, a.net).cmp(&(&b.scope, b.net)));
        Ok(blocks)
    }

    /// Sets the counts from the trie when they say it is empty and it is not (its counts'
    /// pin was lost): one lookup when they agree. The caller holds the state lock.
    pub fn repair_counts(&mut self) -> Result<(), BlocksError> {
        let counts = self.counts()?;
        if counts.all == 0 && counts.scoped == 0 && self.trie.keys().next().is_some() {
            self.prune()?;
        }
        Ok(())
    }

    /// Removes the expired entries, and sets the counts to what the trie holds (a change
    /// interrupted midway leaves them high); how many entries it removed. The caller holds
    /// the state lock, so no other writer runs meanwhile.
    pub fn prune(&mut self) -> Result<usize, BlocksError> {
        let now = now_ns();
        let mut expired = Vec::new();
        let mut left = BlockCounts::default();
        for entry in &self.trie {
            let (key, value) = entry.map_err(access("read"))?;
            if value.expires_ns != 0 && value.expires_ns <= now {
                expired.push(key);
            } else if u32::from_be(key.data().scope_be) == BLOCK_SCOPE_ALL {
                left.all += 1;
            } else {
                left.scoped += 1;
            }
        }
        for key in &expired {
            // Already gone is no error.
            let _: Result<(), _> = self.trie.remove(key);
        }
        self.counts.set(0, left, 0).map_err(access("write"))?;
        Ok(expired.len())
    }
}

fn key(scope: &Scope, net: IpNet) -> Key<BlockKey> {
    let mut data = BlockKey {
        scope_be: scope.hash().to_be(),
        family: FAMILY_V4,
        _pad: [0; 3],
        addr: [0; 16],
    };
    match net.network() {
        IpAddr::V4(addr) => data.addr[..4].copy_from_slice(&addr.octets()),
        IpAddr::V6(addr) => {
            data.family = FAMILY_V6;
            data.addr = addr.octets();
        }
    }
    Key::new(BLOCK_KEY_FIXED_BITS + u32::from(net.prefix_len()), data)
}

fn block(key: &Key<BlockKey>, value: &BlockEntry) -> Option<Block> {
    let data = key.data();
    let bits = u8::try_from(key.prefix_len().checked_sub(BLOCK_KEY_FIXED_BITS)?).ok()?;
    let addr = match data.family {
        FAMILY_V4 => IpAddr::from([data.addr[0], data.addr[1], data.addr[2], data.addr[3]]),
        _ => IpAddr::from(data.addr),
    };
    let net = IpNet::new(addr, bits).ok()?;
    let name_len = value.iface.iter().position(|&b| b == 0).unwrap_or(16);
    let scope = if u32::from_be(data.scope_be) == BLOCK_SCOPE_ALL {
        Scope::All
    } else {
        Scope::Interface(String::from_utf8_lossy(&value.iface[..name_len]).into_owned())
    };
    Some(Block {
        scope,
        net,
        expires_ns: (value.expires_ns != 0).then_some(value.expires_ns),
    })
}
