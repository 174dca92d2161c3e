//! The pin root's blocklist, opened from its pin, or made and pinned by loading the object
//! once (the map's definition lives in the object), so that a block given before any
//! interface is attached is in force from the first attach on.

use aya::maps::{Map, MapData};

use super::object::{self, ObjectError};
use crate::state::{Blocklist, PinRoot};

/// The blocklist pinned in `root`, made there if it is not yet.
pub fn open_or_make(root: &PinRoot) -> Result<Blocklist, ObjectError> {
    if let Some(blocks) = open(root)? {
        return Ok(blocks);
    }
    root.ensure().map_err(ObjectError::Root)?;
    let map = object::make_blocks(&root.blocks_path())?;
    Ok(Blocklist::new(map)?)
}

/// The blocklist pinned in `root`, if there is one.
pub fn open(root: &PinRoot) -> Result<Option<Blocklist>, ObjectError> {
    let path = root.blocks_path();
    if !path.exists() {
        return Ok(None);
    }
    let data = MapData::from_pin(&path).map_err(|source| ObjectError::OpenBlocks {
        path: path.clone(),
        source,
    })?;
    let map = Map::LpmTrie(data);
    Ok(Some(Blocklist::new(map)?))
}
