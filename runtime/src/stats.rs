//! Per-loop counters, named after the loop (`name = "…"` or its source location).
//!
//! Every loop site owns one `static` [`Site`] (the macro emits it), so counting costs a few
//! relaxed atomic operations per batch and no lookup. A site registers itself in the
//! process-wide list the first time it runs, which is what [`loops`] reads.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;

/// One annotated loop in the source: its name, location and counters.
#[derive(Debug)]
pub struct Site {
    name: &'static str,
    file: &'static str,
    line: u32,
    registered: AtomicBool,
    runs: AtomicU64,
    batches: AtomicU64,
    items: AtomicU64,
    failed: AtomicU64,
    panicked: AtomicU64,
    running: AtomicUsize,
    peak_running: AtomicUsize,
}

/// Where a [`Site`] is in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SiteLocation {
    /// The file, as `file!()` gives it.
    pub file: &'static str,
    /// The line of the loop's `for`.
    pub line: u32,
}

impl fmt::Display for SiteLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

static SITES: Mutex<Vec<&'static Site>> = Mutex::new(Vec::new());

impl Site {
    /// A site named `name`, for the loop at `file:line`.
    pub const fn new(name: &'static str, file: &'static str, line: u32) -> Self {
        Site {
            name,
            file,
            line,
            registered: AtomicBool::new(false),
            runs: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            items: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            panicked: AtomicU64::new(0),
            running: AtomicUsize::new(0),
            peak_running: AtomicUsize::new(0),
        }
    }

    /// The loop's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The loop's location.
    pub fn location(&self) -> SiteLocation {
        SiteLocation {
            file: self.file,
            line: self.line,
        }
    }

    pub(crate) fn start_run(&'static self) {
        if !self.registered.swap(true, Relaxed) {
            SITES.lock().unwrap_or_else(|e| e.into_inner()).push(self);
        }
        self.runs.fetch_add(1, Relaxed);
    }

    /// Marks one batch as running; the guard marks it done.
    pub(crate) fn enter(&self) -> Running<'_> {
        let now = self.running.fetch_add(1, Relaxed) + 1;
        // Most batches do not set a new peak: a load avoids the CAS loop of `fetch_max`.
        if now > self.peak_running.load(Relaxed) {
            self.peak_running.fetch_max(now, Relaxed);
        }
        Running(self)
    }

    /// Adds a lane's batch and item counts (kept lane-local while it runs, so the hot
    /// path does not share these cache lines).
    pub(crate) fn count_batches(&self, batches: u64, items: u64) {
        self.batches.fetch_add(batches, Relaxed);
        self.items.fetch_add(items, Relaxed);
    }

    pub(crate) fn count_failed(&self) {
        self.failed.fetch_add(1, Relaxed);
    }

    pub(crate) fn count_panicked(&self) {
        self.panicked.fetch_add(1, Relaxed);
    }

    /// A copy of the counters.
    pub fn snapshot(&self) -> LoopStats {
        LoopStats {
            name: self.name,
            location: self.location(),
            runs: self.runs.load(Relaxed),
            batches: self.batches.load(Relaxed),
            items: self.items.load(Relaxed),
            failed: self.failed.load(Relaxed),
            panicked: self.panicked.load(Relaxed),
            peak_running: self.peak_running.load(Relaxed),
        }
    }
}

pub(crate) struct Running<'a>(&'a Site);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Relaxed);
    }
}

/// The counters of one loop site, as [`loops`] reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoopStats {
    /// `name = "…"`, or `module::fn:line`.
    pub name: &'static str,
    /// Where the loop is.
    pub location: SiteLocation,
    /// How many times the loop has started.
    pub runs: u64,
    /// Batches whose body ran (in whole or until an error).
    pub batches: u64,
    /// Items handed to the body.
    pub items: u64,
    /// Batches that ended with an error.
    pub failed: u64,
    /// Batches that panicked.
    pub panicked: u64,
    /// The most batches of this loop ever seen running at once (never above `limit`).
    pub peak_running: usize,
}

/// The counters of every loop that has run in this process, in first-run order.
///
/// ```
/// for loop_stats in bounded_runtime::stats::loops() {
///     println!("{} at {}: {} items", loop_stats.name, loop_stats.location, loop_stats.items);
/// }
/// ```
pub fn loops() -> Vec<LoopStats> {
    SITES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|s| s.snapshot())
        .collect()
}
