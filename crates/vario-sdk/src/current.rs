//! The client's current config: the `ArcSwapOption` that updates swap, read through a
//! per-thread cache.
//!
//! Why the cache: `ArcSwapOption::load_full` does three atomic read-modify-writes (claim
//! a debt slot, take a reference, pay the debt back), about a tenth of a `decide`. With
//! the cache a read is one atomic load (the generation) and the one reference count the
//! returned `Arc` needs anyway.
//!
//! The cache holds a `Weak`, so it never keeps a replaced config (or a dropped client's)
//! alive; the generation, bumped after every swap, tells whether it is still current.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use arc_swap::ArcSwapOption;

use crate::client::Loaded;

pub(crate) struct CurrentConfig {
    slot: ArcSwapOption<Loaded>,
    /// Incremented after each swap of `slot`.
    generation: AtomicU64,
    /// Unique per client for the life of the process (addresses can be reused).
    id: u64,
}

/// One thread's last read: which client, at which generation, and the config.
struct Cached {
    id: u64,
    generation: u64,
    loaded: Weak<Loaded>,
}

thread_local! {
    static CACHE: RefCell<Option<Cached>> = const { RefCell::new(None) };
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

impl CurrentConfig {
    pub(crate) fn new(initial: Option<Arc<Loaded>>) -> Self {
        Self {
            slot: ArcSwapOption::new(initial),
            generation: AtomicU64::new(0),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Installs `loaded`; returns the config it replaces.
    pub(crate) fn swap(&self, loaded: Arc<Loaded>) -> Option<Arc<Loaded>> {
        let previous = self.slot.swap(Some(loaded));
        // After the swap: a reader that sees the new generation also sees the new config.
        self.generation.fetch_add(1, Ordering::Release);
        previous
    }

    /// Whether a config is installed.
    pub(crate) fn is_some(&self) -> bool {
        self.slot.load().is_some()
    }

    /// The current config. A call racing with a swap may get the previous one, as with
    /// `ArcSwapOption` itself.
    #[inline]
    pub(crate) fn load(&self) -> Option<Arc<Loaded>> {
        let generation = self.generation.load(Ordering::Acquire);
        let cached = CACHE
            .try_with(|cache| {
                let cache = cache.try_borrow().ok()?;
                let cached = cache.as_ref().filter(|c| c.id == self.id && c.generation == generation)?;
                cached.loaded.upgrade()
            })
            .ok()
            .flatten();
        match cached {
            Some(loaded) => Some(loaded),
            None => self.load_and_cache(generation),
        }
    }

    /// Reads the slot and remembers the result for this thread. `generation` was read
    /// before the slot, so the cached config is at least as new as that generation.
    #[inline(never)]
    fn load_and_cache(&self, generation: u64) -> Option<Arc<Loaded>> {
        let loaded = self.slot.load_full()?;
        // Without thread-local storage (thread exiting) or while borrowed, just skip.
        let _ = CACHE.try_with(|cache| {
            if let Ok(mut cache) = cache.try_borrow_mut() {
                *cache = Some(Cached { id: self.id, generation, loaded: Arc::downgrade(&loaded) });
            }
        });
        Some(loaded)
    }
}
