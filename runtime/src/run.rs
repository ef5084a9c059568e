//! Running one loop: bounded lanes on rayon's global pool.
//!
//! A run starts `lanes = min(limit, batches)` jobs on rayon's global pool with
//! `rayon::scope`; each lane claims batches (from the schedule, or by pulling the
//! iterator) and runs the body over one batch at a time. So at most `limit` bodies run
//! at once, without building a thread pool per call, and a nested loop — a lane of an
//! outer loop that starts an inner one — waits inside `rayon::scope`, which keeps
//! executing queued jobs instead of blocking a worker (no nested-`install` deadlock).
//!
//! Stopping: an error (unless `keep_going`) or a panic sets the run's stop flag; lanes
//! stop claiming new batches, and a body that can fail also checks the flag before each
//! item ([`Batch::checked`]). Batches of owned items that will no longer run are still
//! claimed and dropped, so every item is dropped exactly once. After the last lane has
//! finished, a panic is re-raised with its original payload; otherwise the error of the
//! earliest failing batch in input order is returned.
//!
//! The same lanes run on a [`Pool`](crate::pool::Pool) for `backend = pool`: there the
//! calling thread dispatches batches into a bounded queue that the lanes drain
//! (`dispatch.rs`), so `queue` and `on_full` apply. A loop also stops on its own when
//! `timeout` passes or its `cancel` token fires ([`Stop`]); a body error reported by an
//! earlier batch takes precedence over such a stop, and a panic over both.

use std::any::Any;
use std::ops::Range;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::cancel::Stop;
use crate::config::{Backend, Config};
use crate::error::Cancelled;
use crate::reduce::ReduceSet;
use crate::schedule::{LaneCursor, Plan};
use crate::source::{Shape, Source};
use crate::stats::Site;

/// A lane's partial results are compacted into the run's list once it holds this many.
const COMPACT_AT: usize = 64;

/// `batch = auto` for an iterator whose length is unknown.
pub(crate) const AUTO_PULL_BATCH: usize = 64;

/// The largest batch `batch = auto` picks for a pulled input of known length: pulled
/// items are moved into lane buffers, so the batch is what bounds memory.
pub(crate) const MAX_AUTO_PULL_BATCH: usize = 1024;

/// Shared stop flag of one run, and why it stopped when the body is not the reason.
#[derive(Debug, Default)]
pub struct Control {
    stop: AtomicBool,
    /// 0: no own stop; 1: rejected; 2: cancelled.
    reason: AtomicU8,
    pub(crate) deadline: Option<Instant>,
}

impl Control {
    /// A control whose run stops dispatching at `deadline`, if any.
    pub(crate) fn with_deadline(deadline: Option<Instant>) -> Self {
        Control {
            deadline,
            ..Control::default()
        }
    }

    /// Whether the run is stopping (an error or a panic was seen).
    #[inline]
    pub fn is_stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Stops the run for a reason of its own; the first reason wins.
    pub(crate) fn stop_with(&self, stop: Stop) {
        let code = match stop {
            Stop::Rejected(_) => 1,
            Stop::Cancelled(_) => 2,
        };
        let _ = self
            .reason
            .compare_exchange(0, code, Ordering::Relaxed, Ordering::Relaxed);
        self.stop();
    }

    pub(crate) fn stopped(&self) -> Option<Stop> {
        match self.reason.load(Ordering::Relaxed) {
            1 => Some(Stop::Rejected(crate::Rejected)),
            2 => Some(Stop::Cancelled(Cancelled)),
            _ => None,
        }
    }

    /// Whether to start no more batches: stopping already, or the deadline passed, or the
    /// cancel token fired (which stop the run).
    #[inline]
    pub(crate) fn should_stop(&self, config: &Config) -> bool {
        if self.is_stopping() {
            return true;
        }
        let expired = self.deadline.is_some_and(|d| Instant::now() >= d)
            || config.cancel.as_ref().is_some_and(|c| c.is_cancelled());
        if expired {
            self.stop_with(Stop::Cancelled(Cancelled));
        }
        expired
    }
}

/// The items of one batch, in input order; the body is a `for` loop over it.
pub struct Batch<'a, S: Source + 'a> {
    pub(crate) cursor: S::Cursor<'a>,
    pub(crate) start: usize,
    pub(crate) control: &'a Control,
}

impl<'a, S: Source + 'a> Batch<'a, S> {
    /// The position of the batch's first item in the input.
    pub fn start(&self) -> usize {
        self.start
    }

    /// The same items, but ending early once the run is stopping: a fallible body
    /// iterates this so that no new item starts after another worker's error.
    #[inline]
    pub fn checked(self) -> Checked<'a, S> {
        Checked(self)
    }
}

impl<'a, S: Source + 'a> Iterator for Batch<'a, S> {
    type Item = S::Item;

    #[inline]
    fn next(&mut self) -> Option<S::Item> {
        self.cursor.next()
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.cursor.size_hint()
    }
}

/// A [`Batch`] that stops when its run stops.
pub struct Checked<'a, S: Source + 'a>(Batch<'a, S>);

impl<'a, S: Source + 'a> Iterator for Checked<'a, S> {
    type Item = S::Item;

    #[inline]
    fn next(&mut self) -> Option<S::Item> {
        if self.0.control.is_stopping() {
            return None;
        }
        self.0.cursor.next()
    }
}

/// Runs a loop: the generated code's single entry point.
///
/// `init` creates one worker's state (`with(...)`), once per worker and only if the
/// worker runs a batch; `body` runs one batch and returns its partial reductions;
/// `reducers` combines partials in input order. Returns the combined reductions or the
/// error of the earliest failing batch; re-raises a body's panic.
pub fn run<S, R, W, E, Init, Body>(
    config: Config,
    source: S,
    reducers: &R,
    init: Init,
    body: Body,
) -> Result<R::Acc, E>
where
    S: Source,
    R: ReduceSet + Sync,
    R::Acc: Send,
    E: Send,
    Init: Fn() -> W + Sync,
    Body: Fn(&mut W, Batch<'_, S>) -> Result<R::Acc, E> + Sync,
{
    run_stoppable(config, source, reducers, init, body, Stop::unexpected)
}

/// [`run_stoppable`] for `key = EXPR` (pool backend): `key` hashes an item's key, and
/// items with equal hashes run on the same lane, in input order.
pub fn run_keyed<S, R, W, E, Init, Body, Stops, Key>(
    config: Config,
    source: S,
    reducers: &R,
    init: Init,
    body: Body,
    stops: Stops,
    key: Key,
) -> Result<R::Acc, E>
where
    S: Source,
    R: ReduceSet + Sync,
    R::Acc: Send,
    E: Send,
    Init: Fn() -> W + Sync,
    Body: Fn(&mut W, Batch<'_, S>) -> Result<R::Acc, E> + Sync,
    Stops: FnOnce(Stop) -> E,
    Key: Fn(&S::Item) -> u64,
{
    run_inner(config, source, reducers, init, body, stops, Some(&key))
}

/// Hashes a loop item's key (`key = EXPR`) for lane selection.
pub fn hash_key<K: std::hash::Hash + ?Sized>(key: &K) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(key)
}

/// [`run`] for a loop that can stop on its own (`on_full = reject`, `timeout`,
/// `cancel`): `stops` turns the reason into the loop's error type.
pub fn run_stoppable<S, R, W, E, Init, Body, Stops>(
    config: Config,
    source: S,
    reducers: &R,
    init: Init,
    body: Body,
    stops: Stops,
) -> Result<R::Acc, E>
where
    S: Source,
    R: ReduceSet + Sync,
    R::Acc: Send,
    E: Send,
    Init: Fn() -> W + Sync,
    Body: Fn(&mut W, Batch<'_, S>) -> Result<R::Acc, E> + Sync,
    Stops: FnOnce(Stop) -> E,
{
    run_inner(
        config,
        source,
        reducers,
        init,
        body,
        stops,
        None::<&fn(&S::Item) -> u64>,
    )
}

#[allow(clippy::too_many_arguments)]
fn run_inner<S, R, W, E, Init, Body, Stops, Key>(
    config: Config,
    source: S,
    reducers: &R,
    init: Init,
    body: Body,
    stops: Stops,
    key: Option<&Key>,
) -> Result<R::Acc, E>
where
    S: Source,
    R: ReduceSet + Sync,
    R::Acc: Send,
    E: Send,
    Init: Fn() -> W + Sync,
    Body: Fn(&mut W, Batch<'_, S>) -> Result<R::Acc, E> + Sync,
    Stops: FnOnce(Stop) -> E,
    Key: Fn(&S::Item) -> u64,
{
    let limit = config.checked_limit();
    let batch = config.checked_batch();
    config.site.start_run();
    let shape = source.shape();
    let deadline = config.timeout.map(|t| Instant::now() + t);
    let on_pool = config.backend == Backend::Pool;

    let lanes = if !config.wants_parallel() {
        1
    } else {
        match shape {
            Shape::Indexed(len) if on_pool => limit.min(
                len.div_ceil(batch.unwrap_or_else(|| crate::schedule::auto_batch(len, limit))),
            ),
            Shape::Indexed(len) => limit.min(Plan::batches(len, config.schedule, limit, batch)),
            // An iterator that knows its length needs no more lanes than batches.
            Shape::Pulled { hint: Some(len) } => {
                let b = batch.unwrap_or_else(|| {
                    crate::schedule::auto_batch(len, limit).min(MAX_AUTO_PULL_BATCH)
                });
                limit.min(len.div_ceil(b))
            }
            Shape::Pulled { hint: None } => limit,
        }
    };
    let stoppable = deadline.is_some() || config.cancel.is_some();
    if lanes == 0 || (lanes == 1 && !on_pool) || !config.wants_parallel() {
        let control = Control {
            deadline,
            ..Control::default()
        };
        let result = run_serial(
            &config, &source, shape, batch, stoppable, &control, reducers, init, body,
        );
        return match result {
            Ok(acc) => match control.stopped() {
                Some(stop) => Err(stops(stop)),
                None => Ok(acc),
            },
            Err(e) => Err(e),
        };
    }

    let pull_batch = match (batch, shape) {
        (Some(b), _) => b,
        (None, Shape::Pulled { hint: Some(len) }) => {
            crate::schedule::auto_batch(len, lanes).min(MAX_AUTO_PULL_BATCH)
        }
        (None, _) => AUTO_PULL_BATCH,
    };
    let run = Lanes {
        config: &config,
        source: &source,
        reducers,
        init: &init,
        body: &body,
        control: Control {
            deadline,
            ..Control::default()
        },
        plan: match shape {
            Shape::Indexed(len) if !on_pool => Some(Plan::new(config.schedule, len, lanes, batch)),
            _ => None,
        },
        pull_batch,
        outcome: Mutex::new(Outcome {
            partials: Vec::new(),
            error: None,
            panic: None,
        }),
    };
    if on_pool {
        let batch = match shape {
            Shape::Indexed(len) => batch.unwrap_or_else(|| crate::schedule::auto_batch(len, limit)),
            Shape::Pulled { .. } => pull_batch,
        };
        match key {
            Some(key) => crate::dispatch::run_keyed_on_pool(&run, lanes, limit, batch, key),
            None => crate::dispatch::run_on_pool(&run, lanes, limit, batch),
        }
    } else {
        match config.rayon_pool {
            Some(pool) => pool.scope(|s| run.spawn_lanes(s, lanes)),
            None => rayon::scope(|s| run.spawn_lanes(s, lanes)),
        }
    }

    let stopped = run.control.stopped();
    let outcome = run.outcome.into_inner().unwrap_or_else(|e| e.into_inner());
    if let Some(payload) = outcome.panic {
        resume_unwind(payload);
    }
    if let Some((_, error)) = outcome.error {
        return Err(error);
    }
    if let Some(stop) = stopped {
        return Err(stops(stop));
    }
    let mut partials = outcome.partials;
    partials.sort_unstable_by_key(|p| p.start);
    Ok(partials
        .into_iter()
        .fold(reducers.identity(), |acc, p| reducers.combine(acc, p.acc)))
}

/// One lane, or `if = false`, `backend = serial`, `BOUNDED_SERIAL=1`, `limit = 1`, or an
/// input too small for two batches: the calling thread runs everything in order.
#[allow(clippy::too_many_arguments)]
fn run_serial<S, R, W, E, Init, Body>(
    config: &Config,
    source: &S,
    shape: Shape,
    batch: Option<usize>,
    stoppable: bool,
    control: &Control,
    reducers: &R,
    init: Init,
    body: Body,
) -> Result<R::Acc, E>
where
    S: Source,
    R: ReduceSet,
    Init: Fn() -> W,
    Body: Fn(&mut W, Batch<'_, S>) -> Result<R::Acc, E>,
{
    let site = config.site;
    let mut state = None;
    let mut acc = reducers.identity();
    let mut first_error = None;
    match shape {
        Shape::Indexed(0) => {}
        Shape::Indexed(len) => {
            // Without a deadline or token, one batch: the body's loop runs over the
            // whole input, as written. With one, batches, so the check runs between them.
            let step = match (stoppable, batch) {
                (false, _) => len,
                (true, Some(b)) => b,
                (true, None) => crate::schedule::auto_batch(len, 1),
            };
            let mut start = 0;
            while start < len {
                let end = len.min(start + step);
                if control.should_stop(config) {
                    if source.owns_items() {
                        // SAFETY: `start..len` was never handed out.
                        unsafe { source.discard(start..len) };
                    }
                    break;
                }
                // SAFETY: consecutive, disjoint ranges within `0..len`.
                let cursor = unsafe { source.range(start..end) };
                let partial = serial_batch(site, &mut state, &init, &body, control, cursor, start);
                match partial {
                    Ok(Ok(p)) => acc = reducers.combine(acc, p),
                    Ok(Err(e)) => {
                        first_error.get_or_insert(e);
                        if !config.keep_going {
                            if source.owns_items() && end < len {
                                // SAFETY: `end..len` was never handed out.
                                unsafe { source.discard(end..len) };
                            }
                            break;
                        }
                    }
                    Err(payload) => {
                        if source.owns_items() && end < len {
                            // SAFETY: `end..len` was never handed out.
                            unsafe { source.discard(end..len) };
                        }
                        resume_unwind(payload);
                    }
                }
                start = end;
            }
        }
        Shape::Pulled { .. } => {
            let max = batch.unwrap_or(AUTO_PULL_BATCH);
            let mut scratch = S::Scratch::default();
            while !control.should_stop(config) {
                let Some((start, cursor)) = source.pull(max, &mut scratch) else {
                    break;
                };
                let partial = serial_batch(site, &mut state, &init, &body, control, cursor, start);
                match partial {
                    Ok(Ok(p)) => acc = reducers.combine(acc, p),
                    Ok(Err(e)) => {
                        first_error.get_or_insert(e);
                        if !config.keep_going {
                            break;
                        }
                    }
                    Err(payload) => resume_unwind(payload),
                }
            }
        }
    }
    // One lane runs in input order, so the first error seen is the earliest.
    match first_error {
        Some(e) => Err(e),
        None => Ok(acc),
    }
}

/// One batch on the calling thread: makes the state if needed, counts the batch, and
/// runs the body with its panic caught (and counted), so the caller can drop what is
/// left of an owned input before re-raising it.
fn serial_batch<'c, S, A, W, E, Init, Body>(
    site: &Site,
    state: &mut Option<W>,
    init: &Init,
    body: &Body,
    control: &'c Control,
    cursor: S::Cursor<'c>,
    start: usize,
) -> std::thread::Result<Result<A, E>>
where
    S: Source + 'c,
    Init: Fn() -> W,
    Body: Fn(&mut W, Batch<'_, S>) -> Result<A, E>,
{
    let state = state.get_or_insert_with(init);
    let _running = site.enter();
    site.count_batches(1, cursor.size_hint().0 as u64);
    let batch = Batch {
        cursor,
        start,
        control,
    };
    let result = catch_unwind(AssertUnwindSafe(|| body(state, batch)));
    match &result {
        Ok(Err(_)) => site.count_failed(),
        Err(_) => site.count_panicked(),
        Ok(Ok(_)) => {}
    }
    result
}

pub(crate) struct Partial<A> {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) acc: A,
}

struct Outcome<A, E> {
    partials: Vec<Partial<A>>,
    error: Option<(usize, E)>,
    panic: Option<Box<dyn Any + Send>>,
}

pub(crate) struct Lanes<'r, S, R: ReduceSet, E, Init, Body> {
    pub(crate) config: &'r Config,
    pub(crate) source: &'r S,
    reducers: &'r R,
    init: &'r Init,
    body: &'r Body,
    pub(crate) control: Control,
    plan: Option<Plan>,
    pull_batch: usize,
    outcome: Mutex<Outcome<R::Acc, E>>,
}

/// What one worker of a run keeps to itself: its `with` state and its partials.
pub(crate) struct LaneLocal<W, A> {
    state: Option<W>,
    partials: Vec<Partial<A>>,
    batches: u64,
    items: u64,
}

impl<W, A> Default for LaneLocal<W, A> {
    fn default() -> Self {
        LaneLocal {
            state: None,
            partials: Vec::new(),
            batches: 0,
            items: 0,
        }
    }
}

impl<S, R, W, E, Init, Body> Lanes<'_, S, R, E, Init, Body>
where
    S: Source,
    R: ReduceSet,
    Init: Fn() -> W,
    Body: Fn(&mut W, Batch<'_, S>) -> Result<R::Acc, E>,
{
    /// Lanes `1..lanes` as jobs of the scope; lane 0 on the scope's own thread.
    fn spawn_lanes<'s>(&'s self, s: &rayon::Scope<'s>, lanes: usize)
    where
        S: Sync,
        R: Sync,
        R::Acc: Send,
        E: Send,
        Init: Sync,
        Body: Sync,
    {
        for lane in 1..lanes {
            s.spawn(move |_| self.lane(lane));
        }
        self.lane(0);
    }

    /// One worker: claims batches until the input or the run ends.
    fn lane(&self, lane: usize) {
        // A lane runs its batches back to back: counting it once as running gives the
        // same peak as counting each batch.
        let _running = self.config.site.enter();
        let mut state: Option<W> = None;
        let mut partials: Vec<Partial<R::Acc>> = Vec::new();
        let mut scratch = S::Scratch::default();
        let mut cursor = LaneCursor::new(lane);
        let (mut batches, mut items) = (0u64, 0u64);
        loop {
            let (range, batch) = match &self.plan {
                Some(plan) => {
                    let Some(range) = plan.claim(&mut cursor) else {
                        break;
                    };
                    if self.control.should_stop(self.config) {
                        if self.source.owns_items() {
                            // SAFETY: `range` was claimed from the plan, so it is in
                            // bounds and handed out exactly once.
                            unsafe { self.source.discard(range) };
                            continue;
                        }
                        break;
                    }
                    // SAFETY: as above.
                    let items = unsafe { self.source.range(range.clone()) };
                    let batch = Batch {
                        cursor: items,
                        start: range.start,
                        control: &self.control,
                    };
                    (range, batch)
                }
                None => {
                    if self.control.should_stop(self.config) {
                        break;
                    }
                    let Some((start, items)) = self.source.pull(self.pull_batch, &mut scratch)
                    else {
                        break;
                    };
                    let end = start + items.size_hint().0;
                    (
                        start..end,
                        Batch {
                            cursor: items,
                            start,
                            control: &self.control,
                        },
                    )
                }
            };
            batches += 1;
            items += range.len() as u64;
            self.run_batch(&mut state, &mut partials, range, batch, true);
        }
        self.config.site.count_batches(batches, items);
        self.keep_partials(&mut partials);
    }

    /// Moves a lane's partials into the run's list and combines every run of neighbours
    /// there. Lanes that take turns (pulled inputs, dynamic schedules) rarely produce
    /// neighbours themselves; without this, partials would pile up one per batch.
    /// After a compaction the list holds about one partial per gap in the input, which
    /// is bounded by the batches in flight.
    fn compact(&self, partials: &mut Vec<Partial<R::Acc>>) {
        let mut outcome = self.outcome.lock().unwrap_or_else(|e| e.into_inner());
        let all = &mut outcome.partials;
        all.append(partials);
        all.sort_unstable_by_key(|p| p.start);
        let mut merged: Vec<Partial<R::Acc>> = Vec::with_capacity(all.len());
        for p in all.drain(..) {
            match merged.last_mut() {
                Some(last) if last.end == p.start => {
                    let prev = std::mem::replace(&mut last.acc, self.reducers.identity());
                    last.acc = self.reducers.combine(prev, p.acc);
                    last.end = p.end;
                }
                _ => merged.push(p),
            }
        }
        *all = merged;
    }

    fn keep_partials(&self, partials: &mut Vec<Partial<R::Acc>>) {
        if !partials.is_empty() {
            self.outcome
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .partials
                .append(partials);
        }
    }

    /// Runs one batch handed to this worker (pool lanes, or the dispatcher itself
    /// under `on_full = caller_runs`).
    pub(crate) fn run_handed<'c>(
        &'c self,
        local: &mut LaneLocal<W, R::Acc>,
        range: Range<usize>,
        cursor: S::Cursor<'c>,
    ) {
        local.batches += 1;
        local.items += range.len() as u64;
        let batch = Batch {
            cursor,
            start: range.start,
            control: &self.control,
        };
        self.run_batch(&mut local.state, &mut local.partials, range, batch, false);
    }

    /// A worker is done: its counts and partials join the run's.
    pub(crate) fn finish_local(&self, mut local: LaneLocal<W, R::Acc>) {
        self.config.site.count_batches(local.batches, local.items);
        self.keep_partials(&mut local.partials);
    }

    /// Runs one batch; `counted` says the caller already counts this worker as running
    /// (a rayon lane does once for all its batches, sparing two contended atomic
    /// operations per batch).
    fn run_batch(
        &self,
        state: &mut Option<W>,
        partials: &mut Vec<Partial<R::Acc>>,
        range: Range<usize>,
        batch: Batch<'_, S>,
        counted: bool,
    ) {
        let site = self.config.site;
        let _running = (!counted).then(|| site.enter());
        let result = catch_unwind(AssertUnwindSafe(|| {
            let state = state.get_or_insert_with(self.init);
            (self.body)(state, batch)
        }));
        match result {
            // Nothing to combine (no `reduce`): keep no partials, so memory does not grow
            // with the number of batches.
            Ok(Ok(acc)) if std::mem::size_of::<R::Acc>() == 0 => drop(acc),
            Ok(Ok(acc)) => match partials.last_mut() {
                // Neighbours in input order combine at once, keeping the list short.
                Some(last) if last.end == range.start => {
                    let prev = std::mem::replace(&mut last.acc, self.reducers.identity());
                    last.acc = self.reducers.combine(prev, acc);
                    last.end = range.end;
                }
                _ => {
                    partials.push(Partial {
                        start: range.start,
                        end: range.end,
                        acc,
                    });
                    if partials.len() >= COMPACT_AT {
                        self.compact(partials);
                    }
                }
            },
            Ok(Err(error)) => {
                site.count_failed();
                if !self.config.keep_going {
                    self.control.stop();
                }
                let mut outcome = self.outcome.lock().unwrap_or_else(|e| e.into_inner());
                if outcome
                    .error
                    .as_ref()
                    .is_none_or(|(at, _)| range.start < *at)
                {
                    outcome.error = Some((range.start, error));
                }
            }
            Err(payload) => {
                site.count_panicked();
                self.control.stop();
                let mut outcome = self.outcome.lock().unwrap_or_else(|e| e.into_inner());
                outcome.panic.get_or_insert(payload);
            }
        }
    }
}
