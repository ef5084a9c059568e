//! `backend = pool`: the Go worker-pool shape, run by the runtime.
//!
//! The calling thread is the dispatcher: it cuts the input into batches (index ranges,
//! or items pulled into an owned buffer) and sends them into a bounded channel of
//! `queue` batches. `lanes = min(limit, batches)` jobs on a long-lived [`Pool`] drain
//! the channel, so at most `limit` batches run at once and at most `queue` wait, which
//! bounds memory for endless inputs by `(queue + limit) × batch` items. When the
//! channel is full, `on_full` decides: block (backpressure), drop the batch (counted),
//! fail the loop with `Rejected`, or run the batch on the dispatcher.
//!
//! Every batch ends run, dropped, or discarded after a stop; owned items are dropped
//! exactly once either way.

use std::ops::Range;
use std::sync::OnceLock;
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};

use crate::cancel::Stop;
use crate::config::OnFull;
use crate::error::Rejected;
use crate::pool::{Pool, Workers};
use crate::reduce::ReduceSet;
use crate::run::{Batch, LaneLocal, Lanes};
use crate::source::{Buffer, Shape, Source};

/// One unit of dispatch.
enum Work<Sc> {
    /// Indices of an indexed input: the lane reads them in place.
    Range(Range<usize>),
    /// Items pulled from an iterator, first at `start`.
    Items { start: usize, scratch: Sc },
}

/// The pool `backend = pool` uses when no `pool = PATH` is given: started on first use,
/// reused by every loop, threads started on demand and retired after 10 idle seconds.
///
/// ```
/// let pool = bounded_runtime::pool::shared_io_pool();
/// assert_eq!(pool.name(), "bounded-io");
/// ```
pub fn shared_io_pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        Pool::builder()
            .name("bounded-io")
            .workers(Workers { min: 0, max: 1024 })
            .queue(1024)
            .idle_timeout(Duration::from_secs(10))
            .build()
            .expect("the shared pool's configuration is valid")
    })
}

pub(crate) fn run_on_pool<S, R, W, E, Init, Body>(
    run: &Lanes<'_, S, R, E, Init, Body>,
    lanes: usize,
    limit: usize,
    batch: usize,
) where
    S: Source,
    R: ReduceSet + Sync,
    R::Acc: Send,
    E: Send,
    Init: Fn() -> W + Sync,
    Body: Fn(&mut W, Batch<'_, S>) -> Result<R::Acc, E> + Sync,
{
    let config = run.config;
    let pool = config.pool.as_ref().unwrap_or_else(|| shared_io_pool());
    let capacity = config.queue.unwrap_or(limit.saturating_mul(2));
    let (tx, rx) = bounded::<Work<S::Scratch>>(capacity);
    pool.scope(|s| {
        let mut started = 0;
        for _ in 0..lanes {
            let rx = rx.clone();
            if s.execute(move || drain_lane(run, rx)).is_ok() {
                started += 1;
            }
        }
        drop(rx);
        let mut caller = LaneLocal::default();
        // A pool that refused every lane (shut down, or full under `reject`) leaves the
        // dispatcher to run the batches itself rather than wait for nobody.
        let direct = started == 0;
        let mut dispatcher = Dispatcher {
            run,
            txs: vec![tx],
            direct,
            caller: &mut caller,
        };
        match run.source.shape() {
            Shape::Indexed(len) => {
                let mut start = 0;
                while start < len {
                    let end = len.min(start + batch);
                    if run.control.should_stop(config)
                        || !dispatcher.send(0, Work::Range(start..end))
                    {
                        if run.source.owns_items() {
                            // SAFETY: `start..len` was never dispatched.
                            unsafe { run.source.discard(start..len) };
                        }
                        break;
                    }
                    start = end;
                }
            }
            Shape::Pulled { .. } => loop {
                if run.control.should_stop(config) {
                    break;
                }
                let mut scratch = S::Scratch::default();
                let Some(start) = run.source.fill(batch, &mut scratch) else {
                    break;
                };
                if !dispatcher.send(0, Work::Items { start, scratch }) {
                    break;
                }
            },
        }
        // Closing the channel ends the lanes once they have drained it.
        drop(dispatcher);
        run.finish_local(caller);
    });
}

/// `key = EXPR`: items regrouped by key hash, each lane fed by a queue of its own, so
/// equal keys run on the same lane, in input order. The input is pulled (the macro
/// makes it so), and `on_full = caller_runs` is refused at compile time, since a batch
/// run by the dispatcher could overtake an earlier batch of the same key.
pub(crate) fn run_keyed_on_pool<S, R, W, E, Init, Body, Key>(
    run: &Lanes<'_, S, R, E, Init, Body>,
    lanes: usize,
    limit: usize,
    batch: usize,
    key: &Key,
) where
    S: Source,
    R: ReduceSet + Sync,
    R::Acc: Send,
    E: Send,
    Init: Fn() -> W + Sync,
    Body: Fn(&mut W, Batch<'_, S>) -> Result<R::Acc, E> + Sync,
    Key: Fn(&S::Item) -> u64,
{
    let config = run.config;
    let pool = config.pool.as_ref().unwrap_or_else(|| shared_io_pool());
    let capacity = config.queue.unwrap_or(limit.saturating_mul(2)) / lanes;
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..lanes).map(|_| bounded(capacity)).unzip();
    pool.scope(|s| {
        let mut started = 0;
        for rx in rxs {
            if s.execute(move || drain_lane(run, rx)).is_ok() {
                started += 1;
            }
        }
        let mut caller = LaneLocal::default();
        // Without every lane, a key's lane might never run: the dispatcher runs all
        // batches itself, in input order, which keeps every key's order too.
        let direct = started < lanes;
        let mut dispatcher = Dispatcher {
            run,
            txs,
            direct,
            caller: &mut caller,
        };
        let mut buffers: Vec<(usize, S::Scratch)> =
            (0..lanes).map(|_| (0, S::Scratch::default())).collect();
        let mut pulled = S::Scratch::default();
        'dispatch: loop {
            if run.control.should_stop(config) {
                break;
            }
            let Some(start) = run.source.fill(batch, &mut pulled) else {
                break;
            };
            let items: Vec<S::Item> = run.source.drain(&mut pulled, start).collect();
            for (offset, item) in items.into_iter().enumerate() {
                let lane = (key(&item) % lanes as u64) as usize;
                let (first, buffer) = &mut buffers[lane];
                if buffer.items() == 0 {
                    *first = start + offset;
                }
                S::push(buffer, item);
                if buffer.items() >= batch {
                    let work = Work::Items {
                        start: *first,
                        scratch: std::mem::take(buffer),
                    };
                    if !dispatcher.send(lane, work) {
                        break 'dispatch;
                    }
                }
            }
        }
        if !run.control.is_stopping() {
            for (lane, (first, buffer)) in buffers.into_iter().enumerate() {
                if buffer.items() > 0
                    && !dispatcher.send(
                        lane,
                        Work::Items {
                            start: first,
                            scratch: buffer,
                        },
                    )
                {
                    break;
                }
            }
        }
        drop(dispatcher);
        run.finish_local(caller);
    });
}

struct Dispatcher<'d, 'r, S: Source, R: ReduceSet, E, Init, Body, W> {
    run: &'d Lanes<'r, S, R, E, Init, Body>,
    /// One queue shared by every lane, or (keyed) one per lane.
    txs: Vec<Sender<Work<S::Scratch>>>,
    direct: bool,
    caller: &'d mut LaneLocal<W, R::Acc>,
}

impl<S, R, W, E, Init, Body> Dispatcher<'_, '_, S, R, E, Init, Body, W>
where
    S: Source,
    R: ReduceSet,
    Init: Fn() -> W,
    Body: Fn(&mut W, Batch<'_, S>) -> Result<R::Acc, E>,
{
    /// Hands one batch to queue `to` under the `on_full` policy; false when dispatch
    /// must end.
    fn send(&mut self, to: usize, work: Work<S::Scratch>) -> bool {
        if self.direct {
            run_work(self.run, self.caller, work);
            return !self.run.control.is_stopping();
        }
        let policy = self.run.config.on_full;
        let full = if policy == OnFull::Block {
            match self.txs[to].send(work) {
                Ok(()) => return true,
                // Every lane has ended (the run is stopping): nothing will read it.
                Err(e) => {
                    discard(self.run, e.into_inner());
                    return false;
                }
            }
        } else {
            match self.txs[to].try_send(work) {
                Ok(()) => return true,
                Err(TrySendError::Disconnected(work)) => {
                    discard(self.run, work);
                    return false;
                }
                Err(TrySendError::Full(work)) => work,
            }
        };
        let site = self.run.config.site;
        match policy {
            OnFull::Drop => {
                site.count_dropped(len_of(&full));
                discard(self.run, full);
                true
            }
            OnFull::Reject => {
                self.run.control.stop_with(Stop::Rejected(Rejected));
                discard(self.run, full);
                false
            }
            OnFull::CallerRuns | OnFull::Block => {
                run_work(self.run, self.caller, full);
                true
            }
        }
    }
}

fn len_of<Sc: Buffer>(work: &Work<Sc>) -> u64 {
    match work {
        Work::Range(r) => r.len() as u64,
        Work::Items { scratch, .. } => scratch.items() as u64,
    }
}

/// One lane: runs batches from the channel until it is closed and empty. After a
/// stop it keeps draining, discarding, so the dispatcher never waits on a full queue.
fn drain_lane<S, R, W, E, Init, Body>(
    run: &Lanes<'_, S, R, E, Init, Body>,
    rx: Receiver<Work<S::Scratch>>,
) where
    S: Source,
    R: ReduceSet,
    Init: Fn() -> W,
    Body: Fn(&mut W, Batch<'_, S>) -> Result<R::Acc, E>,
{
    let mut local = LaneLocal::default();
    for work in rx.iter() {
        if run.control.should_stop(run.config) {
            discard(run, work);
        } else {
            run_work(run, &mut local, work);
        }
    }
    run.finish_local(local);
}

fn run_work<S, R, W, E, Init, Body>(
    run: &Lanes<'_, S, R, E, Init, Body>,
    local: &mut LaneLocal<W, R::Acc>,
    work: Work<S::Scratch>,
) where
    S: Source,
    R: ReduceSet,
    Init: Fn() -> W,
    Body: Fn(&mut W, Batch<'_, S>) -> Result<R::Acc, E>,
{
    match work {
        Work::Range(range) => {
            // SAFETY: the dispatcher sends each range of `0..len` once, disjoint.
            let cursor = unsafe { run.source.range(range.clone()) };
            run.run_handed(local, range, cursor);
        }
        Work::Items { start, mut scratch } => {
            let cursor = run.source.drain(&mut scratch, start);
            let end = start + cursor.size_hint().0;
            run.run_handed(local, start..end, cursor);
        }
    }
}

fn discard<S, R: ReduceSet, E, Init, Body>(
    run: &Lanes<'_, S, R, E, Init, Body>,
    work: Work<S::Scratch>,
) where
    S: Source,
{
    match work {
        Work::Range(range) => {
            if run.source.owns_items() {
                // SAFETY: as in `run_work`: this range was handed out once, to us.
                unsafe { run.source.discard(range) };
            }
        }
        // Dropping the buffer drops its items.
        Work::Items { scratch, .. } => drop(scratch),
    }
}
