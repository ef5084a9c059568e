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

use std::any::Any;
use std::ops::Range;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::config::Config;
use crate::reduce::ReduceSet;
use crate::schedule::{LaneCursor, Plan};
use crate::source::{Shape, Source};

/// `batch = auto` for an iterator whose length is unknown.
pub(crate) const AUTO_PULL_BATCH: usize = 64;

/// Shared stop flag of one run.
#[derive(Debug, Default)]
pub struct Control {
    stop: AtomicBool,
}

impl Control {
    /// Whether the run is stopping (an error or a panic was seen).
    #[inline]
    pub fn is_stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The items of one batch, in input order; the body is a `for` loop over it.
pub struct Batch<'a, S: Source + 'a> {
    cursor: S::Cursor<'a>,
    start: usize,
    control: &'a Control,
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
    let limit = config.checked_limit();
    let batch = config.checked_batch();
    config.site.start_run();
    let shape = source.shape();

    let lanes = if !config.wants_parallel() {
        1
    } else {
        match shape {
            Shape::Indexed(len) => limit.min(Plan::batches(len, config.schedule, limit, batch)),
            Shape::Pulled { .. } => limit,
        }
    };
    if lanes <= 1 {
        return run_serial(&config, &source, shape, batch, reducers, init, body);
    }

    let run = Lanes {
        config: &config,
        source: &source,
        reducers,
        init: &init,
        body: &body,
        control: Control::default(),
        plan: match shape {
            Shape::Indexed(len) => Some(Plan::new(config.schedule, len, lanes, batch)),
            Shape::Pulled { .. } => None,
        },
        pull_batch: match (batch, shape) {
            (Some(b), _) => b,
            (None, Shape::Pulled { hint: Some(len) }) => crate::schedule::auto_batch(len, lanes),
            (None, _) => AUTO_PULL_BATCH,
        },
        outcome: Mutex::new(Outcome {
            partials: Vec::new(),
            error: None,
            panic: None,
        }),
    };
    rayon::scope(|s| {
        for lane in 1..lanes {
            let run = &run;
            s.spawn(move |_| run.lane(lane));
        }
        run.lane(0);
    });

    let outcome = run.outcome.into_inner().unwrap_or_else(|e| e.into_inner());
    if let Some(payload) = outcome.panic {
        resume_unwind(payload);
    }
    if let Some((_, error)) = outcome.error {
        return Err(error);
    }
    let mut partials = outcome.partials;
    partials.sort_unstable_by_key(|p| p.start);
    Ok(partials
        .into_iter()
        .fold(reducers.identity(), |acc, p| reducers.combine(acc, p.acc)))
}

/// One lane, or `if = false`, `backend = serial`, `BOUNDED_SERIAL=1`, `limit = 1`, or an
/// input too small for two batches: the calling thread runs everything in order.
fn run_serial<S, R, W, E, Init, Body>(
    config: &Config,
    source: &S,
    shape: Shape,
    batch: Option<usize>,
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
    let control = Control::default();
    let site = config.site;
    let mut state = None;
    match shape {
        Shape::Indexed(0) => Ok(reducers.identity()),
        Shape::Indexed(len) => {
            // One batch: the body's loop runs over the whole input, as written.
            let state = state.get_or_insert_with(&init);
            // SAFETY: `0..len` is the only range ever taken from this source.
            let cursor = unsafe { source.range(0..len) };
            let _running = site.enter();
            site.count_batches(1, len as u64);
            body(
                state,
                Batch {
                    cursor,
                    start: 0,
                    control: &control,
                },
            )
            .inspect_err(|_| site.count_failed())
        }
        Shape::Pulled { .. } => {
            let max = batch.unwrap_or(AUTO_PULL_BATCH);
            let mut scratch = S::Scratch::default();
            let mut acc = reducers.identity();
            while let Some((start, cursor)) = source.pull(max, &mut scratch) {
                let state = state.get_or_insert_with(&init);
                let _running = site.enter();
                site.count_batches(1, cursor.size_hint().0 as u64);
                let partial = body(
                    state,
                    Batch {
                        cursor,
                        start,
                        control: &control,
                    },
                )
                .inspect_err(|_| site.count_failed())?;
                acc = reducers.combine(acc, partial);
            }
            Ok(acc)
        }
    }
}

struct Partial<A> {
    start: usize,
    end: usize,
    acc: A,
}

struct Outcome<A, E> {
    partials: Vec<Partial<A>>,
    error: Option<(usize, E)>,
    panic: Option<Box<dyn Any + Send>>,
}

struct Lanes<'r, S, R: ReduceSet, E, Init, Body> {
    config: &'r Config,
    source: &'r S,
    reducers: &'r R,
    init: &'r Init,
    body: &'r Body,
    control: Control,
    plan: Option<Plan>,
    pull_batch: usize,
    outcome: Mutex<Outcome<R::Acc, E>>,
}

impl<S, R, W, E, Init, Body> Lanes<'_, S, R, E, Init, Body>
where
    S: Source,
    R: ReduceSet,
    Init: Fn() -> W,
    Body: Fn(&mut W, Batch<'_, S>) -> Result<R::Acc, E>,
{
    /// One worker: claims batches until the input or the run ends.
    fn lane(&self, lane: usize) {
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
                    if self.control.is_stopping() {
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
                    if self.control.is_stopping() {
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
            self.run_batch(&mut state, &mut partials, range, batch);
        }
        self.config.site.count_batches(batches, items);
        if !partials.is_empty() {
            self.outcome
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .partials
                .append(&mut partials);
        }
    }

    fn run_batch(
        &self,
        state: &mut Option<W>,
        partials: &mut Vec<Partial<R::Acc>>,
        range: Range<usize>,
        batch: Batch<'_, S>,
    ) {
        let site = self.config.site;
        let _running = site.enter();
        let result = catch_unwind(AssertUnwindSafe(|| {
            let state = state.get_or_insert_with(self.init);
            (self.body)(state, batch)
        }));
        match result {
            Ok(Ok(acc)) => match partials.last_mut() {
                // Neighbours in input order combine at once, keeping the list short.
                Some(last) if last.end == range.start => {
                    let prev = std::mem::replace(&mut last.acc, self.reducers.identity());
                    last.acc = self.reducers.combine(prev, acc);
                    last.end = range.end;
                }
                _ => partials.push(Partial {
                    start: range.start,
                    end: range.end,
                    acc,
                }),
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
