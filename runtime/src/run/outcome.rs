//! What a run ends with, and the one rule that turns it into the loop's result:
//! a panic is re-raised first, then the error of the earliest failing item in input
//! order, then the run's own stop (`Rejected`, `Cancelled`); otherwise the partial
//! reductions, combined in input order.

use std::any::Any;
use std::ops::Range;
use std::panic::resume_unwind;
use std::sync::{Mutex, MutexGuard};

use super::control::Control;
use crate::cancel::Stop;
use crate::config::Config;
use crate::reduce::ReduceSet;
use crate::stats::Site;

/// A lane's partials are moved into the run's list once it holds this many.
const COMPACT_AT: usize = 64;

/// The combined reductions of the contiguous input range `start..end`.
pub(crate) struct Partial<A> {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) acc: A,
}

/// Combines `p` into `list` if it continues the last entry; pushes it otherwise.
fn push_or_join<R: ReduceSet>(list: &mut Vec<Partial<R::Acc>>, p: Partial<R::Acc>, reducers: &R) {
    match list.last_mut() {
        Some(last) if last.end == p.start => {
            let prev = std::mem::replace(&mut last.acc, reducers.identity());
            last.acc = reducers.combine(prev, p.acc);
            last.end = p.end;
        }
        _ => list.push(p),
    }
}

/// One lane's partials, neighbours in input order combined at once.
pub(crate) struct LanePartials<A> {
    list: Vec<Partial<A>>,
}

impl<A> Default for LanePartials<A> {
    fn default() -> Self {
        LanePartials { list: Vec::new() }
    }
}

struct Inner<A, E> {
    partials: Vec<Partial<A>>,
    error: Option<(usize, E)>,
    panic: Option<Box<dyn Any + Send>>,
}

/// The run's shared record: partials, first error by item position, first panic.
pub(crate) struct Outcome<A, E> {
    inner: Mutex<Inner<A, E>>,
}

impl<A, E> Outcome<A, E> {
    pub(crate) fn new() -> Self {
        Outcome {
            inner: Mutex::new(Inner {
                partials: Vec::new(),
                error: None,
                panic: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<A, E>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A batch ended in `error` at input position `at`. Fail-fast stops the run; in a
    /// loop that can `break`, it cuts the run at the error instead, so the items before
    /// it still run (an earlier `break` or error would come first sequentially).
    pub(crate) fn failed(&self, config: &Config, control: &Control, at: usize, error: E) {
        config.site.count_failed();
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
        control.stop();
        self.lock().panic.get_or_insert(payload);
    }

    /// Keeps the partial reductions of the batch `range` in the lane's list.
    #[inline]
    pub(crate) fn keep<R: ReduceSet<Acc = A>>(
        &self,
        lane: &mut LanePartials<A>,
        range: Range<usize>,
        acc: A,
        reducers: &R,
    ) {
        // Nothing to combine (no `reduce`): keep no partials, so memory does not grow
        // with the number of batches.
        if std::mem::size_of::<A>() == 0 {
            return;
        }
        let p = Partial {
            start: range.start,
            end: range.end,
            acc,
        };
        push_or_join(&mut lane.list, p, reducers);
        if lane.list.len() >= COMPACT_AT {
            self.absorb(lane, reducers, true);
        }
    }

    /// Moves a lane's partials into the run's list. With `compact`, every run of
    /// neighbours there is combined: lanes that take turns (pulled inputs, dynamic
    /// schedules) rarely produce neighbours themselves, and without this partials would
    /// pile up one per batch; after it the list holds about one partial per gap in the
    /// input, which is bounded by the batches in flight.
    pub(crate) fn absorb<R: ReduceSet<Acc = A>>(
        &self,
        lane: &mut LanePartials<A>,
        reducers: &R,
        compact: bool,
    ) {
        if lane.list.is_empty() {
            return;
        }
        let mut inner = self.lock();
        inner.partials.append(&mut lane.list);
        if compact {
            inner.partials.sort_unstable_by_key(|p| p.start);
            let all = std::mem::take(&mut inner.partials);
            for p in all {
                push_or_join(&mut inner.partials, p, reducers);
            }
        }
    }

    /// The loop's result. `stops` turns the run's own stop into the loop's error type.
    pub(crate) fn finish<R, Stops>(
        &self,
        reducers: &R,
        control: &Control,
        stops: Stops,
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
            resume_unwind(payload);
        }
        let cut = control.cut();
        if let Some((at, error)) = inner.error {
            // An item after a `break` ran only because it was already running.
            if at <= cut {
                return Err(error);
            }
        }
        if let Some(stop) = control.stopped() {
            return Err(stops(stop));
        }
        let mut partials = inner.partials;
        partials.sort_unstable_by_key(|p| p.start);
        Ok(partials
            .into_iter()
            .filter(|p| p.start <= cut)
            .fold(reducers.identity(), |acc, p| reducers.combine(acc, p.acc)))
    }
}
