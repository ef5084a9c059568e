//! What a run ends with, and the one rule that turns it into the loop's result:
//! a panic is re-raised first, then the error of the earliest failing item in input
//! order, then the run's own stop (`Rejected`, `Cancelled`); otherwise the partial
//! reductions, combined in input order.

use std::any::Any;
use std::ops::Range;
use std::panic::resume_unwind;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::control::Control;
use crate::cancel::Stop;
use crate::config::Config;
use crate::error::never_overloaded;
use crate::limit::adaptive::Limiter;
use crate::observe::{Entered, Pace, Watch};
use crate::reduce::ReduceSet;
use crate::stats::{LatencyHistogram, RunEnd, RunStats, Running, Site};

/// A lane's partials are moved into the run's list once it holds this many.
const COMPACT_AT: usize = 64;

/// The combined reductions of the contiguous input range `start..end`.
pub(crate) struct Partial<A> {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) acc: A,
}

/// Combines `p` into `list` if it continues the last entry (`a` before `b` in input
/// order); pushes it otherwise. A partial cut by a `break` ends at `usize::MAX`, where
/// nothing starts, so it joins nothing after it.
fn push_or_join<A>(list: &mut Vec<Partial<A>>, p: Partial<A>, combine: &impl Fn(A, A) -> A) {
    match list.pop() {
        Some(last) if last.end == p.start => list.push(Partial {
            start: last.start,
            end: p.end,
            acc: combine(last.acc, p.acc),
        }),
        Some(last) => {
            list.push(last);
            list.push(p);
        }
        None => list.push(p),
    }
}

/// Sorts `list` by position and combines every run of neighbours: what is left is one
/// partial per gap in the input. The engine's lanes and the cluster's reports share it.
pub(crate) fn compact<A>(list: &mut Vec<Partial<A>>, combine: impl Fn(A, A) -> A) {
    list.sort_unstable_by_key(|p| p.start);
    for p in std::mem::take(list) {
        push_or_join(list, p, &combine);
    }
}

/// The partials that start at or before `cut` (`usize::MAX`: no `break`), combined in
/// input order; `None` if there are none. The first starts the fold: combining it with
/// the identity would cost a copy for reductions such as `append`.
pub(crate) fn fold<A>(
    mut partials: Vec<Partial<A>>,
    cut: usize,
    combine: impl Fn(A, A) -> A,
) -> Option<A> {
    partials.sort_unstable_by_key(|p| p.start);
    partials
        .into_iter()
        .filter(|p| p.start <= cut)
        .map(|p| p.acc)
        .reduce(combine)
}

/// One lane's partials, neighbours in input order combined at once, its finished
/// items not yet shown on the run's progress bar, and its item latencies (merged into
/// the run's when the lane ends, so recording one costs no lock and no atomic).
pub(crate) struct LanePartials<A> {
    list: Vec<Partial<A>>,
    /// Under order-free reductions ([`Outcome::seed`]): the lane's one copy, and the
    /// position of its first batch (where the copy sorts among the run's partials).
    running: Option<A>,
    first: Option<usize>,
    /// Where the partial the lane's current batch continues starts ([`Outcome::seed`]).
    continued: Option<usize>,
    pace: Pace,
    latency: LatencyHistogram,
}

impl<A> Default for LanePartials<A> {
    fn default() -> Self {
        LanePartials {
            list: Vec::new(),
            running: None,
            first: None,
            continued: None,
            pace: Pace::default(),
            latency: LatencyHistogram::default(),
        }
    }
}

struct Inner<A, E> {
    partials: Vec<Partial<A>>,
    error: Option<(usize, E)>,
    panic: Option<Box<dyn Any + Send>>,
}

/// The run's shared record: partials, first error by item position, first panic, and
/// the run's own figures ([`RunStats`]), kept here so that every driver reports
/// through one place.
pub(crate) struct Outcome<A, E> {
    inner: Mutex<Inner<A, E>>,
    figures: Figures,
    /// The run's progress bar and span (empty without the features).
    watch: Watch,
    /// The run's item latencies, the lanes' merged as each ends.
    latency: Mutex<LatencyHistogram>,
    /// `limit = adaptive(...)`: the controller every driver's slots read (boxed: a
    /// run is moved into its engine, and most runs have none).
    pub(crate) limiter: Option<Box<Limiter>>,
    /// Whether an error is an overload signal (the generated code's classifier).
    overloaded: fn(&E) -> bool,
    /// Whether each lane keeps one copy of the reductions for all its batches
    /// ([`Outcome::seed`]).
    per_lane: bool,
}

/// One run's counts and times, as the lanes report them.
struct Figures {
    start: Instant,
    lanes: AtomicUsize,
    batches: AtomicU64,
    items: AtomicU64,
    failed: AtomicU64,
    panicked: AtomicU64,
    dropped: AtomicU64,
    busy_ns: AtomicU64,
    merge_ns: AtomicU64,
    running: AtomicUsize,
    peak_running: AtomicUsize,
}

/// Marks one lane (or one batch run by a dispatcher) as running, for the loop's site
/// and for its run.
pub(crate) struct RunningGuard<'a> {
    _site: Running<'a>,
    run: &'a AtomicUsize,
}

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        self.run.fetch_sub(1, Relaxed);
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl<A, E> Outcome<A, E> {
    #[inline]
    pub(crate) fn new<R: ReduceSet<Acc = A>>(config: &Config, watch: Watch, reducers: &R) -> Self {
        // The limiter's jitter is seeded by the loop's name (hashed only for
        // `limit = adaptive(...)`: a small loop's start pays for nothing it does not use).
        let limiter = config.adaptive().map(|a| {
            use std::hash::{BuildHasher, BuildHasherDefault};
            let seed = BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default()
                .hash_one(config.site.name());
            Box::new(Limiter::new(a, seed))
        });
        if let Some(limiter) = &limiter {
            watch.set_limit(limiter.current());
        }
        Outcome {
            watch,
            latency: Mutex::new(LatencyHistogram::default()),
            limiter,
            overloaded: never_overloaded::<E>,
            // A loop that can exit early drops the partials past its cut, so its
            // partials must stay apart by position.
            per_lane: reducers.order_free() && !config.early_exit,
            inner: Mutex::new(Inner {
                partials: Vec::new(),
                error: None,
                panic: None,
            }),
            figures: Figures {
                start: Instant::now(),
                lanes: AtomicUsize::new(0),
                batches: AtomicU64::new(0),
                items: AtomicU64::new(0),
                failed: AtomicU64::new(0),
                panicked: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
                busy_ns: AtomicU64::new(0),
                merge_ns: AtomicU64::new(0),
                running: AtomicUsize::new(0),
                peak_running: AtomicUsize::new(0),
            },
        }
    }

    /// When the run started.
    pub(crate) fn started(&self) -> Instant {
        self.figures.start
    }

    /// Whether lanes keep one copy of the reductions across batches ([`Outcome::seed`]).
    pub(crate) fn keeps_lane_copies(&self) -> bool {
        self.per_lane
    }

    /// The run's bar, span and current limit (`Watch::set_limit` moves the limit).
    pub(crate) fn watch(&self) -> &Watch {
        &self.watch
    }

    /// Sets how the run tells overload signals among its errors.
    pub(crate) fn overloaded_by(&mut self, classify: fn(&E) -> bool) {
        self.overloaded = classify;
    }

    /// Whether `error` is an overload signal; the adaptive limiter, if any, is told.
    pub(crate) fn classify(&self, error: &E) -> bool {
        let overloaded = (self.overloaded)(error);
        if let (true, Some(limiter)) = (overloaded, &self.limiter) {
            if let Some(limit) = limiter.overloaded() {
                self.watch.set_limit(limit);
            }
        }
        overloaded
    }

    /// A batch of `items` took `took` in its body: the one place every driver reports
    /// it. Each item is recorded at `took / items` in the lane's histogram; a batch
    /// that `succeeded` is also the adaptive limiter's sample (an error's latency —
    /// an instant refusal, say — says nothing about the downstream's queue).
    #[inline]
    pub(crate) fn timed(
        &self,
        lane: &mut LanePartials<A>,
        took: Duration,
        items: usize,
        succeeded: bool,
    ) {
        if items == 0 {
            return;
        }
        let per_item = nanos(took) / items as u64;
        lane.latency.record(per_item, items as u64);
        if let (true, Some(limiter)) = (succeeded, &self.limiter) {
            if let Some(limit) = limiter.sample(Duration::from_nanos(per_item)) {
                self.watch.set_limit(limit);
            }
        }
    }

    /// Enters the run's span on the calling thread (feature `tracing`).
    pub(crate) fn enter_span(&self) -> Entered {
        self.watch.enter()
    }

    /// A lane (or a batch the dispatcher runs) starts running.
    pub(crate) fn enter<'a>(&'a self, site: &'a Site) -> RunningGuard<'a> {
        let f = &self.figures;
        let now = f.running.fetch_add(1, Relaxed) + 1;
        if now > f.peak_running.load(Relaxed) {
            f.peak_running.fetch_max(now, Relaxed);
        }
        RunningGuard {
            _site: site.enter(),
            run: &f.running,
        }
    }

    /// A lane is done: its batches, items and time in bodies.
    pub(crate) fn lane_done(&self, site: &Site, batches: u64, items: u64, busy: Duration) {
        site.count_batches(batches, items);
        let f = &self.figures;
        if batches > 0 {
            f.lanes.fetch_add(1, Relaxed);
        }
        f.batches.fetch_add(batches, Relaxed);
        f.items.fetch_add(items, Relaxed);
        f.busy_ns.fetch_add(nanos(busy), Relaxed);
    }

    /// Items shed by `on_full = drop`.
    pub(crate) fn dropped(&self, site: &Site, items: u64) {
        site.count_dropped(items);
        self.figures.dropped.fetch_add(items, Relaxed);
        self.watch.dropped(items);
    }

    fn lock(&self) -> MutexGuard<'_, Inner<A, E>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A batch ended in `error` at input position `at`. Fail-fast stops the run; in a
    /// loop that can `break`, it cuts the run at the error instead, so the items before
    /// it still run (an earlier `break` or error would come first sequentially).
    ///
    /// `classified`: the lane has already told the limiter about this error (an async
    /// `keep_going` lane reports each batch's error as it happens, and returns the
    /// first one when it ends).
    pub(crate) fn failed(
        &self,
        config: &Config,
        control: &Control,
        at: usize,
        error: E,
        classified: bool,
    ) {
        if !classified {
            self.classify(&error);
        }
        config.site.count_failed();
        self.figures.failed.fetch_add(1, Relaxed);
        self.watch.failed(at);
        if !config.keep_going {
            if config.early_exit {
                control.cut_at(at);
            } else {
                control.stop();
            }
        }
        let mut inner = self.lock();
        if inner.error.as_ref().is_none_or(|(first, _)| at < *first) {
            inner.error = Some((at, error));
        }
    }

    /// A batch panicked: the run stops, and the first payload is kept to re-raise.
    pub(crate) fn panicked(&self, site: &Site, control: &Control, payload: Box<dyn Any + Send>) {
        site.count_panicked();
        self.figures.panicked.fetch_add(1, Relaxed);
        self.watch.panicked();
        control.stop();
        self.lock().panic.get_or_insert(payload);
    }

    /// Where a batch's private copies start: the identity, so that partials combine
    /// in input order, or — when every reduction is order-free and the loop cannot
    /// exit early — the lane's own copy so far, so a lane builds one map (say) for all
    /// its batches instead of a fresh one per batch merged into its neighbour. A batch
    /// that fails or panics loses the lane's copy, and with it the run's result, which
    /// is then that error or panic anyway.
    ///
    /// A batch that starts at `start` where the lane's last partial ends (a lane that
    /// runs alone, or claims neighbours) goes on from that partial instead, under any
    /// reduction: folding on over the next items is what the sequential loop does, and
    /// it saves a fresh identity and a combine per batch. A partial that ends at a
    /// `break` ends nowhere a batch starts, so none goes on past a cut; and losing the
    /// partial to a batch that fails loses nothing the result needs (the items before
    /// the failure ran on this lane, so no `break` among them cuts the error off).
    #[inline]
    pub(crate) fn seed<R: ReduceSet<Acc = A>>(
        &self,
        lane: &mut LanePartials<A>,
        reducers: &R,
        start: Option<usize>,
    ) -> A {
        lane.continued = None;
        if let Some(acc) = lane.running.take() {
            return acc;
        }
        if let Some(start) = start {
            if lane.list.last().is_some_and(|p| p.end == start) {
                if let Some(p) = lane.list.pop() {
                    lane.continued = Some(p.start);
                    return p.acc;
                }
            }
        }
        reducers.identity()
    }

    /// Keeps the partial reductions of the batch `range` in the lane's list (or as the
    /// lane's one copy: [`Outcome::seed`]). A batch that `broke` ends at its `break`,
    /// and its partial never joins the one after it: when the `break` was the batch's
    /// last item, that one starts where this ends, and joined they would carry items
    /// past the cut into the result.
    #[inline]
    pub(crate) fn keep<R: ReduceSet<Acc = A>>(
        &self,
        lane: &mut LanePartials<A>,
        range: Range<usize>,
        broke: bool,
        acc: A,
        reducers: &R,
    ) {
        self.watch.done(&mut lane.pace, range.len());
        // Nothing to combine (no `reduce`): keep no partials, so memory does not grow
        // with the number of batches.
        if std::mem::size_of::<A>() == 0 {
            return;
        }
        if self.per_lane {
            lane.first.get_or_insert(range.start);
            lane.running = Some(acc);
            return;
        }
        let p = Partial {
            start: lane.continued.take().unwrap_or(range.start),
            end: if broke { usize::MAX } else { range.end },
            acc,
        };
        push_or_join(&mut lane.list, p, &|a, b| reducers.combine(a, b));
        if lane.list.len() >= COMPACT_AT {
            self.absorb(lane, reducers, true);
        }
    }

    /// Moves a lane's partials into the run's list. With `compact`, every run of
    /// neighbours there is combined: lanes that take turns (pulled inputs, dynamic
    /// schedules) rarely produce neighbours themselves, and without this partials would
    /// pile up one per batch; after it the list holds about one partial per gap in the
    /// input, which is bounded by the batches in flight. Only compacting combines
    /// partials, so only it counts as merging time.
    pub(crate) fn absorb<R: ReduceSet<Acc = A>>(
        &self,
        lane: &mut LanePartials<A>,
        reducers: &R,
        compact: bool,
    ) {
        self.watch.flush(&mut lane.pace);
        if let (false, Some(acc), Some(start)) = (compact, lane.running.take(), lane.first) {
            lane.list.push(Partial {
                start,
                end: start,
                acc,
            });
        }
        if !compact {
            // The lane ends (compaction runs while it still records).
            self.latency
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .absorb(&mut lane.latency);
        }
        if lane.list.is_empty() {
            return;
        }
        let started = compact.then(Instant::now);
        let mut inner = self.lock();
        if inner.partials.is_empty() {
            // The first lane to finish hands over its list, allocation and all.
            std::mem::swap(&mut inner.partials, &mut lane.list);
        } else {
            inner.partials.append(&mut lane.list);
        }
        if compact {
            self::compact(&mut inner.partials, |a, b| reducers.combine(a, b));
        }
        drop(inner);
        if let Some(started) = started {
            self.figures
                .merge_ns
                .fetch_add(nanos(started.elapsed()), Relaxed);
        }
    }

    /// Keeps this run's figures on its site, ended as `ended` at `now`.
    fn report(&self, config: &Config, ended: RunEnd, failed_at: Option<usize>, now: Instant) {
        let f = &self.figures;
        let wall = now.saturating_duration_since(f.start);
        let lanes = f.lanes.load(Relaxed);
        let busy = Duration::from_nanos(f.busy_ns.load(Relaxed));
        let merging = Duration::from_nanos(f.merge_ns.load(Relaxed));
        let run = RunStats {
            name: config.site.name(),
            lanes,
            items: f.items.load(Relaxed),
            batches: f.batches.load(Relaxed),
            failed: f.failed.load(Relaxed),
            panicked: f.panicked.load(Relaxed),
            dropped: f.dropped.load(Relaxed),
            ended,
            failed_at,
            wall,
            busy,
            merging,
            idle: wall
                .checked_mul(u32::try_from(lanes.max(1)).unwrap_or(u32::MAX))
                .unwrap_or(Duration::MAX)
                .saturating_sub(busy + merging),
            peak_running: f.peak_running.load(Relaxed),
            latency: self
                .latency
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .summary(),
            limits: self.limiter.as_ref().map_or_else(Vec::new, |l| l.history()),
        };
        self.watch.finish(ended, &run);
        config.site.finish_run(run);
    }

    /// The loop's result. `stops` turns the run's own stop into the loop's error type;
    /// combining the partials is timed from `merging_from` (when the last lane ended, if
    /// it ended on this thread just now), or from now.
    pub(crate) fn finish<R, Stops>(
        &self,
        config: &Config,
        reducers: &R,
        control: &Control,
        stops: Stops,
        merging_from: Option<Instant>,
    ) -> Result<A, E>
    where
        R: ReduceSet<Acc = A>,
        Stops: FnOnce(Stop) -> E,
    {
        let inner = std::mem::replace(
            &mut *self.lock(),
            Inner {
                partials: Vec::new(),
                error: None,
                panic: None,
            },
        );
        if let Some(payload) = inner.panic {
            self.report(config, RunEnd::Panicked, None, Instant::now());
            resume_unwind(payload);
        }
        let cut = control.cut();
        if let Some((at, error)) = inner.error {
            // An item after a `break` ran only because it was already running.
            if at <= cut {
                self.report(config, RunEnd::Failed, Some(at), Instant::now());
                return Err(error);
            }
        }
        if let Some(stop) = control.stopped() {
            let ended = match stop {
                Stop::Rejected(_) => RunEnd::Rejected,
                Stop::Cancelled(_) => RunEnd::Cancelled,
            };
            self.report(config, ended, None, Instant::now());
            return Err(stops(stop));
        }
        let partials = inner.partials;
        // With one partial there is nothing to merge, and no merging to time.
        let started = (partials.len() > 1).then(|| merging_from.unwrap_or_else(Instant::now));
        let combined = fold(partials, cut, |a, b| reducers.combine(a, b))
            .unwrap_or_else(|| reducers.identity());
        // One clock read ends both the merging and the run; with nothing to merge, the
        // last lane's end, if it ended on this thread just now, ends the run.
        let now = match (started, merging_from) {
            (None, Some(ended)) => ended,
            _ => Instant::now(),
        };
        if let Some(started) = started {
            self.figures
                .merge_ns
                .fetch_add(nanos(now.saturating_duration_since(started)), Relaxed);
        }
        let ended = if cut == usize::MAX {
            RunEnd::Completed
        } else {
            RunEnd::Exited
        };
        self.report(config, ended, None, now);
        Ok(combined)
    }
}
