//! The async driver: loops whose body awaits, lanes as futures polled by the caller's
//! own task.
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
//! that queues the lane for polling and wakes the caller's task. The run shares the
//! engine's feed, control, outcome and sizing with the other drivers; its items live in
//! the run and in the lane futures, so dropping the loop's future half-way drops every
//! item it had not run.

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use super::batch::Tracker;
use super::control::Control;
use super::feed::{Feed, Opened, Sizing, Work};
use super::outcome::{LanePartials, Outcome, RunningGuard};
use crate::cancel::Stop;
use crate::config::{Config, OnFull};
use crate::input::Source;
use crate::limit::permits::Permit;
use crate::limit::{when_full, Full, WhenFull};
use crate::observe::Watch;
use crate::reduce::ReduceSet;
use crate::schedule::LaneCursor;

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

/// Moves a claimed batch's items into a buffer the lane future owns across awaits.
fn into_items<S: Source>(mut work: Work<'_, S>) -> (Range<usize>, Vec<S::Item>) {
    let Opened { range, cursor, .. } = work.open();
    (range, cursor.collect())
}

/// One async loop run: the generated code creates it, then awaits [`AsyncRun::drive`].
///
/// The error type is fixed by the first call of [`AsyncRun::drive`]; it is a type
/// parameter of the run so that its outcome can be shared by the lanes.
pub struct AsyncRun<'r, S: Source, R: ReduceSet, E = ()> {
    config: Config,
    feed: Feed<S>,
    reducers: &'r R,
    control: Control,
    lanes: usize,
    /// The lane the driver is polling; a lane future learns its index from it.
    polling: AtomicUsize,
    /// Each lane's tracker: the item it runs, so an error or a `break` is placed at its
    /// item in input order.
    trackers: Box<[Tracker]>,
    outcome: Outcome<R::Acc, E>,
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
pub struct AsyncLane<'a, 'r, S: Source, R: ReduceSet, E> {
    run: &'a AsyncRun<'r, S, R, E>,
    index: usize,
    local: Mutex<LaneLocal<S, R::Acc>>,
}

struct LaneLocal<S: Source, A> {
    cursor: LaneCursor,
    scratch: S::Scratch,
    range: Range<usize>,
    partials: LanePartials<A>,
    batches: u64,
    items: u64,
    /// `rate`: the rest of a claimed batch, handed out one item per token, with the
    /// input position of its next item.
    held: Option<(usize, std::vec::IntoIter<S::Item>)>,
    /// When the batch running now started (its latency runs to [`AsyncLane::keep`]).
    started: Option<Instant>,
    /// An item of the batch running now failed (`keep_going`).
    failed: bool,
}

/// One claimed batch, its items moved out of the input when it was claimed (so the
/// future holds a plain vector across its awaits, not a borrow of the input's cursor).
/// Items the body never reached are dropped with it.
pub struct LaneBatch<'a, S: Source> {
    start: usize,
    items: Vec<S::Item>,
    control: &'a Control,
    tracker: &'a Tracker,
    _running: RunningGuard<'a>,
    /// `limit = adaptive(...)`: this batch's slot of the current limit.
    _slot: Option<Permit<'a>>,
}

impl<'a, S: Source> LaneBatch<'a, S> {
    /// The position of the batch's first item in the input.
    pub fn start(&self) -> usize {
        self.start
    }

    /// The lane's tracker, for a body that can `break` or `return`.
    pub fn tracker(&self) -> &'a Tracker {
        self.tracker
    }

    /// The batch's items, in input order.
    pub fn items(&mut self) -> LaneItems<'a, S> {
        LaneItems {
            items: std::mem::take(&mut self.items).into_iter(),
            control: self.control,
            tracker: self.tracker,
            next: self.start,
        }
    }
}

/// The items of a [`LaneBatch`].
pub struct LaneItems<'a, S: Source> {
    items: std::vec::IntoIter<S::Item>,
    control: &'a Control,
    tracker: &'a Tracker,
    /// The input position of the next item.
    next: usize,
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
        let it = &mut self.0;
        // Stopping, or an earlier item broke out of the loop: no new item starts.
        if it.control.is_stopping() || it.next > it.control.cut() {
            return None;
        }
        let item = it.items.next()?;
        it.tracker.set(it.next);
        it.next += 1;
        Some(item)
    }
}

impl<'r, S: Source, R: ReduceSet, E> AsyncRun<'r, S, R, E> {
    /// `limit = adaptive(...)`: how the run tells overload signals among its errors
    /// (the generated code's classifier, through [`IsOverloaded`](crate::IsOverloaded)).
    pub fn overloaded_by(mut self, classify: fn(&E) -> bool) -> Self {
        self.outcome.overloaded_by(classify);
        self
    }

    /// Prepares the run: checks `limit` and `batch`, plans the batches.
    #[track_caller]
    pub fn new(config: Config, source: S, reducers: &'r R) -> Self {
        let super::Start {
            limit,
            batch,
            shape,
            stoppable,
        } = super::start(&config, &source);
        let parallel = config.wants_parallel();
        let sizing = Sizing::new(&config, shape, limit, batch, parallel, stoppable);
        let watch = Watch::start(&config, shape, limit);
        // A stream or an unsized iterator may turn out empty: still one lane to find out.
        let lanes = sizing.lanes.max(1);
        let feed = Feed::new(source, &sizing);
        let control = Control::new(&config);
        let outcome = Outcome::new(&config, watch, reducers);
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
            feed,
            reducers,
            control,
            lanes,
            polling: AtomicUsize::new(0),
            trackers: (0..lanes).map(|_| Tracker::default()).collect(),
            outcome,
            pump,
        }
    }

    /// Reads the input ahead of the lanes into the queue (`queue` / `on_full`).
    async fn pump(&self, pump: &Pump<S::Item>) {
        let mut cursor = LaneCursor::new(0);
        let mut scratch = S::Scratch::default();
        loop {
            let Some(work) =
                poll_fn(|cx| self.feed.poll_claim(cx, &mut cursor, &mut scratch)).await
            else {
                break;
            };
            if self.control.refuses(work.start()) {
                break;
            }
            let (range, items) = into_items(work);
            let mut batch = Some((range.start, items));
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
                // A future has no thread to run a batch on: `caller_runs` is refused at
                // compile time for async loops, and waits here.
                let full = Full {
                    can_run_here: false,
                    waiting_could_deadlock: false,
                };
                match when_full(self.config.on_full, full) {
                    WhenFull::Wait | WhenFull::RunHere => {
                        st.pump_waiting = Some(cx.waker().clone());
                        Poll::Pending
                    }
                    WhenFull::Shed => {
                        let (_, items) = batch.take().expect("one batch per poll");
                        drop(st);
                        self.outcome.dropped(self.config.site, items.len() as u64);
                        Poll::Ready(true)
                    }
                    WhenFull::Refuse => {
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
    pub fn lane(&self) -> AsyncLane<'_, 'r, S, R, E> {
        let index = self.polling.load(Relaxed);
        AsyncLane {
            run: self,
            index,
            local: Mutex::new(LaneLocal {
                cursor: LaneCursor::new(index),
                scratch: S::Scratch::default(),
                range: 0..0,
                partials: LanePartials::default(),
                batches: 0,
                items: 0,
                held: None,
                started: None,
                failed: false,
            }),
        }
    }

    /// Runs `lane` futures (`f` makes one) to completion, at most `limit` at once;
    /// returns the combined reductions, the error of the earliest failing batch, or
    /// the run's own stop through `stops`. Re-raises a body's panic.
    pub async fn drive<'a, F, Fut, Stops>(&'a self, f: F, stops: Stops) -> Result<R::Acc, E>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<(), E>> + 'a,
        Stops: FnOnce(Stop) -> E,
    {
        let site = self.config.site;
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
        // Time each lane spent being polled: its bodies' own time, between awaits.
        let mut busy = vec![Duration::ZERO; self.lanes];
        let mut pump = self.pump.as_ref().map(|p| Box::pin(self.pump(p)));
        let pump_waker = Waker::from(Arc::new(ParentWaker(ready.clone())));
        poll_fn(|cx| {
            // The run's span, entered for each poll (never held across an await).
            let _span = self.outcome.enter_span();
            *lock(&ready.parent) = Some(cx.waker().clone());
            for _ in 0..ROUNDS_BEFORE_YIELD {
                if let Some(p) = pump.as_mut() {
                    let mut pcx = Context::from_waker(&pump_waker);
                    match catch_unwind(AssertUnwindSafe(|| p.as_mut().poll(&mut pcx))) {
                        Ok(Poll::Pending) => {}
                        Ok(Poll::Ready(())) => pump = None,
                        Err(payload) => {
                            // The input itself panicked: stop like a body panic.
                            self.outcome.panicked(site, &self.control, payload);
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
                    let polled_at = Instant::now();
                    let polled = catch_unwind(AssertUnwindSafe(|| lane.as_mut().poll(&mut lcx)));
                    busy[i] += polled_at.elapsed();
                    let finished = !matches!(polled, Ok(Poll::Pending));
                    match polled {
                        Ok(Poll::Pending) | Ok(Poll::Ready(Ok(()))) => {}
                        Ok(Poll::Ready(Err(e))) => {
                            let at = self.trackers[i].error_position();
                            // A `keep_going` lane told the limiter of each error already.
                            let told = self.config.keep_going;
                            self.outcome
                                .failed(&self.config, &self.control, at, e, told);
                        }
                        Err(payload) => self.outcome.panicked(site, &self.control, payload),
                    }
                    if finished {
                        lanes[i] = None;
                        live -= 1;
                    }
                    if self.control.is_stopping() && self.control.stopped().is_none() {
                        // Fail-fast (an error or a panic): the other bodies in flight
                        // are dropped, which cancels them.
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
        drop(pump);
        let busy: Duration = busy.iter().sum();
        self.outcome.lane_done(site, 0, 0, busy);
        self.outcome
            .finish(&self.config, self.reducers, &self.control, stops, None)
    }
}

impl<'a, 'r, S: Source, R: ReduceSet, E> AsyncLane<'a, 'r, S, R, E> {
    /// The next batch for this lane, or `None` when the input or the run has ended.
    ///
    /// Under `rate`, each item is a batch of its own, handed out once its token is
    /// there: the lane awaits the token here (on a timer), not in the body's `for` loop,
    /// which cannot await between items.
    pub async fn next(&self) -> Option<LaneBatch<'a, S>> {
        // Under an adaptive limit, a slot first: a lowered limit holds from the next
        // batch of every lane.
        let slot = match &self.run.outcome.limiter {
            Some(limiter) => Some(limiter.slot_async().await),
            None => None,
        };
        if !self.run.control.is_paced() {
            let (range, items) = self.claim().await?;
            return self.open(range, items, slot);
        }
        let held = lock(&self.local).held.take();
        let (start, mut items) = match held {
            Some((start, items)) if !items.as_slice().is_empty() => (start, items),
            _ => {
                let (range, items) = self.claim().await?;
                (range.start, items.into_iter())
            }
        };
        if items.as_slice().is_empty() {
            return self.open(start..start, Vec::new(), slot);
        }
        // Dropping this future while it waits drops `items` with it, unrun.
        if !self.run.control.paced_async(start).await {
            return None;
        }
        let item = items.next().expect("checked above: an item is left");
        lock(&self.local).held = Some((start + 1, items));
        self.open(start..start + 1, vec![item], slot)
    }

    /// The next batch from the pump or the feed, its items moved into the lane.
    async fn claim(&self) -> Option<(Range<usize>, Vec<S::Item>)> {
        let run = self.run;
        match &run.pump {
            Some(pump) => {
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
                Some((start..start + items.len(), items))
            }
            None => {
                let work = poll_fn(|cx| {
                    let local = &mut *lock(&self.local);
                    run.feed
                        .poll_claim(cx, &mut local.cursor, &mut local.scratch)
                })
                .await?;
                if run.control.refuses(work.start()) {
                    return None;
                }
                Some(into_items(work))
            }
        }
    }

    /// Hands claimed items to the body, unless the run refuses them.
    fn open(
        &self,
        range: Range<usize>,
        items: Vec<S::Item>,
        slot: Option<Permit<'a>>,
    ) -> Option<LaneBatch<'a, S>> {
        let run = self.run;
        // Claimed first, checked second: a run whose every item started is not
        // reported as cancelled because a lane looked for more after the deadline.
        if run.control.refuses(range.start) {
            return None;
        }
        let tracker = &run.trackers[self.index];
        tracker.reset(range.start);
        let mut local = lock(&self.local);
        local.batches += 1;
        local.items += range.len() as u64;
        local.range = range.clone();
        local.started = Some(Instant::now());
        local.failed = false;
        Some(LaneBatch {
            start: range.start,
            items,
            control: &run.control,
            tracker,
            _running: run.outcome.enter(run.config.site),
            _slot: slot,
        })
    }

    /// The error this lane is about to return came from the batch at `start` (under
    /// `keep_going`, a lane runs on after a failing batch).
    pub fn failed_at(&self, start: usize) {
        let tracker = &self.run.trackers[self.index];
        tracker.reset(start);
    }

    /// `keep_going`: an item of the batch running now failed with `error` (the lane
    /// returns its first error when it ends). The adaptive limiter hears of it now.
    pub fn item_failed(&self, error: &E) {
        lock(&self.local).failed = true;
        self.run.outcome.classify(error);
    }

    /// Where the batch's private copies start (the identity, or the lane's copy
    /// under order-free reductions): what the body starts from, before its items.
    pub fn seed(&self) -> R::Acc {
        if !self.run.outcome.keeps_lane_copies() {
            // Nothing kept to hand back: no lock per batch.
            return self.run.reducers.identity();
        }
        let mut local = lock(&self.local);
        self.run
            .outcome
            .seed(&mut local.partials, self.run.reducers, None)
    }

    /// The partial reductions of the batch just run. After a `break`, they cover the
    /// items up to it, and the run is cut there.
    pub fn keep(&self, acc: R::Acc) {
        let mut local = lock(&self.local);
        let range = local.range.clone();
        if let Some(started) = local.started.take() {
            let succeeded = !local.failed;
            self.run.outcome.timed(
                &mut local.partials,
                started.elapsed(),
                range.len(),
                succeeded,
            );
        }
        let (range, broke) = match self.run.trackers[self.index].broke_at() {
            Some(at) => {
                self.run.control.cut_at(at);
                (range.start..at + 1, true)
            }
            None => (range, false),
        };
        self.run
            .outcome
            .keep(&mut local.partials, range, broke, acc, self.run.reducers);
    }
}

impl<S: Source, R: ReduceSet, E> Drop for AsyncLane<'_, '_, S, R, E> {
    fn drop(&mut self) {
        let local = self.local.get_mut().unwrap_or_else(|e| e.into_inner());
        self.run.outcome.lane_done(
            self.run.config.site,
            local.batches,
            local.items,
            Duration::ZERO,
        );
        self.run
            .outcome
            .absorb(&mut local.partials, self.run.reducers, false);
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
