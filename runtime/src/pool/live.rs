//! Every pool alive in the process, for the metrics and for [`live`]: each pool built
//! adds a weak reference to itself here, so listing costs nothing while nobody lists,
//! and a pool that is dropped leaves the list (its entry is pruned at the next look).

use std::sync::{Mutex, Weak};

use super::shared::Shared;
use super::sync::Arc;
use super::PoolStats;

/// Something whose [`PoolStats`] can be read: any pool's shared state.
trait View: Send + Sync {
    fn view(&self) -> PoolStats;
}

impl<S: Send + 'static> View for Shared<S>
where
    Shared<S>: Send + Sync,
{
    fn view(&self) -> PoolStats {
        self.stats()
    }
}

struct Entry {
    label: String,
    max_workers: usize,
    pool: Weak<dyn View>,
}

struct Registry {
    // Read by `register` only, which a loom build leaves out (see below).
    #[cfg_attr(loom, allow(dead_code))]
    built: u64,
    entries: Vec<Entry>,
}

static LIVE: Mutex<Registry> = Mutex::new(Registry {
    built: 0,
    entries: Vec::new(),
});

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Adds a pool just built. Its label is its name, or `name#N` (N: the pool's number
/// among all pools built in the process) when a live pool already has that name, so
/// every live pool's label is unique and stays the same while it lives.
///
/// Not called in a loom build: loom's `Arc` cannot be downgraded into this list, and
/// the models never list pools.
#[cfg_attr(loom, allow(dead_code))]
pub(super) fn register<S: Send + 'static>(shared: &Arc<Shared<S>>, max_workers: usize)
where
    Shared<S>: Send + Sync,
{
    let as_view: Arc<dyn View> = shared.clone();
    let pool = Arc::downgrade(&as_view);
    let mut reg = registry();
    reg.built += 1;
    reg.entries.retain(|e| e.pool.strong_count() > 0);
    let taken = reg
        .entries
        .iter()
        .any(|e| e.label == shared.name || e.label.starts_with(&format!("{}#", shared.name)));
    let label = if taken {
        format!("{}#{}", shared.name, reg.built)
    } else {
        shared.name.clone()
    };
    reg.entries.push(Entry {
        label,
        max_workers,
        pool,
    });
}

/// One live pool, as [`live`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LivePool {
    /// Unique among live pools: the pool's name, or `name#N` when another live pool
    /// had that name when this one was built.
    pub label: String,
    /// The most workers it may run at once (`PoolBuilder::workers`' upper bound): its
    /// limit.
    pub max_workers: usize,
    /// Its counters now.
    pub stats: PoolStats,
}

/// Every pool alive now (built and not yet dropped), in the order they were built.
///
/// ```
/// use bounded_runtime::pool::{live, Pool};
///
/// let pool = Pool::builder().name("listed").workers(1..=3).build().unwrap();
/// let entry = live().into_iter().find(|p| p.label == "listed").unwrap();
/// assert_eq!(entry.max_workers, 3);
/// drop(pool);
/// assert!(live().iter().all(|p| p.label != "listed"));
/// ```
pub fn live() -> Vec<LivePool> {
    // Upgraded under the lock, read after it: reading a pool's counters takes its own
    // lock, which must never be taken inside this one.
    let pools: Vec<(String, usize, Arc<dyn View>)> = {
        let mut reg = registry();
        reg.entries.retain(|e| e.pool.strong_count() > 0);
        reg.entries
            .iter()
            .filter_map(|e| Some((e.label.clone(), e.max_workers, e.pool.upgrade()?)))
            .collect()
    };
    pools
        .into_iter()
        .map(|(label, max_workers, pool)| LivePool {
            label,
            max_workers,
            stats: pool.view(),
        })
        .collect()
}
