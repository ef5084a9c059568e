//! The timely driver (`backend = timely`, feature `timely`): one loop across the
//! processes of the cluster.
//!
//! Each process runs its part of the input through the same engine as every other
//! backend — the rayon driver, on the cluster's worker threads of this process, over a
//! [`Part`] of the input — and the cluster's timely worker exchanges what the parts
//! ended with. Every process then applies the outcome rule to the same reports in
//! process order (the parts are the input in order): a panic first, then the error of
//! the earliest failing item, else the partials combined up to the first `break`.
//!
//! Nothing handed to timely borrows from the loop: the reports travel as bytes.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::batch::Batch;
use super::engine::{Body, Closures};
use super::outcome::{compact, fold, Partial};
use crate::cancel::CancelToken;
use crate::cluster::{self, panic_message, Carry, LoopJob, Part};
use crate::config::{Backend, Config, Limit};
use crate::input::{self, Ints, Owned, Pulled, Shape, Slice, SliceMut, Source};
use crate::reduce::ReduceSet;

macro_rules! indexed {
    ($($(#[$m:meta])* impl[$($g:tt)*] $t:ty;)*) => {$(
        /// Split by position: its batches never travel.
        impl<$($g)*> Carry for $t {
            fn encode(_: usize, _: &Self::Scratch) -> Vec<u8> {
                unreachable!("bounded: an indexed input is split by position, never sent")
            }
            fn decode(_: &[u8], _: &mut Self::Scratch) -> usize {
                unreachable!("bounded: an indexed input is split by position, never sent")
            }
        }
    )*};
}

indexed! {
    impl['s, T: Sync] Slice<'s, T>;
    impl['s, T: Send] SliceMut<'s, T>;
    impl[T: Send] Owned<T>;
    impl[] Ints<u8>;
    impl[] Ints<u16>;
    impl[] Ints<u32>;
    impl[] Ints<u64>;
    impl[] Ints<usize>;
    impl[] Ints<i8>;
    impl[] Ints<i16>;
    impl[] Ints<i32>;
    impl[] Ints<i64>;
    impl[] Ints<isize>;
}

/// An item of a pulled input of a `backend = timely` loop: read on process 0 and sent
/// to the others.
#[diagnostic::on_unimplemented(
    message = "the items of a pulled input of a `backend = timely` loop are read on process 0 and sent to the others, so `{Self}` must be `serde::Serialize + serde::de::DeserializeOwned`",
    label = "items of this input cross processes",
    note = "derive `serde::Serialize` and `serde::Deserialize` for the item type, or collect the items into a `Vec` on every process, which is split by position and never sent"
)]
pub trait Sent: Serialize + DeserializeOwned {}
impl<T: Serialize + DeserializeOwned> Sent for T {}

/// Read on process 0, sent to the others as bytes.
impl<I> Carry for Pulled<I>
where
    I: Iterator + Send,
    I::Item: Send + Sent,
{
    fn encode(start: usize, scratch: &Vec<I::Item>) -> Vec<u8> {
        bincode::serialize(&(start as u64, scratch))
            .unwrap_or_else(|e| panic!("bounded: a batch of items cannot be serialized: {e}"))
    }

    fn decode(bytes: &[u8], scratch: &mut Vec<I::Item>) -> usize {
        let (start, items): (u64, Vec<I::Item>) = bincode::deserialize(bytes)
            .unwrap_or_else(|e| panic!("bounded: a batch of items cannot be read: {e}"));
        *scratch = items;
        start as usize
    }
}

/// Values that one process sends to the others: a loop's partial reductions (and
/// collected values).
#[diagnostic::on_unimplemented(
    message = "the reductions of a `backend = timely` loop go from process to process, so `{Self}` must be `serde::Serialize + serde::de::DeserializeOwned`",
    label = "partial values of this loop cross processes",
    note = "derive `serde::Serialize` and `serde::Deserialize` for the reduced (or collected) types, or reduce a serializable summary of them"
)]
pub trait Partials: Serialize + DeserializeOwned {}
impl<T: Serialize + DeserializeOwned> Partials for T {}

/// The error of a failing item, which every process returns.
#[diagnostic::on_unimplemented(
    message = "the error of a `backend = timely` loop is returned on every process, so `{Self}` must be `serde::Serialize + serde::de::DeserializeOwned`",
    label = "this loop's error crosses processes",
    note = "return an error type that derives `serde::Serialize` and `serde::Deserialize` (a `String` or an enum of your own), converting with `map_err` before `?`"
)]
pub trait LoopError: Serialize + DeserializeOwned {}
impl<T: Serialize + DeserializeOwned> LoopError for T {}

/// What one process's part ended with, sent to every process. Positions are the
/// input's.
#[derive(Serialize, Deserialize)]
struct Report<A, E> {
    /// The partials of the part's batches, `(start, end, partial)`, neighbours
    /// combined: one for an indexed window, one per batch of a pulled input.
    partials: Vec<(u64, u64, A)>,
    /// The earliest `break` of the part.
    cut: Option<u64>,
    /// The error of its earliest failing item (not after its own `break`).
    error: Option<(u64, E)>,
    /// The message of a body's panic.
    panic: Option<String>,
    /// Stopped because the cluster failed.
    stopped: bool,
}

/// An error of the local part: the body's, at its item, or the cluster's stop.
enum Fault<E> {
    Body(usize, E),
    Cluster,
}

/// The loop's body, keeping each batch's partials by position — so that the parts'
/// batches, which a pulled input interleaves, combine across processes in input order
/// — and the part's earliest `break`.
struct Placed<'b, B, A> {
    body: &'b B,
    /// A batch's private copies start here: a process's partials travel by position,
    /// so each batch keeps its own.
    identity: &'b (dyn Fn() -> A + Sync),
    partials: Mutex<Vec<Partial<A>>>,
    cut: AtomicUsize,
    combine: &'b (dyn Fn(A, A) -> A + Sync),
}

/// Partials are compacted (sorted, neighbours combined) once this many wait.
const COMPACT_AT: usize = 64;

impl<S, A, B> Body<S, ()> for Placed<'_, B, A>
where
    S: Source,
    A: Send,
    B: Body<S, A>,
{
    type State = B::State;
    type Error = Fault<B::Error>;

    fn init(&self) -> B::State {
        self.body.init()
    }

    fn run(&self, state: &mut B::State, _: (), batch: Batch<'_, S>) -> Result<(), Fault<B::Error>> {
        let tracker = batch.tracker();
        let start = batch.start();
        let len = batch.size_hint().0;
        let result = self.body.run(state, (self.identity)(), batch);
        let end = match tracker.broke_at() {
            Some(at) => {
                self.cut.fetch_min(at, Relaxed);
                // Ends at the `break`, and never joins the batch after it (which starts
                // at `at + 1` when the `break` was this batch's last item): joined,
                // they would carry that batch's items past the cut into the result.
                usize::MAX
            }
            None => start + len,
        };
        match result {
            Ok(acc) => {
                let mut list = self.partials.lock().unwrap_or_else(|e| e.into_inner());
                list.push(Partial { start, end, acc });
                if list.len() >= COMPACT_AT {
                    compact(&mut list, self.combine);
                }
                Ok(())
            }
            Err(e) => Err(Fault::Body(tracker.error_position(), e)),
        }
    }
}

/// One `backend = timely` loop at a time per process: the loops are collectives, and
/// a second one started meanwhile (nested in a body, or from another thread) could not
/// line up with the other processes.
static RUNNING: AtomicBool = AtomicBool::new(false);

struct Running;

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.store(false, Relaxed);
    }
}

/// Runs a `backend = timely` loop: the generated code's entry point for it. Every
/// process of the cluster calls it for the same loop and gets the same result.
#[track_caller]
pub fn run_timely<S, R, W, E, Init, F>(
    config: Config,
    source: S,
    reducers: &R,
    init: Init,
    body: F,
) -> Result<R::Acc, E>
where
    S: Carry,
    R: ReduceSet + Sync,
    R::Acc: Send + Partials,
    E: Send + LoopError,
    Init: Fn() -> W + Sync,
    F: Fn(&mut W, R::Acc, Batch<'_, Part<S>>) -> Result<R::Acc, E> + Sync,
{
    let body = Closures { init, body };
    let combine = |a, b| reducers.combine(a, b);
    let identity = || reducers.identity();
    let placed = Placed {
        body: &body,
        identity: &identity,
        partials: Mutex::new(Vec::new()),
        cut: AtomicUsize::new(usize::MAX),
        combine: &combine,
    };
    let unreached = |_| Fault::Cluster;
    let no_key = None::<&fn(&S::Item) -> u64>;
    // `if = false`, `BOUNDED_SERIAL`: this process alone, sequentially, like any loop.
    if !config.wants_parallel() {
        let mut local = config;
        local.backend = Backend::Serial;
        let ended = super::drive(
            local,
            Part::whole(source),
            &(),
            &placed,
            unreached,
            no_key,
            crate::error::never_overloaded,
        );
        return match ended {
            Ok(()) => {
                let cut = placed.cut.load(Relaxed);
                let partials = placed.partials.into_inner();
                Ok(combined(
                    partials.unwrap_or_else(|e| e.into_inner()),
                    reducers,
                    cut,
                ))
            }
            Err(Fault::Body(_, e)) => Err(e),
            Err(Fault::Cluster) => unreachable!("a local run has no cluster to stop it"),
        };
    }
    let (limit, _) = config.checked(&source);
    let fail = |why: String| -> ! {
        panic!(
            "bounded: `backend = timely` loop `{}` at {}: {why}",
            config.site.name(),
            config.site.location()
        )
    };
    let cluster = match cluster::cluster(limit) {
        Ok(c) => c,
        Err(why) => {
            input::discard_all(&source);
            fail(why)
        }
    };
    if RUNNING.swap(true, Relaxed) {
        input::discard_all(&source);
        fail("another `backend = timely` loop is running in this process (nested in a body, or on another thread); each is a collective of the whole cluster, so they run one at a time, from one thread".into())
    }
    let running = Running;
    let site = format!("{} at {}", config.site.name(), config.site.location());
    let (me, processes) = (cluster.settings.process, cluster.settings.processes);
    let cancel = CancelToken::new();
    let (result, results) = crossbeam_channel::bounded(1);
    let (reply, replies) = crossbeam_channel::bounded(1);
    let pulled = matches!(source.shape(), Shape::Pulled { .. }) && processes > 1;
    let (part, ship, arrivals) = if !pulled {
        (Part::window(source, me, processes), None, None)
    } else if me == 0 {
        let (ship, shipped) = crossbeam_channel::unbounded();
        let part = Part::lead(source, processes, ship, cluster.worker().clone());
        (part, Some(shipped), None)
    } else {
        let (arrive, arrivals) = crossbeam_channel::unbounded();
        (Part::follow(source, arrivals), None, Some(arrive))
    };
    cluster.submit(LoopJob {
        site,
        result: results,
        reply,
        cancel: cancel.clone(),
        ship,
        arrivals,
    });

    let mut local = config.clone();
    local.backend = Backend::Rayon;
    local.rayon_pool = Some(cluster.pool);
    local.limit = Limit::Fixed(limit.min(cluster.workers));
    local.cancel = Some(cancel);
    let offset = part.offset();
    let ended = catch_unwind(AssertUnwindSafe(|| {
        super::drive(
            local,
            part,
            &(),
            &placed,
            unreached,
            no_key,
            crate::error::never_overloaded,
        )
    }));
    let global = |at: usize| (offset + at) as u64;
    let mut report = Report {
        partials: Vec::new(),
        cut: match placed.cut.load(Relaxed) {
            usize::MAX => None,
            at => Some(global(at)),
        },
        error: None,
        panic: None,
        stopped: false,
    };
    let mut payload = None;
    match ended {
        Ok(Ok(())) => {}
        Ok(Err(Fault::Body(at, error))) => report.error = Some((global(at), error)),
        Ok(Err(Fault::Cluster)) => report.stopped = true,
        Err(p) => {
            report.panic = Some(panic_message(&*p));
            payload = Some(p);
        }
    }
    let mut partials = placed
        .partials
        .into_inner()
        .unwrap_or_else(|e| e.into_inner());
    compact(&mut partials, combine);
    report.partials = partials
        .into_iter()
        // A batch cut by a `break` ends nowhere: it joins no partial after it.
        .map(|Partial { start, end, acc }| {
            (
                global(start),
                if end == usize::MAX {
                    u64::MAX
                } else {
                    global(end)
                },
                acc,
            )
        })
        .collect();
    let bytes = match bincode::serialize(&report) {
        Ok(bytes) => bytes,
        Err(e) => fail(format!("process {me}'s result cannot be serialized: {e}")),
    };
    let _ = result.send(bytes);
    cluster.wake();
    let all = match replies.recv() {
        Ok(Ok(all)) => all,
        Ok(Err(why)) => fail(why),
        Err(_) => fail("the cluster was shut down (`bounded::cluster::shutdown`)".into()),
    };
    drop(running);

    // The same reports on every process, in process order: the same answer everywhere.
    let mut own = Some(report);
    let mut reports = Vec::with_capacity(processes);
    for (p, bytes) in all.iter().enumerate() {
        match own.take_if(|_| p == me) {
            Some(r) => reports.push(r),
            None => match bincode::deserialize::<Report<R::Acc, E>>(bytes) {
                Ok(r) => reports.push(r),
                Err(e) => fail(format!("process {p}'s result cannot be read: {e}")),
            },
        }
    }
    // A panic first, wherever it was: the process that panicked re-raises the body's
    // own payload, the others its message.
    if let Some(p) = reports.iter().position(|r| r.panic.is_some()) {
        match payload {
            Some(payload) if p == me => resume_unwind(payload),
            _ => std::panic::panic_any(reports.swap_remove(p).panic.unwrap_or_default()),
        }
    }
    if let Some(p) = reports.iter().position(|r| r.stopped) {
        fail(format!("process {p} stopped without a result"))
    }
    // Then the earliest error, unless a `break` came before it; then the partials up to
    // the earliest `break`, in input order.
    let cut = reports
        .iter()
        .filter_map(|r| r.cut)
        .min()
        .unwrap_or(u64::MAX);
    let error = reports
        .iter_mut()
        .filter_map(|r| r.error.take())
        .filter(|(at, _)| *at <= cut)
        .min_by_key(|(at, _)| *at);
    if let Some((_, error)) = error {
        return Err(error);
    }
    let all: Vec<Partial<R::Acc>> = reports
        .into_iter()
        .flat_map(|r| r.partials)
        .map(|(start, end, acc)| Partial {
            start: usize::try_from(start).unwrap_or(usize::MAX),
            end: usize::try_from(end).unwrap_or(usize::MAX),
            acc,
        })
        .collect();
    Ok(combined(all, reducers, cut as usize))
}

/// The partials that start at or before `cut`, combined in input order.
fn combined<A, R: ReduceSet<Acc = A>>(partials: Vec<Partial<A>>, reducers: &R, cut: usize) -> A {
    fold(partials, cut, |a, b| reducers.combine(a, b)).unwrap_or_else(|| reducers.identity())
}

#[cfg(test)]
mod test {
    use super::{compact, Partial};

    /// Neighbours join; a batch cut by a `break` (which ends nowhere) joins nothing after
    /// it, even the batch that starts right after its last item.
    #[test]
    fn a_partial_cut_by_a_break_joins_no_later_one() {
        let add = |a: u64, b: u64| a + b;
        let p = |start, end, acc| Partial { start, end, acc };
        let mut list = vec![p(3, 6, 20), p(0, 3, 10), p(6, usize::MAX, 30), p(9, 12, 40)];
        compact(&mut list, add);
        let got: Vec<_> = list.into_iter().map(|p| (p.start, p.end, p.acc)).collect();
        assert_eq!(got, vec![(0, usize::MAX, 60), (9, 12, 40)]);
    }
}
