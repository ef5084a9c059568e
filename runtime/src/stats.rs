//! Per-loop counters, named after the loop (`name = "…"` or its source location).
//!
//! Every loop site owns one `static` [`Site`] (the macro emits it), so counting costs a few
//! relaxed atomic operations per batch and no lookup. A site registers itself in the
//! process-wide list the first time it runs, which is what [`loops`] reads.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

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
    dropped: AtomicU64,
    running: AtomicUsize,
    peak_running: AtomicUsize,
    /// The limit of the loop's latest run, as it is now (see [`Site::set_limit`]).
    limit: AtomicUsize,
    /// Time in bodies per item over the latest run that ran to its end, in
    /// picoseconds (0: none yet): what a run's sizing reads to tell a run of a few
    /// microseconds from one worth spreading ([`Site::expected_work`]).
    per_item_ps: AtomicU64,
    last: Mutex<Option<RunStats>>,
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
            dropped: AtomicU64::new(0),
            running: AtomicUsize::new(0),
            peak_running: AtomicUsize::new(0),
            limit: AtomicUsize::new(0),
            per_item_ps: AtomicU64::new(0),
            last: Mutex::new(None),
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
        // A load first: after the first run, no read-modify-write on a shared line.
        if !self.registered.load(Relaxed) && !self.registered.swap(true, Relaxed) {
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

    /// Sets the loop's current limit, the one gauge [`LoopStats::limit`] reads: a run
    /// sets it when it starts, and again whenever its limit moves (the run's own
    /// `Watch::set_limit`, which also says so in its `tracing` span). Returns the
    /// value it replaces. Runs of one loop at the same time share it: the last one
    /// set wins.
    pub(crate) fn set_limit(&self, limit: usize) -> usize {
        self.limit.swap(limit, Relaxed)
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

    pub(crate) fn count_dropped(&self, items: u64) {
        self.dropped.fetch_add(items, Relaxed);
    }

    pub(crate) fn count_panicked(&self) {
        self.panicked.fetch_add(1, Relaxed);
    }

    /// How long `items` items would spend in the body at the pace of the loop's latest
    /// run that ran to its end; `None` before one has.
    pub(crate) fn expected_work(&self, items: usize) -> Option<Duration> {
        match self.per_item_ps.load(Relaxed) {
            0 => None,
            ps => Some(Duration::from_nanos(
                (u128::from(ps) * items as u128 / 1000)
                    .try_into()
                    .unwrap_or(u64::MAX),
            )),
        }
    }

    /// How many items would spend `within` in the body at the pace of the loop's latest
    /// run that ran to its end; `None` before one has.
    pub(crate) fn items_within(&self, within: Duration) -> Option<usize> {
        match self.per_item_ps.load(Relaxed) {
            0 => None,
            ps => Some(
                (within.as_nanos().saturating_mul(1000) / u128::from(ps))
                    .try_into()
                    .unwrap_or(usize::MAX),
            ),
        }
    }

    /// Keeps the figures of the run that just ended.
    pub(crate) fn finish_run(&self, run: RunStats) {
        if run.items > 0 && matches!(run.ended, RunEnd::Completed | RunEnd::Exited) {
            let ps = run.busy.as_nanos().saturating_mul(1000) / u128::from(run.items);
            self.per_item_ps
                .store(u64::try_from(ps).unwrap_or(u64::MAX).max(1), Relaxed);
        }
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(run);
    }

    /// The figures of this loop's most recent run.
    pub fn last_run(&self) -> Option<RunStats> {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
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
            dropped: self.dropped.load(Relaxed),
            running: self.running.load(Relaxed),
            peak_running: self.peak_running.load(Relaxed),
            limit: self.limit.load(Relaxed),
        }
    }
}

/// Marks one batch as running while it lives.
pub struct Running<'a>(&'a Site);

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
    /// Batches whose body ran (in whole or until an error). A run on one lane (`if =
    /// false`, `backend = serial`, `limit = 1`, an input too small to split) is one
    /// batch when nothing can stop it early.
    pub batches: u64,
    /// Items of the batches handed to the body (a batch that stops early after an error
    /// still counts whole).
    pub items: u64,
    /// Batches that ended with an error.
    pub failed: u64,
    /// Batches that panicked.
    pub panicked: u64,
    /// Items skipped by `on_full = drop` (pool backend).
    pub dropped: u64,
    /// Lanes (or dispatcher batches) of this loop running now, over all its runs.
    pub running: usize,
    /// The most batches of this loop ever seen running at once (never above `limit`).
    pub peak_running: usize,
    /// The limit its latest run works under now (the checked `limit` when the run
    /// started, or where an adaptive limit has moved it since); zero before it runs.
    pub limit: usize,
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

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// Every item ran (or was shed by `on_full = drop`).
    Completed,
    /// A `break` or `return` ended it.
    Exited,
    /// It returned the error of a failing item.
    Failed,
    /// A body panicked; the panic went on to the caller.
    Panicked,
    /// A full queue under `on_full = reject`.
    Rejected,
    /// Its `timeout` passed or its `cancel` token fired.
    Cancelled,
}

/// What one run of a loop did, and where its time went: the view to read when a loop
/// is slower than expected (the book's performance notes show how).
///
/// ```
/// use bounded_runtime::stats::RunEnd;
/// # let run = bounded_runtime::stats::RunStats::default();
/// if run.ended == RunEnd::Completed && run.mean_batch() < 8.0 {
///     println!("{}: {} batches of {:.1} items; try a larger `batch`", run.name, run.batches, run.mean_batch());
/// }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RunStats {
    /// The loop's name.
    pub name: &'static str,
    /// Lanes that ran (at most `limit`; the pool's dispatcher counts when it ran
    /// batches itself).
    pub lanes: usize,
    /// Items handed to the body.
    pub items: u64,
    /// Batches handed to the body.
    pub batches: u64,
    /// Batches that ended in an error.
    pub failed: u64,
    /// Batches that panicked.
    pub panicked: u64,
    /// Items shed by `on_full = drop`.
    pub dropped: u64,
    /// How the run ended.
    pub ended: RunEnd,
    /// When it failed: the input position of the item whose error the loop returned
    /// (`RunEnd::Failed`). A fail-fast error does not say which item it came from; this
    /// does.
    pub failed_at: Option<usize>,
    /// From the start of the run to its result.
    pub wall: Duration,
    /// Lane time spent running bodies (and claiming their batches), summed over lanes.
    pub busy: Duration,
    /// Time spent combining partial reductions.
    pub merging: Duration,
    /// Lane time not spent in bodies or merging: `lanes × wall − busy − merging`
    /// (waiting to start, waiting for work, finishing early).
    pub idle: Duration,
    /// The most bodies of this run running at once.
    pub peak_running: usize,
    /// The time one item took in the body: each batch's wall time divided by its items,
    /// recorded once per batch on every backend (for an async body, from the batch's
    /// start to its end, awaits included). Items of one batch share its time, so a run
    /// that is one batch (serial, with nothing that can stop it early) reports the mean.
    pub latency: ItemLatency,
    /// `limit = adaptive(...)`: the limit after each of the limiter's windows, with the
    /// time since the run started (the first entry is the initial limit). Empty for a
    /// fixed limit.
    pub limits: Vec<(Duration, usize)>,
}

/// Percentiles of the time one item took in the body ([`RunStats::latency`]), within
/// about 3% of the true value (the bucket's upper bound is reported).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ItemLatency {
    /// Half the items took at most this long.
    pub p50: Duration,
    /// 90% of the items took at most this long.
    pub p90: Duration,
    /// 99% of the items took at most this long.
    pub p99: Duration,
    /// The longest.
    pub max: Duration,
    /// Items recorded (a batch of `n` items counts `n` times).
    pub items: u64,
}

impl Default for RunStats {
    fn default() -> Self {
        RunStats {
            name: "",
            lanes: 0,
            items: 0,
            batches: 0,
            failed: 0,
            panicked: 0,
            dropped: 0,
            ended: RunEnd::Completed,
            failed_at: None,
            wall: Duration::ZERO,
            busy: Duration::ZERO,
            merging: Duration::ZERO,
            idle: Duration::ZERO,
            peak_running: 0,
            latency: ItemLatency::default(),
            limits: Vec::new(),
        }
    }
}

impl RunStats {
    /// Items per batch, on average.
    pub fn mean_batch(&self) -> f64 {
        if self.batches == 0 {
            0.0
        } else {
            self.items as f64 / self.batches as f64
        }
    }
}

/// The figures of the most recent run of the loop named `name` (`name = "…"`, or
/// `module::fn:line`), if it has run.
///
/// ```
/// assert!(bounded_runtime::stats::last_run("no such loop").is_none());
/// ```
pub fn last_run(name: &str) -> Option<RunStats> {
    SITES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|s| s.name == name)
        .and_then(|s| s.last_run())
}

/// A latency histogram: log-linear buckets (eight per power of two, so a reported
/// percentile is within 12.5% of the true value), updated with one relaxed atomic add.
#[derive(Debug)]
pub struct Histogram {
    buckets: Box<[AtomicU64]>,
}

const SUB_BITS: u32 = 3;
const SUB: usize = 1 << SUB_BITS;

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: (0..64 * SUB).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Histogram {
    fn bucket(nanos: u64) -> usize {
        if nanos < SUB as u64 {
            return nanos as usize;
        }
        let msb = 63 - nanos.leading_zeros();
        let sub = (nanos >> (msb - SUB_BITS)) as usize & (SUB - 1);
        ((msb - SUB_BITS + 1) as usize) * SUB + sub
    }

    /// The largest value that falls in bucket `index`.
    fn upper(index: usize) -> u64 {
        if index < SUB {
            return index as u64;
        }
        let msb = (index / SUB) as u32 + SUB_BITS - 1;
        let sub = (index % SUB) as u64;
        let low = (1u64 << msb) | (sub << (msb - SUB_BITS));
        low.saturating_add((1u64 << (msb - SUB_BITS)) - 1)
    }

    /// Records one duration.
    pub fn record(&self, d: std::time::Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.buckets[Self::bucket(nanos)].fetch_add(1, Relaxed);
    }

    /// The value below which `q` (0.0 ..= 1.0) of the recorded durations fall, rounded up
    /// to its bucket's bound; zero when nothing was recorded.
    ///
    /// ```
    /// use bounded_runtime::stats::Histogram;
    /// use std::time::Duration;
    /// let h = Histogram::default();
    /// for ms in 1..=100 {
    ///     h.record(Duration::from_millis(ms));
    /// }
    /// let p50 = h.percentile(0.5).as_secs_f64() * 1e3;
    /// assert!((50.0..=57.0).contains(&p50), "{p50}");
    /// ```
    pub fn percentile(&self, q: f64) -> std::time::Duration {
        Self::percentile_of(std::slice::from_ref(self), q)
    }

    /// The percentile over several histograms together (shards of one).
    pub fn percentile_of(shards: &[Histogram], q: f64) -> std::time::Duration {
        let mut counts = vec![0u64; 64 * SUB];
        for h in shards {
            for (c, b) in counts.iter_mut().zip(h.buckets.iter()) {
                *c += b.load(Relaxed);
            }
        }
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return std::time::Duration::ZERO;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return std::time::Duration::from_nanos(Self::upper(i));
            }
        }
        std::time::Duration::from_nanos(Self::upper(counts.len() - 1))
    }

    /// How many durations were recorded.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Relaxed)).sum()
    }
}

/// A plain (unshared) log-linear histogram of nanoseconds, 32 buckets per power of two
/// (a percentile within about 3% of the true value): one lane's item latencies, kept
/// without atomics or locks and merged into its run's once, when the lane ends. The
/// first [`FEW`] records are kept as they are (exact, and no allocation: a small loop's
/// one or two batches cost no 16 KiB of buckets and no scan of them); the buckets are
/// allocated when one more comes.
#[derive(Debug, Clone, Default)]
pub(crate) struct LatencyHistogram {
    counts: Vec<u64>,
    /// `(nanos, count)` records while `counts` is empty.
    few: [(u64, u64); FEW],
    nfew: usize,
    /// The lowest and highest bucket with a count, once `counts` is allocated: what
    /// merging and the percentiles walk, instead of all 2,048.
    lo: usize,
    hi: usize,
    total: u64,
    max: u64,
}

/// How many records a histogram keeps exactly before it allocates its buckets: about
/// the batches a lane of a small loop runs (`batch = auto` makes 16 a lane, fewer
/// once quick lanes claim several at once, plus the shrinking tail). Kept small: a
/// histogram is built in every lane and moved with it.
const FEW: usize = 16;

const FINE_BITS: u32 = 5;
const FINE: usize = 1 << FINE_BITS;

impl LatencyHistogram {
    fn bucket(nanos: u64) -> usize {
        if nanos < FINE as u64 {
            return nanos as usize;
        }
        let msb = 63 - nanos.leading_zeros();
        let sub = (nanos >> (msb - FINE_BITS)) as usize & (FINE - 1);
        ((msb - FINE_BITS + 1) as usize) * FINE + sub
    }

    fn upper(index: usize) -> u64 {
        if index < FINE {
            return index as u64;
        }
        let msb = (index / FINE) as u32 + FINE_BITS - 1;
        let sub = (index % FINE) as u64;
        let low = (1u64 << msb) | (sub << (msb - FINE_BITS));
        low.saturating_add((1u64 << (msb - FINE_BITS)) - 1)
    }

    /// Records `count` items of `nanos` each.
    #[inline]
    pub(crate) fn record(&mut self, nanos: u64, count: u64) {
        self.total += count;
        self.max = self.max.max(nanos);
        if self.counts.is_empty() {
            if self.nfew < FEW {
                self.few[self.nfew] = (nanos, count);
                self.nfew += 1;
                return;
            }
            self.spill();
        }
        self.add(Self::bucket(nanos), count);
    }

    #[inline]
    fn add(&mut self, bucket: usize, count: u64) {
        self.counts[bucket] += count;
        self.lo = self.lo.min(bucket);
        self.hi = self.hi.max(bucket);
    }

    /// Moves the exact records into buckets.
    #[cold]
    fn spill(&mut self) {
        self.counts = vec![0; 64 * FINE];
        (self.lo, self.hi) = (usize::MAX, 0);
        for k in 0..self.nfew {
            let (nanos, count) = self.few[k];
            self.add(Self::bucket(nanos), count);
        }
        self.nfew = 0;
    }

    /// Adds `other`'s counts to these, and empties it.
    pub(crate) fn absorb(&mut self, other: &mut LatencyHistogram) {
        if other.total == 0 {
            return;
        }
        if other.counts.is_empty() {
            // Exact records: added where they are, nothing moved.
            for k in 0..other.nfew {
                let (nanos, count) = other.few[k];
                self.record(nanos, count);
            }
            (other.nfew, other.total, other.max) = (0, 0, 0);
            return;
        }
        let other = std::mem::take(other);
        let exact = if self.counts.is_empty() {
            std::mem::replace(self, other)
        } else {
            for i in other.lo..=other.hi {
                self.counts[i] += other.counts[i];
            }
            self.lo = self.lo.min(other.lo);
            self.hi = self.hi.max(other.hi);
            self.total += other.total;
            self.max = self.max.max(other.max);
            return;
        };
        for &(nanos, count) in &exact.few[..exact.nfew] {
            self.record(nanos, count);
        }
    }

    /// The value at each quantile of `qs` (ascending), in one pass.
    fn percentiles<const N: usize>(&self, qs: [f64; N]) -> [Duration; N] {
        let mut out = [Duration::from_nanos(self.max); N];
        if self.total == 0 {
            return [Duration::ZERO; N];
        }
        if self.counts.is_empty() && self.nfew == 1 {
            // One record (a run of one batch): every percentile is its value.
            return [Duration::from_nanos(self.few[0].0); N];
        }
        let ranks = qs.map(|q| ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1));
        let mut next = 0;
        let mut seen = 0;
        let mut walk = |value: u64, count: u64| {
            seen += count;
            while next < N && seen >= ranks[next] {
                out[next] = Duration::from_nanos(value.min(self.max));
                next += 1;
            }
        };
        if self.counts.is_empty() {
            let mut few = self.few;
            let few = &mut few[..self.nfew];
            few.sort_unstable_by_key(|&(nanos, _)| nanos);
            for &(nanos, count) in few.iter() {
                walk(nanos, count);
            }
        } else {
            for i in self.lo..=self.hi {
                let c = self.counts[i];
                if c > 0 {
                    walk(Self::upper(i), c);
                }
            }
        }
        out
    }

    /// The percentiles [`RunStats`] reports.
    pub(crate) fn summary(&self) -> ItemLatency {
        let [p50, p90, p99] = self.percentiles([0.5, 0.9, 0.99]);
        ItemLatency {
            p50,
            p90,
            p99,
            max: Duration::from_nanos(self.max),
            items: self.total,
        }
    }
}

#[cfg(test)]
mod test {
    use super::{Histogram, LatencyHistogram};
    use std::time::Duration;

    #[test]
    fn latency_buckets_bound_their_values_within_3_percent() {
        for v in (0..5000u64).chain([1 << 20, (1 << 20) + 12345, u64::MAX / 3, u64::MAX]) {
            let i = LatencyHistogram::bucket(v);
            assert!(LatencyHistogram::upper(i) >= v, "{v} in bucket {i}");
            if i > 0 {
                assert!(LatencyHistogram::upper(i - 1) < v, "{v} in bucket {i}");
            }
            assert!(LatencyHistogram::upper(i) - v <= v / 32 + 1, "{v}");
        }
    }

    #[test]
    fn latency_percentiles_merge_across_lanes() {
        let (mut a, mut b) = (LatencyHistogram::default(), LatencyHistogram::default());
        for ms in 1..=50u64 {
            a.record(ms * 1_000_000, 1);
        }
        for ms in 51..=100u64 {
            b.record(ms * 1_000_000, 1);
        }
        a.absorb(&mut b);
        assert_eq!(b.summary().items, 0);
        let s = a.summary();
        assert_eq!(s.items, 100);
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        assert!((50.0..=51.6).contains(&ms(s.p50)), "{:?}", s);
        assert!((90.0..=92.9).contains(&ms(s.p90)), "{:?}", s);
        assert!((99.0..=100.0).contains(&ms(s.p99)), "{:?}", s);
        assert_eq!(ms(s.max), 100.0);
    }

    #[test]
    fn latency_records_kept_exactly_then_in_buckets_give_the_same_percentiles() {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        // A few records: exact, no buckets.
        let mut few = LatencyHistogram::default();
        few.record(3_000_000, 10);
        few.record(1_000_000, 80);
        few.record(9_000_000, 10);
        assert!(few.counts.is_empty());
        let s = few.summary();
        assert_eq!(
            (ms(s.p50), ms(s.p90), ms(s.p99), ms(s.max)),
            (1.0, 3.0, 9.0, 9.0)
        );
        assert_eq!(s.items, 100);
        // Every mix of exact and bucketed histograms merges to the same figures.
        let bucketed = |from: u64, to: u64| {
            let mut h = LatencyHistogram::default();
            for ms in from..=to {
                h.record(ms * 1_000_000, 1);
            }
            assert!(!h.counts.is_empty());
            h
        };
        let exact = |values: &[u64]| {
            let mut h = LatencyHistogram::default();
            for ms in values {
                h.record(ms * 1_000_000, 1);
            }
            assert!(h.counts.is_empty());
            h
        };
        let check = |h: &LatencyHistogram| {
            let s = h.summary();
            assert_eq!(s.items, 100);
            assert!((50.0..=51.6).contains(&ms(s.p50)), "{s:?}");
            assert!((90.0..=92.9).contains(&ms(s.p90)), "{s:?}");
            assert!((99.0..=100.0).contains(&ms(s.p99)), "{s:?}");
            assert_eq!(ms(s.max), 100.0);
        };
        let tail: Vec<u64> = (95..=100).collect();
        let mut a = bucketed(1, 94);
        a.absorb(&mut exact(&tail));
        check(&a);
        let mut b = exact(&tail);
        b.absorb(&mut bucketed(1, 94));
        check(&b);
        // Exact into exact past the limit spills.
        let first: Vec<u64> = (1..=10).collect();
        let second: Vec<u64> = (11..=20).collect();
        let mut c = exact(&first);
        c.absorb(&mut exact(&second));
        assert!(!c.counts.is_empty());
        assert_eq!(c.summary().items, 20);
        assert!((10.0..=10.4).contains(&ms(c.summary().p50)));
    }

    #[test]
    fn buckets_bound_their_values() {
        for v in (0..5000u64).chain([1 << 20, (1 << 20) + 12345, u64::MAX / 3, u64::MAX]) {
            let i = Histogram::bucket(v);
            assert!(Histogram::upper(i) >= v, "{v} in bucket {i}");
            if i > 0 {
                assert!(Histogram::upper(i - 1) < v, "{v} in bucket {i}");
            }
            // Within 12.5% of the value.
            assert!(Histogram::upper(i) - v <= v / 8 + 1, "{v}");
        }
    }
}
