//! The lane core every synchronous driver shares: one run's feed, control and outcome,
//! and what a lane does with a batch — run the body under `catch_unwind`, keep its
//! partials, place its error by item, or stop the run on a panic.
//!
//! Drivers (serial, rayon, pool) only decide where lanes run and how work reaches
//! them; the async driver shares the same feed, control, outcome and sizing.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use super::batch::{Batch, Tracker};
use super::control::Control;
use super::feed::{Feed, Opened, Sizing, Work};
use super::outcome::{LanePartials, Outcome, RunningGuard};
use crate::cancel::Stop;
use crate::config::Config;
use crate::input::Source;
use crate::observe::{Lent, Watch};
use crate::reduce::ReduceSet;
use crate::schedule::LaneCursor;

/// The loop itself as the engine sees it: its per-lane state and its body over one
/// batch. One bound for internal functions instead of a `where` clause per function.
pub(crate) trait Body<S: Source, A>: Sync {
    /// `with(...)` state, one per lane.
    type State;
    /// The body's error type.
    type Error: Send;
    /// Makes one lane's state.
    fn init(&self) -> Self::State;
    /// Runs the body over one batch, its private copies starting at `seed` (the
    /// identity, or the lane's copy so far: `Outcome::seed`), returning them.
    fn run(&self, state: &mut Self::State, seed: A, batch: Batch<'_, S>) -> Result<A, Self::Error>;
}

/// The generated code's two closures as a [`Body`].
pub(crate) struct Closures<Init, F> {
    pub(crate) init: Init,
    pub(crate) body: F,
}

impl<S, A, W, E, Init, F> Body<S, A> for Closures<Init, F>
where
    S: Source,
    E: Send,
    Init: Fn() -> W + Sync,
    F: Fn(&mut W, A, Batch<'_, S>) -> Result<A, E> + Sync,
{
    type State = W;
    type Error = E;

    #[inline]
    fn init(&self) -> W {
        (self.init)()
    }

    #[inline]
    fn run(&self, state: &mut W, seed: A, batch: Batch<'_, S>) -> Result<A, E> {
        (self.body)(state, seed, batch)
    }
}

/// One synchronous run.
pub(crate) struct Engine<'r, S: Source, R: ReduceSet, B: Body<S, R::Acc>> {
    pub(crate) config: &'r Config,
    pub(crate) feed: Feed<S>,
    pub(crate) sizing: Sizing,
    pub(crate) reducers: &'r R,
    pub(crate) body: &'r B,
    pub(crate) control: Control,
    pub(crate) outcome: Outcome<R::Acc, B::Error>,
}

/// One lane (or one batch a dispatcher runs) running: counted as running, and its
/// thread lent to the run's progress bar, so loops its bodies start nest under it.
pub(crate) struct LaneGuard<'a> {
    _running: RunningGuard<'a>,
    _lent: Lent,
}

/// What one lane keeps to itself.
pub(crate) struct Lane<W, A> {
    state: Option<W>,
    partials: LanePartials<A>,
    tracker: Tracker,
    batches: u64,
    items: u64,
    /// Time in bodies, summed over the lane's batches (timed in [`Engine::run_work`]).
    busy: Duration,
    /// The last batch's time in its body.
    last: Duration,
    /// A lane that claims its own work: when its last batch ended (or, for the serial
    /// driver's, when the run started). Its next batch is timed from there, so a batch
    /// costs one clock read, not two; the claim in between is the lane's own work.
    clock: Option<Instant>,
    /// Quick batches run back to back since `clock` that no clock read has ended yet
    /// (see [`TIMED_GROUP`]): their items and count.
    untimed: usize,
    untimed_batches: u32,
}

/// A claiming lane whose last timed batch took under [`QUICK_TO_TIME`] times the next
/// ones in groups of up to this many: one clock read ends the group, its time is the
/// lane's busy time, and its items are recorded at the group's mean. A clock read and
/// its bookkeeping cost tens of nanoseconds, which a batch of one cheap item would
/// otherwise pay in full (`batch = 1` on rayon: 56-72 → 37 ns an item; on the pool:
/// 94-105 → 53-67). The figures stay exact in sum and lose only the spread within a
/// group: an item that is slow among quick ones shows at its group's mean, at least
/// an eighth of its time. A batch that fails, panics or breaks, a lane about to wait,
/// and a lane's end always read the clock.
const TIMED_GROUP: u32 = 8;
const QUICK_TO_TIME: Duration = Duration::from_micros(2);

impl<W, A> Lane<W, A> {
    /// A lane, or the record of a dispatcher that runs some batches itself.
    pub(crate) fn new() -> Self {
        Lane {
            state: None,
            partials: LanePartials::default(),
            tracker: Tracker::default(),
            batches: 0,
            items: 0,
            busy: Duration::ZERO,
            last: Duration::ZERO,
            clock: None,
            untimed: 0,
            untimed_batches: 0,
        }
    }

    /// A lane that starts at `from` (its first batch is timed from there), if the
    /// caller knows.
    pub(crate) fn starting(from: Option<Instant>) -> Self {
        Lane {
            clock: from,
            ..Lane::new()
        }
    }

    /// When the lane's last batch ended, if it claims its own work and its run has not
    /// moved it since.
    pub(crate) fn ended(&self) -> Option<Instant> {
        self.clock
    }
}

impl<'r, S, R, B> Engine<'r, S, R, B>
where
    S: Source,
    R: ReduceSet,
    B: Body<S, R::Acc>,
{
    // Inlined into the driver, as `finish` is: the outcome is built in the engine's
    // place instead of being built apart and copied in.
    #[inline]
    pub(crate) fn new(
        config: &'r Config,
        feed: Feed<S>,
        sizing: Sizing,
        reducers: &'r R,
        body: &'r B,
        watch: Watch,
    ) -> Self {
        Engine {
            control: Control::new(config),
            config,
            feed,
            sizing,
            reducers,
            body,
            outcome: Outcome::new(config, watch, reducers),
        }
    }

    /// A lane that claims its own work until the input or the run ends (serial and
    /// rayon lanes). `from` is when the lane started, if the caller knows (the serial
    /// driver's lane starts with the run). Returns when its last batch ended.
    pub(crate) fn claiming_lane(&self, lane: usize, from: Option<Instant>) -> Option<Instant> {
        let mut local = Lane::starting(from);
        self.claim_until(lane, &mut local, |_| false);
        let ended = local.ended();
        self.finish_lane(local);
        ended
    }

    /// Runs the lane `local` on claimed work until the input or the run ends, or until
    /// `leave`, asked with the lane's time in bodies so far after each batch, says to
    /// stop with input left (the rayon driver's lone first lane leaves to bring in the
    /// others, then goes on with the same record: one `with(...)` state, one set of
    /// partials). Returns whether it left.
    #[inline]
    pub(crate) fn claim_until(
        &self,
        lane: usize,
        local: &mut Lane<B::State, R::Acc>,
        mut leave: impl FnMut(Duration) -> bool,
    ) -> bool {
        // A lane runs its batches back to back: counting it once as running gives the
        // same peak as counting each batch, without two contended atomics per batch. It
        // counts from its first claimed batch: a lane that finds nothing left (brought
        // in as the input ran out) never ran a body, and is not in the peak.
        let mut running = None;
        let mut cursor = LaneCursor::new(lane);
        let mut spare = S::Scratch::default();
        while let Some(work) = self.feed.claim(&mut cursor, &mut spare) {
            running.get_or_insert_with(|| self.enter());
            let work = self.run_work_timed(local, work, true);
            cursor.took(local.last);
            match work {
                Some(work) => work.recycle(&mut spare),
                None => {
                    self.end_timing(local);
                    return false;
                }
            }
            if leave(local.busy) {
                // Timed afresh when it goes on: what happens in between is not a body's.
                self.end_timing(local);
                local.clock = None;
                return true;
            }
        }
        self.end_timing(local);
        false
    }

    /// Ends the lane's group of untimed batches, if it has one ([`TIMED_GROUP`]), now:
    /// a lane about to wait for work calls it first, so the wait is not a body's.
    pub(crate) fn end_timing(&self, lane: &mut Lane<B::State, R::Acc>) {
        if lane.untimed_batches == 0 {
            return;
        }
        let ended = Instant::now();
        let started = lane.clock.unwrap_or(ended);
        let took = ended.saturating_duration_since(started);
        lane.clock = Some(ended);
        lane.busy += took;
        lane.last = took / lane.untimed_batches;
        self.outcome
            .timed(&mut lane.partials, took, lane.untimed, true);
        lane.untimed = 0;
        lane.untimed_batches = 0;
    }

    /// Runs one claimed batch, unless the run refuses it (stopping, past its deadline,
    /// after a `break`): then the work is dropped, with its items, and `None` says the
    /// lane should stop. Gives the work back (emptied) for its buffer.
    pub(crate) fn run_work<'w>(
        &self,
        lane: &mut Lane<B::State, R::Acc>,
        work: Work<'w, S>,
    ) -> Option<Work<'w, S>> {
        self.run_work_timed(lane, work, false)
    }

    /// [`run_work`](Self::run_work) for a lane fed batches through a queue (the pool
    /// driver's): a batch that was already waiting is timed from the end of the lane's
    /// last one, as a claiming lane's are (taking it from the queue is the lane's own
    /// work); one the lane `waited` for is timed from now. A lane calls
    /// [`end_timing`](Self::end_timing) before it waits.
    pub(crate) fn run_queued<'w>(
        &self,
        lane: &mut Lane<B::State, R::Acc>,
        work: Work<'w, S>,
        waited: bool,
    ) -> Option<Work<'w, S>> {
        if waited {
            // The lane ended its timing before it waited (`end_timing`).
            lane.clock = None;
        }
        self.run_work_timed(lane, work, true)
    }

    /// [`run_work`](Self::run_work); a lane that `claims` its own work times each batch
    /// from the end of the one before ([`Lane::clock`]).
    #[inline]
    fn run_work_timed<'w>(
        &self,
        lane: &mut Lane<B::State, R::Acc>,
        mut work: Work<'w, S>,
        claims: bool,
    ) -> Option<Work<'w, S>> {
        if self.control.refuses(work.start()) {
            return None;
        }
        let Opened {
            range,
            cursor,
            positions,
        } = work.open();
        lane.batches += 1;
        lane.items += range.len() as u64;
        lane.tracker.reset(range.start);
        let batch = Batch {
            cursor,
            start: range.start,
            positions,
            control: &self.control,
            tracker: &lane.tracker,
        };
        let state = &mut lane.state;
        let seed = self
            .outcome
            .seed(&mut lane.partials, self.reducers, Some(range.start));
        // The one clock of a batch, whichever driver runs it: its time in the body is
        // the lane's busy time and, per item, the run's latency.
        let started = lane.clock.take().unwrap_or_else(Instant::now);
        let result = catch_unwind(AssertUnwindSafe(|| {
            let state = state.get_or_insert_with(|| self.body.init());
            self.body.run(state, seed, batch)
        }));
        let items = range.len();
        let succeeded = matches!(result, Ok(Ok(_)));
        let quick = claims
            && succeeded
            && lane.last > Duration::ZERO
            && lane.last < QUICK_TO_TIME
            && lane.untimed_batches + 1 < TIMED_GROUP
            && lane.tracker.broke_at().is_none();
        if quick {
            // Part of a group the next clock read ends: the clock stays at its start.
            lane.clock = Some(started);
            lane.untimed += items;
            lane.untimed_batches += 1;
        } else {
            let ended = Instant::now();
            let took = ended.saturating_duration_since(started);
            if claims {
                lane.clock = Some(ended);
            }
            let batches = lane.untimed_batches + 1;
            lane.busy += took;
            lane.last = took / batches;
            self.outcome
                .timed(&mut lane.partials, took, items + lane.untimed, succeeded);
            lane.untimed = 0;
            lane.untimed_batches = 0;
        }
        let site = self.config.site;
        // A `break` cuts the run at its item; the batch's partial covers the items up to
        // it, so it never joins a neighbour past the cut.
        let (range, broke) = match lane.tracker.broke_at() {
            Some(at) => {
                self.control.cut_at(at);
                (range.start..at + 1, true)
            }
            None => (range, false),
        };
        match result {
            Ok(Ok(acc)) => self
                .outcome
                .keep(&mut lane.partials, range, broke, acc, self.reducers),
            Ok(Err(error)) => {
                let at = lane.tracker.error_position();
                self.outcome
                    .failed(self.config, &self.control, at, error, false)
            }
            Err(payload) => self.outcome.panicked(site, &self.control, payload),
        }
        Some(work)
    }

    /// A lane, or a batch its dispatcher runs, starts running.
    pub(crate) fn enter(&self) -> LaneGuard<'_> {
        LaneGuard {
            _running: self.outcome.enter(self.config.site),
            _lent: self.outcome.watch().lend(),
        }
    }

    /// A lane is done: its counts, time and partials join the run's.
    pub(crate) fn finish_lane(&self, mut lane: Lane<B::State, R::Acc>) {
        self.end_timing(&mut lane);
        self.outcome
            .lane_done(self.config.site, lane.batches, lane.items, lane.busy);
        self.outcome
            .absorb(&mut lane.partials, self.reducers, false);
    }

    /// The loop's result, after every lane has finished. Unclaimed items are dropped
    /// first (with the feed), then a panic is re-raised, or the first error returned.
    /// `merging_from` is when the last lane ended, if it ended on this thread just now
    /// (the serial driver's): combining the partials is timed from there.
    // Inlined into the driver: the engine is large, and passing it by value copies it.
    #[inline]
    pub(crate) fn finish<Stops: FnOnce(Stop) -> B::Error>(
        self,
        stops: Stops,
        merging_from: Option<Instant>,
    ) -> Result<R::Acc, B::Error> {
        let Engine {
            config,
            feed,
            reducers,
            control,
            outcome,
            ..
        } = self;
        drop(feed);
        outcome.finish(config, reducers, &control, stops, merging_from)
    }
}
