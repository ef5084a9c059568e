//! Loops whose body awaits: lanes as futures, polled by the caller's own task.
//!
//! `min(limit, batches)` lane futures each claim a batch, run the body over it, and
//! claim the next, so the number of bodies in flight stays at `limit` for as long as
//! work remains — a lane refills itself the moment its item finishes, rather than
//! waiting for a consumer to ask for more (the failure of `buffered` streams,
//! futures-rs #2937). There is no consumer to starve either: every lane is polled
//! whenever it is woken, so a body awaiting a lock held by another body cannot wedge
//! the loop (futures-rs #2387).
//!
//! Nothing here names an executor: the driver is a plain future with a waker per lane
//! that queues the lane for polling and wakes the caller's task.

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::ops::Range;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

use crate::cancel::Stop;
use crate::config::{Config, OnFull};
use crate::reduce::ReduceSet;
use crate::run::{Control, Partial, AUTO_PULL_BATCH, MAX_AUTO_PULL_BATCH};
use crate::schedule::{auto_batch, LaneCursor, Plan};
use crate::source::{Shape, Source};
use crate::stats::Running;
use crate::Schedule;

/// Whether the loop asked for a queue between its input and its lanes.
fn config_queues(config: &Config) -> bool {
    config.queue.is_some() || config.on_full != OnFull::Block
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Lane futures polled in one round before the driver yields to the executor, so
/// bodies that wake themselves at once cannot monopolise the thread.
const ROUNDS_BEFORE_YIELD: usize = 4;

/// One async loop run: the generated code creates it, then awaits [`AsyncRun::drive`].
pub struct AsyncRun<'r, S: Source, R: ReduceSet> {
    config: Config,
    source: S,
    reducers: &'r R,
    control: Control,
    plan: Option<Plan>,
    pull_batch: usize,
    lanes: usize,
    /// The lane the driver is polling; a lane future learns its index from it.
    polling: AtomicUsize,
    /// Each lane's current batch start, so an error is placed in input order.
    current: Box<[AtomicUsize]>,
    partials: Mutex<Vec<Partial<R::Acc>>>,
    /// `queue` / `on_full`: a queue of batches filled ahead of the lanes.
    pump: Option<Pump<S::Item>>,
}

/// The queue between the input and the lanes when the loop has `queue` or `on_full`:
/// one more future (the pump) reads the input ahead into at most `capacity` batches,
/// and `on_full` decides what happens to a batch that finds the queue full.
struct Pump<T> {
    capacity: usize,
    state: Mutex<PumpState<T>>,
}

struct PumpState<T> {
    batches: VecDeque<(usize, Vec<T>)>,
    done: bool,
    lanes_waiting: Vec<Waker>,
    pump_waiting: Option<Waker>,
}

impl<T> Pump<T> {
    fn wake_lanes(st: &mut PumpState<T>) {
        for w in st.lanes_waiting.drain(..) {
            w.wake();
        }
    }

    fn finish(&self) {
        let mut st = lock(&self.state);
        st.done = true;
        Self::wake_lanes(&mut st);
    }
}

/// One lane, as its future sees it.
pub struct AsyncLane<'a, 'r, S: Source, R: ReduceSet> {
    run: &'a AsyncRun<'r, S, R>,
    index: usize,
    local: Mutex<LaneLocal<R::Acc>>,
}

struct LaneLocal<A> {
    cursor: LaneCursor,
    range: Range<usize>,
    partials: Vec<Partial<A>>,
    batches: u64,
    items: u64,
}

/// One claimed batch, its items moved out of the input when it was claimed (so the
/// future holds a plain vector across its awaits, not a borrow of the input's cursor).
/// Items the body never reached are dropped with it.
pub struct LaneBatch<'a, S: Source> {
    start: usize,
    items: Vec<S::Item>,
    control: &'a Control,
    _running: Running<'static>,
}

impl<'a, S: Source> LaneBatch<'a, S> {
    /// The position of the batch's first item in the input.
    pub fn start(&self) -> usize {
        self.start
    }

    /// The batch's items, in input order.
    pub fn items(&mut self) -> LaneItems<'a, S> {
        LaneItems {
            items: std::mem::take(&mut self.items).into_iter(),
            control: self.control,
        }
    }
}

/// The items of a [`LaneBatch`].
pub struct LaneItems<'a, S: Source> {
    items: std::vec::IntoIter<S::Item>,
    control: &'a Control,
}

impl<'a, S: Source> LaneItems<'a, S> {
    /// The same items, but ending early once the run is stopping (fail-fast).
    pub fn checked(self) -> LaneChecked<'a, S> {
        LaneChecked(self)
    }
}

impl<S: Source> Iterator for LaneItems<'_, S> {
    type Item = S::Item;
    fn next(&mut self) -> Option<S::Item> {
        self.items.next()
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.items.size_hint()
    }
}

/// [`LaneItems`] that stop when the run stops.
pub struct LaneChecked<'a, S: Source>(LaneItems<'a, S>);

impl<S: Source> Iterator for LaneChecked<'_, S> {
    type Item = S::Item;
    fn next(&mut self) -> Option<S::Item> {
        if self.0.control.is_stopping() {
            return None;
        }
        self.0.items.next()
    }
}

impl<'r, S: Source, R: ReduceSet> AsyncRun<'r, S, R> {
    /// Prepares the run: checks `limit` and `batch`, plans the batches.
    pub fn new(config: Config, source: S, reducers: &'r R) -> Self {
        let limit = config.checked_limit();
        let batch = config.checked_batch();
        config.site.start_run();
        let serial = !config.wants_parallel();
        let shape = source.shape();
        let lanes = if serial { 1 } else { limit };
        let (lanes, plan, pull_batch) = match shape {
            Shape::Indexed(len) => {
                let b = batch.unwrap_or_else(|| auto_batch(len, lanes));
                let lanes = lanes.min(len.div_ceil(b)).max(1);
                (
                    lanes,
                    Some(Plan::new(Schedule::Dynamic, len, lanes, Some(b))),
                    b,
                )
            }
            Shape::Pulled { hint } => {
                let b = match (batch, hint) {
                    (Some(b), _) => b,
                    (None, Some(len)) => auto_batch(len, lanes).min(MAX_AUTO_PULL_BATCH),
                    (None, None) => AUTO_PULL_BATCH,
                };
                (lanes, None, b)
            }
        };
        let control = Control::with_deadline(config.timeout.map(|t| Instant::now() + t));
        let pump = config_queues(&config).then(|| Pump {
            capacity: config.queue.unwrap_or(lanes.saturating_mul(2)),
            state: Mutex::new(PumpState {
                batches: VecDeque::new(),
                done: false,
                lanes_waiting: Vec::new(),
                pump_waiting: None,
            }),
        });
        AsyncRun {
            config,
            source,
            reducers,
            control,
            plan,
            pull_batch,
            lanes,
            polling: AtomicUsize::new(0),
            current: (0..lanes).map(|_| AtomicUsize::new(usize::MAX)).collect(),
            partials: Mutex::new(Vec::new()),
            pump,
        }
    }

    /// Reads the input ahead of the lanes into the queue (`queue` / `on_full`).
    async fn pump(&self, pump: &Pump<S::Item>) {
        let mut cursor = LaneCursor::new(0);
        loop {
            if self.control.should_stop(&self.config) {
                break;
            }
            let (start, items) = match &self.plan {
                Some(plan) => {
                    let Some(range) = plan.claim(&mut cursor) else {
                        break;
                    };
                    // SAFETY: claimed from the plan, so in bounds and handed out once.
                    let items: Vec<S::Item> = unsafe { self.source.range(range.clone()) }.collect();
                    (range.start, items)
                }
                None => {
                    let mut scratch = S::Scratch::default();
                    let Some(start) =
                        poll_fn(|cx| self.source.poll_fill(cx, self.pull_batch, &mut scratch))
                            .await
                    else {
                        break;
                    };
                    let items: Vec<S::Item> = self.source.drain(&mut scratch, start).collect();
                    (start, items)
                }
            };
            let mut batch = Some((start, items));
            let placed = poll_fn(|cx| {
                let mut st = lock(&pump.state);
                let room = st.batches.len() < pump.capacity
                    || (pump.capacity == 0
                        && st.batches.is_empty()
                        && !st.lanes_waiting.is_empty());
                if room {
                    st.batches
                        .push_back(batch.take().expect("one batch per poll"));
                    Pump::wake_lanes(&mut st);
                    return Poll::Ready(true);
                }
                match self.config.on_full {
                    OnFull::Block => {
                        st.pump_waiting = Some(cx.waker().clone());
                        Poll::Pending
                    }
                    OnFull::Drop => {
                        let (_, items) = batch.take().expect("one batch per poll");
                        drop(st);
                        self.config.site.count_dropped(items.len() as u64);
                        Poll::Ready(true)
                    }
                    // `caller_runs` is refused at compile time for async loops: there is
                    // no caller thread to run a batch on.
                    OnFull::Reject | OnFull::CallerRuns => {
                        drop(st);
                        self.control.stop_with(Stop::Rejected(crate::Rejected));
                        Poll::Ready(false)
                    }
                }
            })
            .await;
            if !placed {
                break;
            }
        }
        pump.finish();
    }

    /// The lane of the future being polled (called once, first thing, by each).
    pub fn lane(&self) -> AsyncLane<'_, 'r, S, R> {
        let index = self.polling.load(Relaxed);
        AsyncLane {
            run: self,
            index,
            local: Mutex::new(LaneLocal {
                cursor: LaneCursor::new(index),
                range: 0..0,
                partials: Vec::new(),
                batches: 0,
                items: 0,
            }),
        }
    }

    /// Runs `lane` futures (`f` makes one) to completion, at most `limit` at once;
    /// returns the combined reductions, the error of the earliest failing batch, or
    /// the run's own stop through `stops`. Re-raises a body's panic.
    pub async fn drive<'a, E, F, Fut, Stops>(&'a self, f: F, stops: Stops) -> Result<R::Acc, E>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<(), E>> + 'a,
        Stops: FnOnce(Stop) -> E,
    {
        let mut lanes: Vec<Option<Pin<Box<Fut>>>> =
            (0..self.lanes).map(|_| Some(Box::pin(f()))).collect();
        let ready = Arc::new(Ready {
            queue: Mutex::new((0..self.lanes).collect()),
            queued: (0..self.lanes).map(|_| AtomicBool::new(true)).collect(),
            parent: Mutex::new(None),
        });
        let wakers: Vec<Waker> = (0..self.lanes)
            .map(|index| {
                Waker::from(Arc::new(LaneWaker {
                    index,
                    ready: ready.clone(),
                }))
            })
            .collect();
        let mut live = self.lanes;
        let mut error: Option<(usize, E)> = None;
        let mut panic = None;
        let mut pump = self.pump.as_ref().map(|p| Box::pin(self.pump(p)));
        let pump_waker = Waker::from(Arc::new(ParentWaker(ready.clone())));
        poll_fn(|cx| {
            *lock(&ready.parent) = Some(cx.waker().clone());
            for _ in 0..ROUNDS_BEFORE_YIELD {
                if let Some(p) = pump.as_mut() {
                    let mut pcx = Context::from_waker(&pump_waker);
                    match catch_unwind(AssertUnwindSafe(|| p.as_mut().poll(&mut pcx))) {
                        Ok(Poll::Pending) => {}
                        Ok(Poll::Ready(())) => pump = None,
                        Err(payload) => {
                            // The input itself panicked: stop like a body panic.
                            panic.get_or_insert(payload);
                            self.control.stop();
                            lanes.iter_mut().for_each(|l| *l = None);
                            return Poll::Ready(());
                        }
                    }
                }
                let round: Vec<usize> = lock(&ready.queue).drain(..).collect();
                if round.is_empty() {
                    break;
                }
                for i in round {
                    ready.queued[i].store(false, Relaxed);
                    let Some(lane) = lanes[i].as_mut() else {
                        continue;
                    };
                    self.polling.store(i, Relaxed);
                    let mut lcx = Context::from_waker(&wakers[i]);
                    let polled = catch_unwind(AssertUnwindSafe(|| lane.as_mut().poll(&mut lcx)));
                    let finished = !matches!(polled, Ok(Poll::Pending));
                    let stop_all = match polled {
                        Ok(Poll::Pending) => false,
                        Ok(Poll::Ready(Ok(()))) => false,
                        Ok(Poll::Ready(Err(e))) => {
                            self.config.site.count_failed();
                            let at = self.current[i].load(Relaxed);
                            if error.as_ref().is_none_or(|(first, _)| at < *first) {
                                error = Some((at, e));
                            }
                            !self.config.keep_going
                        }
                        Err(payload) => {
                            self.config.site.count_panicked();
                            panic.get_or_insert(payload);
                            true
                        }
                    };
                    if finished {
                        lanes[i] = None;
                        live -= 1;
                    }
                    if stop_all {
                        // Fail-fast: the other bodies in flight are dropped, which
                        // cancels them.
                        self.control.stop();
                        for other in lanes.iter_mut() {
                            if other.take().is_some() {
                                live -= 1;
                            }
                        }
                        return Poll::Ready(());
                    }
                }
                if live == 0 {
                    return Poll::Ready(());
                }
            }
            if live == 0 {
                return Poll::Ready(());
            }
            if !lock(&ready.queue).is_empty() {
                // Lanes woke themselves during this poll: come back after the others.
                cx.waker().wake_by_ref();
            }
            Poll::Pending
        })
        .await;
        drop(lanes);
        self.discard_unclaimed();
        if let Some(payload) = panic {
            resume_unwind(payload);
        }
        if let Some((_, e)) = error {
            return Err(e);
        }
        if let Some(stop) = self.control.stopped() {
            return Err(stops(stop));
        }
        let mut partials = std::mem::take(&mut *lock(&self.partials));
        partials.sort_unstable_by_key(|p| p.start);
        Ok(partials
            .into_iter()
            .fold(self.reducers.identity(), |acc, p| {
                self.reducers.combine(acc, p.acc)
            }))
    }

    /// After a stop, owned items of batches no lane claimed are dropped here.
    fn discard_unclaimed(&self) {
        if let Some(plan) = &self.plan {
            if self.source.owns_items() {
                let mut cursor = LaneCursor::new(0);
                while let Some(range) = plan.claim(&mut cursor) {
                    // SAFETY: claimed from the plan, so in bounds and never handed out.
                    unsafe { self.source.discard(range) };
                }
            }
        }
    }
}

impl<'a, 'r, S: Source, R: ReduceSet> AsyncLane<'a, 'r, S, R> {
    /// The next batch for this lane, or `None` when the input or the run has ended.
    pub async fn next(&self) -> Option<LaneBatch<'a, S>> {
        let run = self.run;
        let mut local = lock(&self.local);
        if run.control.should_stop(&run.config) {
            return None;
        }
        let (range, items) = match (&run.pump, &run.plan) {
            (Some(pump), _) => {
                drop(local);
                let (start, items) = poll_fn(|cx| {
                    let mut st = lock(&pump.state);
                    if let Some(batch) = st.batches.pop_front() {
                        if let Some(w) = st.pump_waiting.take() {
                            w.wake();
                        }
                        return Poll::Ready(Some(batch));
                    }
                    if st.done {
                        return Poll::Ready(None);
                    }
                    st.lanes_waiting.push(cx.waker().clone());
                    if let Some(w) = st.pump_waiting.take() {
                        // A waiting lane is room for a hand-off (`queue = 0`).
                        w.wake();
                    }
                    Poll::Pending
                })
                .await?;
                local = lock(&self.local);
                (start..start + items.len(), items)
            }
            _ => match &run.plan {
                Some(plan) => {
                    let range = plan.claim(&mut local.cursor)?;
                    // SAFETY: claimed from the plan, so in bounds and handed out once.
                    let items: Vec<S::Item> = unsafe { run.source.range(range.clone()) }.collect();
                    (range, items)
                }
                None => {
                    let mut scratch = S::Scratch::default();
                    drop(local);
                    let start =
                        poll_fn(|cx| run.source.poll_fill(cx, run.pull_batch, &mut scratch))
                            .await?;
                    local = lock(&self.local);
                    let items: Vec<S::Item> = run.source.drain(&mut scratch, start).collect();
                    (start..start + items.len(), items)
                }
            },
        };
        run.current[self.index].store(range.start, Relaxed);
        local.batches += 1;
        local.items += range.len() as u64;
        local.range = range.clone();
        Some(LaneBatch {
            start: range.start,
            items,
            control: &run.control,
            _running: run.config.site.enter(),
        })
    }

    /// The error this lane is about to return came from the batch at `start` (under
    /// `keep_going`, a lane runs on after a failing batch).
    pub fn failed_at(&self, start: usize) {
        self.run.current[self.index].store(start, Relaxed);
    }

    /// The partial reductions of the batch just run.
    pub fn keep(&self, acc: R::Acc) {
        if std::mem::size_of::<R::Acc>() == 0 {
            return;
        }
        let mut local = lock(&self.local);
        let range = local.range.clone();
        match local.partials.last_mut() {
            Some(last) if last.end == range.start => {
                let prev = std::mem::replace(&mut last.acc, self.run.reducers.identity());
                last.acc = self.run.reducers.combine(prev, acc);
                last.end = range.end;
            }
            _ => local.partials.push(Partial {
                start: range.start,
                end: range.end,
                acc,
            }),
        }
    }
}

impl<S: Source, R: ReduceSet> Drop for AsyncLane<'_, '_, S, R> {
    fn drop(&mut self) {
        let local = self.local.get_mut().unwrap_or_else(|e| e.into_inner());
        self.run
            .config
            .site
            .count_batches(local.batches, local.items);
        if !local.partials.is_empty() {
            lock(&self.run.partials).append(&mut local.partials);
        }
    }
}

struct Ready {
    queue: Mutex<VecDeque<usize>>,
    /// Whether each lane is in `queue` already (so a wake is O(1)).
    queued: Box<[AtomicBool]>,
    parent: Mutex<Option<Waker>>,
}

/// The pump's waker: it is polled on every round, so waking the driver is enough.
struct ParentWaker(Arc<Ready>);

impl Wake for ParentWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(parent) = lock(&self.0.parent).as_ref() {
            parent.wake_by_ref();
        }
    }
}

struct LaneWaker {
    index: usize,
    ready: Arc<Ready>,
}

impl Wake for LaneWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.ready.queued[self.index].swap(true, Relaxed) {
            lock(&self.ready.queue).push_back(self.index);
        }
        if let Some(parent) = lock(&self.ready.parent).as_ref() {
            parent.wake_by_ref();
        }
    }
}
