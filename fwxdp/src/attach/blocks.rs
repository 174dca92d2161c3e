//! The pin root's blocklist, opened from its pin, or made and pinned by loading the object
//! once (the map's definition lives in the object), so that a block given before any
//! interface is attached is in force from the first attach on.

use aya::maps::{Map, MapData};

use super::object::{self, ObjectError};
use crate::state::{Blocklist, PinRoot};

/// The blocklist pinned in `root`, made there if it is not yet, its counts repaired if they
/// are missing or say nothing of a trie with entries. The caller holds the state lock.
pub fn open_or_make(root: &PinRoot) -> Result<Blocklist, ObjectError> {
    match open(root) {
        Ok(Some(blocks)) => return Ok(blocks),
        Ok(None) | Err(ObjectError::HalfPinnedBlocks { .. }) => {}
        Err(e) => return Err(e),
    }
    root.ensure().map_err(ObjectError::Root)?;
    // Takes what is pinned, makes what is not.
    let (trie, counts) = object::make_blocks(&root.block_pins())?;
    let mut blocks = Blocklist::new(trie, counts)?;
    blocks.repair_counts()?;
    Ok(blocks)
}

/// The blocklist pinned in `root`, if there is one.
pub fn open(root: &PinRoot) -> Result<Option<Blocklist>, ObjectError> {
    let pins = root.block_pins();
    match (pins.trie.exists(), pins.counts.exists()) {
        (false, false) => return Ok(None),
        (true, true) => {}
        // Made in one load, trie first: a kill between the two pins leaves the trie alone.
        // The next attach or block makes the counts; nothing can be blocked meanwhile.
        (true, false) | (false, true) => {
            let (path, missing) = if pins.trie.exists() {
                (pins.trie, pins.counts)
            } else {
                (pins.counts, pins.trie)
            };
            return Err(ObjectError::HalfPinnedBlocks { path, missing });
        }
    }
    let open = |path: &std::path::Path| {
        MapData::from_pin(path).map_err(|source| ObjectError::OpenBlocks {
            path: path.to_owned(),
            source,
        })
    };
    let trie = Map::LpmTrie(open(&pins.trie)?);
    let counts = Map::Array(open(&pins.counts)?);
    Ok(Some(Blocklist::new(trie, counts)?))
}
