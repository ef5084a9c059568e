//! `#[gate]`: a process-wide cap on concurrent calls of one function, with weighted
//! permits handed out first come, first served ([`Permits`]), for sync and async
//! callers.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard, OnceLock};

use super::permits::Permits;
pub use super::permits::{Acquire, Permit};
use crate::error::Rejected;
use crate::stats::SiteLocation;

/// The shared state of one gated function; the macro emits one `static` per function.
pub struct Gate {
    name: &'static str,
    file: &'static str,
    line: u32,
    limit: OnceLock<usize>,
    permits: Permits,
    registered: AtomicBool,
    calls: AtomicU64,
    rejected: AtomicU64,
    coalesced: AtomicU64,
}

static GATES: Mutex<Vec<&'static Gate>> = Mutex::new(Vec::new());

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Gate {
    /// The gate of the function `name` at `file:line`.
    #[cfg(not(loom))]
    pub const fn new(name: &'static str, file: &'static str, line: u32) -> Self {
        Self::with_permits(name, file, line, Permits::new())
    }

    /// The gate of the function `name` at `file:line` (the model checker's build,
    /// where [`Permits::new`] is not `const`).
    #[cfg(loom)]
    pub fn new(name: &'static str, file: &'static str, line: u32) -> Self {
        Self::with_permits(name, file, line, Permits::new())
    }

    const fn with_permits(
        name: &'static str,
        file: &'static str,
        line: u32,
        permits: Permits,
    ) -> Self {
        Gate {
            name,
            file,
            line,
            limit: OnceLock::new(),
            permits,
            registered: AtomicBool::new(false),
            calls: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            coalesced: AtomicU64::new(0),
        }
    }

    /// The limit, fixed by the first call (`limit` is evaluated once per process).
    fn limit(&'static self, limit: impl FnOnce() -> usize) -> usize {
        *self.limit.get_or_init(|| {
            let n = limit();
            if n == 0 {
                panic!(
                    "bounded: `#[gate]` on `{}` at {}:{}: `limit` evaluated to 0, which would never admit a call",
                    self.name, self.file, self.line
                );
            }
            if !self.registered.swap(true, Relaxed) {
                lock(&GATES).push(self);
            }
            n
        })
    }

    /// Counts one call of the gated function, before it asks for permits or joins a
    /// coalesced call: every call counts once, whatever becomes of it.
    pub fn count_call(&self) {
        self.calls.fetch_add(1, Relaxed);
    }

    /// Waits for `weight` permits (`on_full = block`).
    pub fn acquire(&'static self, limit: impl FnOnce() -> usize, weight: usize) -> Permit<'static> {
        let limit = self.limit(limit);
        self.permits.acquire(limit, weight)
    }

    /// Takes `weight` permits if they are free now and nobody is waiting; otherwise
    /// `Err(Rejected)` (`on_full = reject`).
    pub fn try_acquire(
        &'static self,
        limit: impl FnOnce() -> usize,
        weight: usize,
    ) -> Result<Permit<'static>, Rejected> {
        let limit = self.limit(limit);
        self.permits.try_acquire(limit, weight).ok_or_else(|| {
            self.rejected.fetch_add(1, Relaxed);
            Rejected
        })
    }

    /// Waits for `weight` permits without blocking the thread (async callers).
    pub fn acquire_async(
        &'static self,
        limit: impl FnOnce() -> usize,
        weight: usize,
    ) -> Acquire<'static> {
        let limit = self.limit(limit);
        self.permits.acquire_async(limit, weight)
    }

    /// Counts a call that shared another call's execution (`coalesce`).
    pub fn count_coalesced(&self) {
        self.coalesced.fetch_add(1, Relaxed);
    }

    /// A copy of the counters.
    pub fn snapshot(&self) -> GateStats {
        let (running, waiting, peak_used) = self.permits.usage();
        GateStats {
            name: self.name,
            location: SiteLocation {
                file: self.file,
                line: self.line,
            },
            limit: self.limit.get().copied().unwrap_or(0),
            calls: self.calls.load(Relaxed),
            rejected: self.rejected.load(Relaxed),
            coalesced: self.coalesced.load(Relaxed),
            running,
            waiting,
            peak_used,
        }
    }
}

/// The counters of one gated function, as [`gates`] reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateStats {
    /// `module::function`, or `name = "…"`.
    pub name: &'static str,
    /// Where the function is.
    pub location: SiteLocation,
    /// The limit (0 before the first call evaluates it).
    pub limit: usize,
    /// Calls of the function, including the refused and the coalesced ones: the
    /// function body ran `calls - coalesced - rejected` times.
    pub calls: u64,
    /// Calls refused under `on_full = reject`.
    pub rejected: u64,
    /// Calls that waited for another call with equal arguments and shared its result
    /// instead of running (`coalesce`).
    pub coalesced: u64,
    /// Permits in use now.
    pub running: usize,
    /// Calls waiting now.
    pub waiting: usize,
    /// The most permits ever in use at once (never above `limit`).
    pub peak_used: usize,
}

/// The counters of every gated function called so far in this process.
///
/// ```
/// for g in bounded_runtime::limit::gate::gates() {
///     assert!(g.peak_used <= g.limit);
/// }
/// ```
pub fn gates() -> Vec<GateStats> {
    lock(&GATES).iter().map(|g| g.snapshot()).collect()
}

/// A call's weight (`weight = EXPR`): any integer; values below 1 count as 1.
pub trait Weight {
    /// The weight as a permit count.
    fn permits(self) -> usize;
}

macro_rules! weights {
    ($($t:ty),*) => {$(
        impl Weight for $t {
            fn permits(self) -> usize {
                usize::try_from(self).unwrap_or(if self > 0 as $t { usize::MAX } else { 0 })
            }
        }
    )*};
}

weights!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize);

/// `weight = EXPR` as permits.
pub fn weight(w: impl Weight) -> usize {
    w.permits()
}
