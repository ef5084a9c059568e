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

use std::marker::PhantomData;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::batch::Batch;
use super::engine::{Body, Closures};
use crate::cancel::CancelToken;
use crate::cluster::{self, panic_message, LoopJob, Part};
use crate::config::{Backend, Config, Limit};
use crate::input::{self, Ints, Owned, Slice, SliceMut, Source};
use crate::reduce::ReduceSet;

/// An input a `backend = timely` loop can split across processes.
#[diagnostic::on_unimplemented(
    message = "`backend = timely` splits only indexed inputs across processes, and `{Self}` is not one",
    label = "not a range, slice or `Vec`",
    note = "collect the items into a `Vec` first (every process must hold the same one), or iterate a range of indices"
)]
pub trait Spread: Source {}

impl<T: Sync> Spread for Slice<'_, T> {}
impl<T: Send> Spread for SliceMut<'_, T> {}
impl<T: Send> Spread for Owned<T> {}
impl<S: Spread> Spread for input::Enumerated<S> {}
macro_rules! spread_ints {
    ($($t:ty),*) => {$( impl Spread for Ints<$t> {} )*};
}
spread_ints!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

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

/// What one process's part ended with, sent to every process.
#[derive(Serialize, Deserialize)]
enum Report<A, E> {
    /// Its partials combined, and where a `break` cut the input, if it did.
    Done { acc: A, cut: Option<u64> },
    /// The error of its earliest failing item (before any `break` of its own).
    Failed { error: E },
    /// The message of a body's panic.
    Panicked { message: String },
    /// Stopped because the cluster failed.
    Stopped,
}

/// An error of the local part: the body's, placed by item, or the cluster's stop.
enum Fault<E> {
    Body(E),
    Cluster,
}

/// The loop's body, remembering the earliest `break` of this process's part.
struct Placed<'b, B, A> {
    body: &'b B,
    cut: AtomicUsize,
    _acc: PhantomData<fn() -> A>,
}

impl<S, A, B> Body<S, A> for Placed<'_, B, A>
where
    S: Source,
    B: Body<S, A>,
{
    type State = B::State;
    type Error = Fault<B::Error>;

    fn init(&self) -> B::State {
        self.body.init()
    }

    fn run(&self, state: &mut B::State, batch: Batch<'_, S>) -> Result<A, Fault<B::Error>> {
        let tracker = batch.tracker();
        let result = self.body.run(state, batch);
        if let Some(at) = tracker.broke_at() {
            self.cut.fetch_min(at, Relaxed);
        }
        result.map_err(Fault::Body)
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
    S: Spread,
    R: ReduceSet + Sync,
    R::Acc: Send + Partials,
    E: Send + LoopError,
    Init: Fn() -> W + Sync,
    F: Fn(&mut W, Batch<'_, Part<S>>) -> Result<R::Acc, E> + Sync,
{
    let body = Closures { init, body };
    let placed = Placed {
        body: &body,
        cut: AtomicUsize::new(usize::MAX),
        _acc: PhantomData,
    };
    let unreached = |_| Fault::Cluster;
    // `if = false`, `BOUNDED_SERIAL`: this process alone, sequentially, like any loop.
    if !config.wants_parallel() {
        let mut local = config;
        local.backend = Backend::Serial;
        return match super::drive(
            local,
            Part::whole(source),
            reducers,
            &placed,
            unreached,
            None::<&fn(&S::Item) -> u64>,
        ) {
            Ok(acc) => Ok(acc),
            Err(Fault::Body(e)) => Err(e),
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
    let _running = Running;
    let site = format!("{} at {}", config.site.name(), config.site.location());
    let (me, processes) = (cluster.settings.process, cluster.settings.processes);
    let cancel = CancelToken::new();
    let (result, results) = crossbeam_channel::bounded(1);
    let (reply, replies) = crossbeam_channel::bounded(1);
    cluster.submit(LoopJob {
        site,
        result: results,
        reply,
        cancel: cancel.clone(),
    });

    let mut local = config.clone();
    local.backend = Backend::Rayon;
    local.rayon_pool = Some(cluster.pool);
    local.limit = Limit::Fixed(limit.min(cluster.workers));
    local.cancel = Some(cancel);
    let part = Part::new(source, me, processes);
    let offset = part.offset();
    let ended = catch_unwind(AssertUnwindSafe(|| {
        super::drive(
            local,
            part,
            reducers,
            &placed,
            unreached,
            None::<&fn(&S::Item) -> u64>,
        )
    }));
    let cut = match placed.cut.load(Relaxed) {
        usize::MAX => None,
        at => Some((offset + at) as u64),
    };
    let (report, payload) = match ended {
        Ok(Ok(acc)) => (Report::Done { acc, cut }, None),
        Ok(Err(Fault::Body(error))) => (Report::Failed { error }, None),
        Ok(Err(Fault::Cluster)) => (Report::Stopped, None),
        Err(payload) => (
            Report::Panicked {
                message: panic_message(&*payload),
            },
            Some(payload),
        ),
    };
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

    // The same reports on every process, in process order: the same answer everywhere.
    let mut own = Some(report);
    let mut reports = Vec::with_capacity(processes);
    for (p, bytes) in all.iter().enumerate() {
        if p == me {
            reports.push(own.take());
            continue;
        }
        match bincode::deserialize::<Report<R::Acc, E>>(bytes) {
            Ok(r) => reports.push(Some(r)),
            Err(e) => fail(format!("process {p}'s result cannot be read: {e}")),
        }
    }
    let panicked = reports.iter().enumerate().find_map(|(p, r)| match r {
        Some(Report::Panicked { message }) => Some((p, message.clone())),
        _ => None,
    });
    if let Some((p, message)) = panicked {
        drop(_running);
        match payload {
            // The process that panicked re-raises the body's own payload.
            Some(payload) if p == me => resume_unwind(payload),
            _ => std::panic::panic_any(message),
        }
    }
    let mut acc = reducers.identity();
    for (p, report) in reports.into_iter().enumerate() {
        match report {
            Some(Report::Done { acc: part, cut }) => {
                acc = reducers.combine(acc, part);
                if cut.is_some() {
                    break;
                }
            }
            Some(Report::Failed { error }) => return Err(error),
            Some(Report::Stopped) | None => fail(format!(
                "process {p} stopped without a result although the cluster reported none missing"
            )),
            Some(Report::Panicked { .. }) => unreachable!("handled above"),
        }
    }
    Ok(acc)
}
