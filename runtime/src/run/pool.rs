//! The pool driver (`backend = pool`): the Go worker-pool shape.
//!
//! The calling thread is the dispatcher: it claims batches from the feed and sends them
//! into a bounded channel of `queue` batches, drained by lanes running on a long-lived
//! [`Pool`] (the shared `bounded-io` pool, or `pool = PATH`). At most `queue` batches
//! wait, which bounds memory for endless inputs by `(queue + limit + 1) × batch` items.
//! When the channel is full, `on_full` decides (through [`crate::limit::when_full`]).
//!
//! **The bound.** Every runner of a batch holds one of `limit` slots: a lane for its
//! whole life, the dispatcher for each batch it runs itself. So at most `limit` bodies
//! run at once whoever runs them, also under `caller_runs` (which starts `limit - 1`
//! lanes: the dispatcher is the last runner).
//!
//! **No deadlock.** Lanes are *offered* to the pool, never run inline by its own
//! `on_full` policy (a lane run inline by the dispatcher would wait for batches only
//! the dispatcher can send). A lane the pool accepted may still wait in its queue, for
//! ever if the pool is saturated by the loops around this one (nested loops on one
//! pool): a dispatcher that finds its channel full for a while, with a slot free, runs
//! the batch itself, and after the input ends it runs whatever is still queued while it
//! can take a slot. A keyed lane that never started is taken over by the dispatcher
//! with its queue, so the order of its keys is kept.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, SendTimeoutError, Sender, TryRecvError, TrySendError};

use super::engine::{Body, Engine, Lane};
use super::feed::{Opened, Work};
use crate::cancel::Stop;
use crate::config::OnFull;
use crate::error::Rejected;
use crate::input::{Buffer, Source};
use crate::limit::adaptive::Limiter;
use crate::limit::permits::{Permit, Permits};
use crate::limit::{when_full, Full, WhenFull};
use crate::pool::{shared_io_pool, Pool, Scope};
use crate::reduce::ReduceSet;
use crate::schedule::LaneCursor;

/// How long a blocked dispatcher waits for room before it checks whether it may run
/// the batch itself.
const PATIENCE: Duration = Duration::from_millis(2);

/// The `limit` slots of one run: lanes and the dispatcher share them. Under `limit =
/// adaptive(...)` they are the limiter's, whose limit moves, and a lane takes one per
/// batch (so a lowered limit holds from each lane's next batch); otherwise a lane
/// takes one for its life.
struct Slots<'a> {
    limit: usize,
    permits: Permits,
    adaptive: Option<&'a Limiter>,
    /// Lanes that have started (holding a slot, or under an adaptive limit waiting
    /// for one at each batch: not queued behind the dispatcher either way).
    started: AtomicUsize,
}

impl<'a> Slots<'a> {
    fn new(limit: usize, adaptive: Option<&'a Limiter>) -> Self {
        Slots {
            limit,
            permits: Permits::new(),
            adaptive,
            started: AtomicUsize::new(0),
        }
    }

    fn acquire(&self) -> Permit<'_> {
        match self.adaptive {
            Some(limiter) => limiter.slot(),
            None => self.permits.acquire(self.limit, 1),
        }
    }

    fn try_acquire(&self) -> Option<Permit<'_>> {
        match self.adaptive {
            Some(limiter) => limiter.try_slot(),
            None => self.permits.try_acquire(self.limit, 1),
        }
    }
}

/// The dispatcher's side of one run.
struct Dispatcher<'e, 'r, S: Source, R: ReduceSet, B: Body<S, R::Acc>> {
    engine: &'e Engine<'r, S, R, B>,
    slots: &'e Slots<'e>,
    /// The dispatcher's own lane record, for batches it runs itself.
    local: Lane<B::State, R::Acc>,
    /// Lanes the pool accepted.
    offered: usize,
    /// The dispatcher is itself one of the pool's workers (a loop inside a pool job):
    /// the lanes it waits for may be queued behind it, so it may run batches itself.
    on_own_pool: bool,
}

impl<S, R, B> Dispatcher<'_, '_, S, R, B>
where
    S: Source,
    R: ReduceSet,
    B: Body<S, R::Acc>,
{
    fn policy(&self) -> OnFull {
        self.engine.config.on_full
    }

    /// Runs `work` on the dispatcher under `slot`; false once the run stops.
    fn run_here(&mut self, work: Work<'_, S>, slot: Permit<'_>) -> bool {
        let _running = self.engine.enter();
        let ran = self.engine.run_work(&mut self.local, work).is_some();
        drop(slot);
        ran && !self.engine.control.is_stopping()
    }

    /// A batch that found its queue full, when `on_full` sheds or refuses it: dropped
    /// (counted) or the run stopped; `Err` gives it back for the policies that wait or
    /// run it.
    fn shed<'w>(&self, work: Work<'w, S>) -> Result<bool, Work<'w, S>> {
        let full = Full {
            can_run_here: false,
            waiting_could_deadlock: false,
        };
        match when_full(self.policy(), full) {
            WhenFull::Shed => {
                let site = self.engine.config.site;
                self.engine.outcome.dropped(site, work.len() as u64);
                Ok(true)
            }
            WhenFull::Refuse => {
                self.engine.control.stop_with(Stop::Rejected(Rejected));
                Ok(false)
            }
            WhenFull::Wait | WhenFull::RunHere => Err(work),
        }
    }
}

/// One lane: takes a slot, then runs batches from its channel until it is closed and
/// empty. After a stop it keeps draining (the engine drops refused work), so the
/// dispatcher never waits on a full queue.
fn lane<S, R, B>(engine: &Engine<'_, S, R, B>, slots: &Slots<'_>, rx: Receiver<Work<'_, S>>)
where
    S: Source,
    R: ReduceSet,
    B: Body<S, R::Acc>,
{
    let mut local = Lane::new();
    if slots.adaptive.is_some() {
        // A slot per batch, taken before the batch: at most the current limit run.
        slots.started.fetch_add(1, Relaxed);
        loop {
            let slot = slots.acquire();
            let Ok(work) = rx.recv() else { break };
            let _running = engine.enter();
            let _ = engine.run_work(&mut local, work);
            drop(slot);
        }
    } else {
        let _slot = slots.acquire();
        slots.started.fetch_add(1, Relaxed);
        let _running = engine.enter();
        loop {
            // One clock read a batch while batches wait for the lane, two when it waits.
            let (work, waited) = match rx.try_recv() {
                Ok(work) => (work, false),
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => {
                    // Time stops before the wait: the batches so far end here.
                    engine.end_timing(&mut local);
                    match rx.recv() {
                        Ok(work) => (work, true),
                        Err(_) => break,
                    }
                }
            };
            let _ = engine.run_queued(&mut local, work, waited);
        }
    }
    engine.finish_lane(local);
}

/// Offers `job` to the pool without ever running it on this thread.
fn offer<'env, F: FnOnce() + Send + 'env>(s: &Scope<'env>, job: F) -> bool {
    s.offer(job)
}

fn pool_of<S: Source, R: ReduceSet, B: Body<S, R::Acc>>(engine: &Engine<'_, S, R, B>) -> Pool {
    engine
        .config
        .pool
        .clone()
        .unwrap_or_else(|| shared_io_pool().clone())
}

pub(super) fn drive<S, R, B>(engine: &Engine<'_, S, R, B>, limit: usize)
where
    S: Source,
    R: ReduceSet + Sync,
    R::Acc: Send,
    B: Body<S, R::Acc>,
{
    let config = engine.config;
    let pool = pool_of(engine);
    // Under `caller_runs` the dispatcher is one of the `limit` runners.
    let lanes = match config.on_full {
        OnFull::CallerRuns => engine.sizing.lanes.min(limit - 1),
        _ => engine.sizing.lanes,
    };
    let capacity = config.queue.unwrap_or(limit.saturating_mul(2));
    let (tx, rx) = bounded::<Work<'_, S>>(capacity);
    let slots = Slots::new(limit, engine.outcome.limiter.as_deref());
    pool.scope(|s| {
        let mut offered = 0;
        for _ in 0..lanes {
            let (rx, slots) = (rx.clone(), &slots);
            if offer(s, move || lane(engine, slots, rx)) {
                offered += 1;
            }
        }
        let mut d = Dispatcher {
            engine,
            slots: &slots,
            local: Lane::new(),
            offered,
            on_own_pool: pool.is_worker_thread(),
        };
        // The dispatcher is the plan's only claimer: lanes take their batches from the
        // channel, and what is left after a stop is drained once the lanes have ended.
        let mut cursor = LaneCursor::sole(0);
        let mut spare = S::Scratch::default();
        while let Some(work) = engine.feed.claim(&mut cursor, &mut spare) {
            if engine.control.refuses(work.start()) || !send(&mut d, &tx, work) {
                break;
            }
        }
        // Closing the channel ends the lanes once they have drained it. Inside a job of
        // the same pool, what lanes that never started leave in it, the dispatcher runs
        // while it can take a slot.
        drop(tx);
        while d.on_own_pool {
            let Some(slot) = slots.try_acquire() else {
                break;
            };
            let Ok(work) = rx.try_recv() else { break };
            d.run_here(work, slot);
        }
        drop(rx);
        engine.finish_lane(d.local);
    });
}

/// Hands one batch to the shared queue under the `on_full` policy; false when dispatch
/// must end.
fn send<'w, S, R, B>(
    d: &mut Dispatcher<'_, '_, S, R, B>,
    tx: &Sender<Work<'w, S>>,
    work: Work<'w, S>,
) -> bool
where
    S: Source,
    R: ReduceSet,
    B: Body<S, R::Acc>,
{
    if d.offered == 0 {
        // The pool took no lane (shut down, or full): nobody else will run it.
        let slot = d.slots.acquire();
        return d.run_here(work, slot);
    }
    let work = match tx.try_send(work) {
        Ok(()) => return true,
        Err(TrySendError::Full(w) | TrySendError::Disconnected(w)) => w,
    };
    let mut work = match d.shed(work) {
        Ok(go_on) => return go_on,
        Err(work) => work,
    };
    loop {
        let slot = d.slots.try_acquire();
        let full = Full {
            can_run_here: slot.is_some(),
            waiting_could_deadlock: false,
        };
        if let (WhenFull::RunHere, Some(slot)) = (when_full(d.policy(), full), slot) {
            return d.run_here(work, slot);
        }
        if !d.on_own_pool || d.slots.started.load(Relaxed) == d.offered {
            // Every lane runs and drains the queue, or the lanes that have not started
            // are not waiting for this thread: waiting is safe.
            return match tx.send(work) {
                Ok(()) => true,
                Err(e) => {
                    let slot = d.slots.acquire();
                    d.run_here(e.into_inner(), slot)
                }
            };
        }
        // Inside a job of the same pool, a lane is missing (not started yet, or never
        // will be: the pool is saturated by the loops around this one). Wait a little
        // for room; if none comes and a slot is free, run the batch here rather than
        // wait on a lane that may be queued behind this very thread.
        work = match tx.send_timeout(work, PATIENCE) {
            Ok(()) => return true,
            Err(SendTimeoutError::Timeout(w) | SendTimeoutError::Disconnected(w)) => w,
        };
        if let Some(slot) = d.slots.try_acquire() {
            return d.run_here(work, slot);
        }
    }
}

/// Who owns a keyed lane's queue: nobody yet, the lane, or the dispatcher.
const FREE: u8 = 0;
const LANE: u8 = 1;
const DISPATCHER: u8 = 2;

/// `key = EXPR`: items regrouped by key hash, each lane fed by a queue of its own, so
/// equal keys run on the same lane, in input order. The input is pulled (the macro makes
/// it so), and `on_full = caller_runs` is refused at compile time, since a batch run by
/// the dispatcher could overtake an earlier batch of the same key.
pub(super) fn drive_keyed<S, R, B, Key>(engine: &Engine<'_, S, R, B>, limit: usize, key: &Key)
where
    S: Source,
    R: ReduceSet + Sync,
    R::Acc: Send,
    B: Body<S, R::Acc>,
    Key: Fn(&S::Item) -> u64,
{
    let config = engine.config;
    let pool = pool_of(engine);
    let lanes = engine.sizing.lanes.max(1);
    // A keyed batch is not contiguous, so its partial cannot be cut at a `break`: in a
    // loop that can exit, each item is a batch of its own.
    let batch = if config.early_exit {
        1
    } else {
        engine.sizing.pull.max(1)
    };
    let capacity = config.queue.unwrap_or(limit.saturating_mul(2)) / lanes;
    let (txs, rxs): (Vec<Sender<Work<'_, S>>>, Vec<_>) =
        (0..lanes).map(|_| bounded(capacity)).unzip();
    let owners: Vec<AtomicU8> = (0..lanes).map(|_| AtomicU8::new(FREE)).collect();
    let slots = Slots::new(limit, engine.outcome.limiter.as_deref());
    pool.scope(|s| {
        for (j, rx) in rxs.iter().enumerate() {
            let (rx, slots, owner) = (rx.clone(), &slots, &owners[j]);
            let job = move || {
                // A lane the dispatcher took over has nothing left to do.
                if owner.compare_exchange(FREE, LANE, Relaxed, Relaxed).is_ok() {
                    lane(engine, slots, rx);
                }
            };
            if !offer(s, job) {
                owners[j].store(DISPATCHER, Relaxed);
            }
        }
        let mut k = Keyed {
            d: Dispatcher {
                engine,
                slots: &slots,
                local: Lane::new(),
                offered: lanes,
                on_own_pool: pool.is_worker_thread(),
            },
            txs,
            rxs: &rxs,
            owners: &owners,
            own_slot: None,
        };
        let mut buffers: Vec<(Vec<usize>, S::Scratch)> = (0..lanes)
            .map(|_| (Vec::new(), S::Scratch::default()))
            .collect();
        let mut cursor = LaneCursor::new(0);
        let mut spare = S::Scratch::default();
        'dispatch: while let Some(mut pulled) = engine.feed.claim(&mut cursor, &mut spare) {
            if engine.control.refuses(pulled.start()) {
                break;
            }
            let Opened { range, cursor, .. } = pulled.open();
            for (offset, item) in cursor.enumerate() {
                let j = (key(&item) % lanes as u64) as usize;
                let (positions, buffer) = &mut buffers[j];
                positions.push(range.start + offset);
                S::push(buffer, item);
                if buffer.items() >= batch {
                    let work = engine
                        .feed
                        .keyed(std::mem::take(positions), std::mem::take(buffer));
                    if !k.send(j, work) {
                        break 'dispatch;
                    }
                }
            }
            pulled.recycle(&mut spare);
        }
        for (j, (positions, buffer)) in buffers.into_iter().enumerate() {
            if buffer.items() > 0 && !engine.control.is_stopping() {
                let work = engine.feed.keyed(positions, buffer);
                if !k.send(j, work) {
                    break;
                }
            }
        }
        engine.finish_lane(k.finish());
    });
}

struct Keyed<'e, 'r, 'w, S: Source, R: ReduceSet, B: Body<S, R::Acc>> {
    d: Dispatcher<'e, 'r, S, R, B>,
    txs: Vec<Sender<Work<'w, S>>>,
    rxs: &'e [Receiver<Work<'w, S>>],
    owners: &'e [AtomicU8],
    /// The slot the dispatcher holds once it runs a lane of its own.
    own_slot: Option<Permit<'e>>,
}

impl<'e, 'w, S, R, B> Keyed<'e, '_, 'w, S, R, B>
where
    S: Source,
    R: ReduceSet,
    B: Body<S, R::Acc>,
{
    /// Runs lane `j`'s queued batches, then `work`, on the dispatcher; false once the
    /// run stops.
    fn run_own(&mut self, j: usize, work: Option<Work<'w, S>>) -> bool {
        if self.own_slot.is_none() {
            // Free: lane `j` never took a slot, so fewer than `limit` are held.
            self.own_slot = Some(self.d.slots.acquire());
        }
        let engine = self.d.engine;
        let mut go_on = true;
        let queued = self.rxs[j].try_iter();
        for work in queued.chain(work) {
            let _running = engine.enter();
            go_on &= engine.run_work(&mut self.d.local, work).is_some();
        }
        go_on && !engine.control.is_stopping()
    }

    fn take_over(&self, j: usize) -> bool {
        let owner = &self.owners[j];
        owner.load(Relaxed) == DISPATCHER
            || owner
                .compare_exchange(FREE, DISPATCHER, Relaxed, Relaxed)
                .is_ok()
    }

    fn send(&mut self, j: usize, work: Work<'w, S>) -> bool {
        if self.owners[j].load(Relaxed) == DISPATCHER {
            return self.run_own(j, Some(work));
        }
        let mut work = match self.txs[j].try_send(work) {
            Ok(()) => return true,
            Err(TrySendError::Full(w) | TrySendError::Disconnected(w)) => w,
        };
        work = match self.d.shed(work) {
            Ok(go_on) => return go_on,
            Err(work) => work,
        };
        if !self.d.on_own_pool {
            // Its lane is not waiting for this thread: waiting is safe.
            return match self.txs[j].send(work) {
                Ok(()) => true,
                Err(e) => self.run_own(j, Some(e.into_inner())),
            };
        }
        loop {
            work = match self.txs[j].send_timeout(work, PATIENCE) {
                Ok(()) => return true,
                Err(SendTimeoutError::Timeout(w) | SendTimeoutError::Disconnected(w)) => w,
            };
            // Still full: if its lane never started, the lane is ours from now on.
            if self.take_over(j) {
                return self.run_own(j, Some(work));
            }
        }
    }

    /// Closes the queues, and (inside a job of the same pool, or for lanes the pool
    /// refused) runs those of lanes that never started; gives back the dispatcher's lane
    /// record.
    fn finish(mut self) -> Lane<B::State, R::Acc> {
        self.txs.clear();
        for j in 0..self.rxs.len() {
            let refused = self.owners[j].load(Relaxed) == DISPATCHER;
            if (refused || self.d.on_own_pool) && self.take_over(j) {
                self.run_own(j, None);
            }
        }
        self.d.local
    }
}
