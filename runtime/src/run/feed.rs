//! Where a run's work comes from: the input, cut into batches by one sizing rule, and
//! handed out as [`Work`] that drops its own items if it never runs.
//!
//! Two owners make "every owned item is dropped exactly once" structural rather than a
//! rule each driver must remember: a claimed [`Work`] drops the items it still holds
//! when it is dropped unrun (after a stop, a shed batch, a queue dropped by a pool
//! abort, an async loop's future dropped half-way), and the [`Feed`] drops every range
//! that no lane claimed when it is itself dropped.

use std::ops::Range;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::config::{Backend, Config, Schedule};
use crate::input::{Buffer, Shape, Source};
use crate::schedule::{auto_batch, LaneCursor, Plan};

/// `batch = auto` for an iterator whose length is unknown: a lane's first pulled batch.
pub(crate) const AUTO_PULL_BATCH: usize = 64;

/// The largest batch `batch = auto` picks for a pulled input of known length: pulled
/// items are moved into lane buffers, so the batch is what bounds memory.
pub(crate) const MAX_AUTO_PULL_BATCH: usize = 1024;

/// The largest a growing pulled batch gets on parallel lanes: at most `lanes ×` this
/// many items are out of the iterator at once.
pub(crate) const MAX_GROWN_PULL_BATCH: usize = 8192;

/// The largest a growing pulled batch gets on one lane that nothing stops early.
pub(crate) const MAX_SERIAL_PULL_BATCH: usize = 1 << 18;

/// Parallel lanes double their pulled batch while a batch takes less than this (claim
/// to next claim): a batch's own cost (a fresh partial, a merge, a lock) stays small
/// beside it, and the lane that pulls the last batch finishes at most about two of
/// these after the others.
pub(crate) const GROW_PARALLEL_BELOW: Duration = Duration::from_millis(2);

/// One lane has no other lane to wait for: it grows (sixteenfold) while a batch takes less
/// than this, which only keeps a slow iterator (a channel that trickles) from waiting
/// for a large batch to fill before the body sees an item.
pub(crate) const GROW_SERIAL_BELOW: Duration = Duration::from_millis(20);

/// How a pulled batch of `batch = auto` grows when the input's length is unknown: each
/// lane starts at [`AUTO_PULL_BATCH`] and multiplies its next batch by `factor` while
/// the last one took less than `below`, up to `max`; a batch that took over four times
/// `below` halves the next (not below the first size).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PullGrowth {
    pub(crate) factor: usize,
    pub(crate) max: usize,
    pub(crate) below: Duration,
}

impl PullGrowth {
    /// Parallel lanes: doubling to [`MAX_GROWN_PULL_BATCH`] under [`GROW_PARALLEL_BELOW`].
    pub(crate) const PARALLEL: PullGrowth = PullGrowth {
        factor: 2,
        max: MAX_GROWN_PULL_BATCH,
        below: GROW_PARALLEL_BELOW,
    };

    /// One lane that nothing stops early: sixteenfold to [`MAX_SERIAL_PULL_BATCH`] under
    /// [`GROW_SERIAL_BELOW`].
    pub(crate) const SERIAL: PullGrowth = PullGrowth {
        factor: 16,
        max: MAX_SERIAL_PULL_BATCH,
        below: GROW_SERIAL_BELOW,
    };

    /// The next batch of a lane whose last batch held `last` items and took `took`.
    pub(crate) fn next(&self, last: usize, took: Duration) -> usize {
        if took < self.below {
            last.saturating_mul(self.factor).min(self.max)
        } else if took > self.below * 4 {
            (last / 2).max(AUTO_PULL_BATCH)
        } else {
            last
        }
    }
}

/// How many lanes a run starts and how big its batches are: the one sizing rule.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sizing {
    /// Lanes to start: at most `limit`, and no more than there are batches.
    pub(crate) lanes: usize,
    /// Items per pulled batch (the first, when it grows).
    pub(crate) pull: usize,
    /// How pulled batches grow (`batch = auto`, length unknown); `None`: fixed.
    pub(crate) grow: Option<PullGrowth>,
    /// The plan of an indexed input: its schedule and fixed batch (`None`: auto).
    pub(crate) plan: Option<(Schedule, usize, Option<usize>)>,
}

impl Sizing {
    /// `limit` and `batch` are the checked options; `parallel` is false when the loop
    /// runs on the calling thread alone.
    pub(crate) fn new(
        config: &Config,
        shape: Shape,
        limit: usize,
        batch: Option<usize>,
        parallel: bool,
        stoppable: bool,
    ) -> Self {
        // Async lanes move each batch into a buffer of their own: never the whole input.
        let stoppable = stoppable || config.backend == Backend::Async;
        if !parallel {
            return match shape {
                // Without a deadline or token, one batch: the body's loop runs over the
                // whole input, as written. With one, batches, so the check runs between.
                Shape::Indexed(len) => {
                    let step = match (stoppable, batch) {
                        (false, _) => len.max(1),
                        (true, Some(b)) => b,
                        (true, None) => auto_batch(len, 1),
                    };
                    Sizing {
                        lanes: 1,
                        pull: step,
                        grow: None,
                        plan: Some((Schedule::Dynamic, len, Some(step))),
                    }
                }
                // The same for a pulled input, as far as memory allows: batches grow
                // to `MAX_SERIAL_PULL_BATCH`, so the body runs over long stretches of
                // the input with one partial each. A deadline or token keeps them to
                // the parallel lanes' size, so the check still runs between.
                Shape::Pulled { .. } => Sizing {
                    lanes: 1,
                    pull: batch.unwrap_or(AUTO_PULL_BATCH),
                    grow: match (batch, config.backend, stoppable) {
                        (Some(_), _, _) | (None, Backend::Async, _) => None,
                        (None, _, true) => Some(PullGrowth::PARALLEL),
                        (None, _, false) => Some(PullGrowth::SERIAL),
                    },
                    plan: None,
                },
            };
        }
        match shape {
            Shape::Indexed(len) => match config.backend {
                // The rayon lanes share a schedule; the pool's dispatcher and the async
                // lanes take batches of one size in input order.
                Backend::Rayon | Backend::Serial | Backend::Timely => {
                    let lanes = limit.min(Plan::batches(len, config.schedule, limit, batch));
                    Sizing {
                        lanes,
                        pull: 0,
                        grow: None,
                        plan: Some((config.schedule, len, batch)),
                    }
                }
                Backend::Pool | Backend::Async => {
                    let b = batch.unwrap_or_else(|| auto_batch(len, limit));
                    Sizing {
                        lanes: limit.min(len.div_ceil(b)),
                        pull: b,
                        grow: None,
                        plan: Some((Schedule::Dynamic, len, Some(b))),
                    }
                }
            },
            // An iterator that knows its length needs no more lanes than batches.
            Shape::Pulled { hint: Some(len) } => {
                let b = batch.unwrap_or_else(|| auto_batch(len, limit).min(MAX_AUTO_PULL_BATCH));
                Sizing {
                    lanes: limit.min(len.div_ceil(b)),
                    pull: b,
                    grow: None,
                    plan: None,
                }
            }
            // Unknown length: batches start small (a short input still spreads over
            // the lanes) and grow while they are cheap (async lanes keep theirs fixed:
            // a stream's batch is what is ready, not what was asked for).
            Shape::Pulled { hint: None } => Sizing {
                lanes: limit,
                pull: batch.unwrap_or(AUTO_PULL_BATCH),
                grow: (batch.is_none() && config.backend != Backend::Async)
                    .then_some(PullGrowth::PARALLEL),
                plan: None,
            },
        }
    }

    /// A run of `len` items whose lane 0 starts alone (`rayon::drive`) under `batch =
    /// auto`: batches of `items` (about a quarter of [`SMALL_RUN`](super::SMALL_RUN) at
    /// the loop's last pace), no smaller than `auto` would cut, so the lone lane runs a
    /// few batches, not dozens of two items each, and still looks up between them; and
    /// no larger than one lane's share, so a run whose body got slower since the last
    /// one loses at most that share on one lane before the others join it. A pulled
    /// input's batch also stays within what bounds its memory.
    pub(crate) fn alone(&mut self, items: usize, len: usize) {
        let share = len.div_ceil(self.lanes.max(1)).max(1);
        let batch = |auto: usize| items.max(auto).min(share);
        match &mut self.plan {
            Some((_, _, planned @ None)) => *planned = Some(batch(auto_batch(len, self.lanes))),
            Some(_) => {}
            None => self.pull = batch(self.pull).min(MAX_AUTO_PULL_BATCH),
        }
    }
}

/// A run's input and its plan.
pub(crate) struct Feed<S: Source> {
    source: S,
    plan: Option<Plan>,
    pull: usize,
    grow: Option<PullGrowth>,
}

impl<S: Source> Feed<S> {
    pub(crate) fn new(source: S, sizing: &Sizing) -> Self {
        let plan = sizing
            .plan
            .map(|(schedule, len, batch)| Plan::new(schedule, len, sizing.lanes.max(1), batch));
        Feed {
            source,
            plan,
            pull: sizing.pull,
            grow: sizing.grow,
        }
    }

    /// How many items the lane at `cursor` pulls next: the fixed size, or its last
    /// batch grown or shrunk by [`PullGrowth::next`] for the time since its last claim.
    fn pull_size(&self, cursor: &mut LaneCursor) -> usize {
        let Some(grow) = self.grow else {
            return self.pull;
        };
        let now = Instant::now();
        let size = match cursor.pulled_at {
            Some(at) => grow.next(cursor.pulled, now.saturating_duration_since(at)),
            None => self.pull,
        };
        cursor.pulled = size;
        cursor.pulled_at = Some(now);
        size
    }

    /// The next batch for the lane at `cursor`; `spare` is a buffer to fill (pulled
    /// inputs), taken back with [`Work::recycle`].
    pub(crate) fn claim(
        &self,
        cursor: &mut LaneCursor,
        spare: &mut S::Scratch,
    ) -> Option<Work<'_, S>> {
        match &self.plan {
            Some(plan) => plan.claim(cursor).map(|r| self.work(Kind::Range(r))),
            None => {
                let mut scratch = std::mem::take(spare);
                let start = self.source.fill(self.pull_size(cursor), &mut scratch)?;
                Some(self.work(Kind::Items { start, scratch }))
            }
        }
    }

    /// [`claim`](Self::claim) for a future: a stream input may have to wait.
    pub(crate) fn poll_claim(
        &self,
        cx: &mut Context<'_>,
        cursor: &mut LaneCursor,
        scratch: &mut S::Scratch,
    ) -> Poll<Option<Work<'_, S>>> {
        match &self.plan {
            Some(plan) => Poll::Ready(plan.claim(cursor).map(|r| self.work(Kind::Range(r)))),
            None => self
                .source
                .poll_fill(cx, self.pull_size(cursor), scratch)
                .map(|start| {
                    start.map(|start| {
                        self.work(Kind::Items {
                            start,
                            scratch: std::mem::take(scratch),
                        })
                    })
                }),
        }
    }

    /// Work made of pulled items regrouped by the caller (keyed dispatch): item `k` of
    /// `scratch` is at input position `positions[k]`.
    pub(crate) fn keyed(&self, positions: Vec<usize>, scratch: S::Scratch) -> Work<'_, S> {
        self.work(Kind::Keyed { positions, scratch })
    }

    fn work(&self, kind: Kind<S::Scratch>) -> Work<'_, S> {
        Work {
            source: &self.source,
            kind,
        }
    }
}

impl<S: Source> Drop for Feed<S> {
    fn drop(&mut self) {
        if let Some(plan) = &self.plan {
            if self.source.owns_items() {
                // SAFETY: `drain` yields the ranges no lane claimed, each once and in
                // bounds: disjoint from every range given to a `Work`, which drops its own.
                plan.drain(|r| unsafe { self.source.discard(r) });
            }
        }
    }
}

enum Kind<Sc> {
    /// Indices of an indexed input, read in place.
    Range(Range<usize>),
    /// Pulled items, the first at `start`, contiguous.
    Items { start: usize, scratch: Sc },
    /// Pulled items regrouped by key: not contiguous.
    Keyed { positions: Vec<usize>, scratch: Sc },
    /// Opened: its items are the cursor's now.
    Taken,
}

/// One claimed batch. Dropped without running, it drops the items it holds.
pub(crate) struct Work<'a, S: Source> {
    source: &'a S,
    kind: Kind<S::Scratch>,
}

/// A [`Work`] opened for running: its range in the input, the cursor over its items,
/// and the items' positions when they are not contiguous.
pub(crate) struct Opened<'w, S: Source + 'w> {
    pub(crate) range: Range<usize>,
    pub(crate) cursor: S::Cursor<'w>,
    pub(crate) positions: Option<&'w [usize]>,
}

impl<'a, S: Source> Work<'a, S> {
    /// The input position of the first item.
    pub(crate) fn start(&self) -> usize {
        match &self.kind {
            Kind::Range(r) => r.start,
            Kind::Items { start, .. } => *start,
            Kind::Keyed { positions, .. } => positions.first().copied().unwrap_or(0),
            Kind::Taken => 0,
        }
    }

    /// Items in the batch.
    pub(crate) fn len(&self) -> usize {
        match &self.kind {
            Kind::Range(r) => r.len(),
            Kind::Items { scratch, .. } | Kind::Keyed { scratch, .. } => scratch.items(),
            Kind::Taken => 0,
        }
    }

    /// The batch's items, to run. Items the cursor does not yield are dropped with it.
    pub(crate) fn open(&mut self) -> Opened<'_, S> {
        let source: &S = self.source;
        match std::mem::replace(&mut self.kind, Kind::Taken) {
            Kind::Range(range) => Opened {
                // SAFETY: the range came from the plan, so it is in bounds and handed
                // out once; from here the cursor owns its items.
                cursor: unsafe { source.range(range.clone()) },
                range,
                positions: None,
            },
            kind => {
                self.kind = kind;
                match &mut self.kind {
                    Kind::Items { start, scratch } => {
                        let start = *start;
                        let end = start + scratch.items();
                        Opened {
                            cursor: source.drain(scratch, start),
                            range: start..end,
                            positions: None,
                        }
                    }
                    Kind::Keyed { positions, scratch } => {
                        let first = positions.first().copied().unwrap_or(0);
                        let last = positions.last().map_or(first, |p| p + 1);
                        Opened {
                            cursor: source.drain(scratch, first),
                            range: first..last,
                            positions: Some(positions.as_slice()),
                        }
                    }
                    Kind::Range(_) | Kind::Taken => unreachable!("opened twice"),
                }
            }
        }
    }

    /// Gives a pulled batch's emptied buffer back for the next claim.
    pub(crate) fn recycle(self, spare: &mut S::Scratch) {
        let mut this = std::mem::ManuallyDrop::new(self);
        match std::mem::replace(&mut this.kind, Kind::Taken) {
            Kind::Items { scratch, .. } | Kind::Keyed { scratch, .. } => *spare = scratch,
            Kind::Range(range) => {
                // Not opened: drop its items as `Drop` would.
                drop(Work {
                    source: this.source,
                    kind: Kind::Range(range),
                })
            }
            Kind::Taken => {}
        }
    }
}

impl<S: Source> Drop for Work<'_, S> {
    fn drop(&mut self) {
        if let Kind::Range(range) = &self.kind {
            if self.source.owns_items() {
                // SAFETY: claimed from the plan and never opened: these items are ours.
                unsafe { self.source.discard(range.clone()) };
            }
        }
        // Pulled items are dropped with their buffer.
    }
}
