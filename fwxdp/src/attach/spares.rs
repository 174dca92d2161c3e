//! A pool of [`Spare`] instances, verified ahead of need, that fresh attaches take from.
//! The service keeps one, so that an interface that appears costs only pinning and hooking.

use std::sync::{Arc, Mutex, PoisonError};

use super::object::{ObjectError, Spare};
use crate::state::BlockPins;

/// Shared by the service's tasks; clones are the same pool.
#[derive(Clone)]
pub struct Spares {
    inner: Arc<Mutex<Pool>>,
    /// The pin root's blocklist, which every spare takes.
    blocks: Arc<BlockPins>,
}

#[derive(Default)]
struct Pool {
    ready: Option<Spare>,
    /// A spare is being made (outside the lock: the verifier takes tens of milliseconds).
    filling: bool,
}

impl Spares {
    /// An empty pool whose spares take the blocklist pinned at `blocks`.
    #[must_use]
    pub fn new(blocks: BlockPins) -> Self {
        Self {
            inner: Arc::default(),
            blocks: Arc::new(blocks),
        }
    }

    /// Takes the spare, when one is ready.
    #[must_use]
    pub fn take(&self) -> Option<Spare> {
        self.pool().ready.take()
    }

    /// Makes a spare unless one is ready or being made. Blocks while the verifier runs;
    /// returns whether it made one.
    ///
    /// # Errors
    /// The object or a program cannot be loaded (fresh attaches then load their own).
    pub fn fill(&self) -> Result<bool, ObjectError> {
        {
            let mut pool = self.pool();
            if pool.ready.is_some() || pool.filling {
                return Ok(false);
            }
            pool.filling = true;
        }
        let made = Spare::new(&self.blocks);
        let mut pool = self.pool();
        pool.filling = false;
        pool.ready = Some(made?);
        Ok(true)
    }

    fn pool(&self) -> std::sync::MutexGuard<'_, Pool> {
        // A panic while the lock was held leaves at worst no spare: fresh attaches still work.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for Spares {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pool = self.pool();
        f.debug_struct("Spares")
            .field("ready", &pool.ready.is_some())
            .field("filling", &pool.filling)
            .finish()
    }
}
