//! Running one loop: one lane engine, one driver per backend.
//!
//! The engine (`engine.rs`, with `feed.rs`, `control.rs`, `outcome.rs`, `batch.rs`)
//! owns what a loop *is*: claiming work, running a batch under `catch_unwind`, keeping
//! partials, placing errors by item, dropping what will not run, the outcome rule and
//! sizing. The drivers decide only where lanes run and how work reaches them:
//!
//! - `serial.rs`: one lane on the calling thread (`backend = serial`, `if = false`,
//!   `BOUNDED_SERIAL=1`, one lane's worth of input);
//! - `rayon.rs`: lanes as jobs of a `rayon::scope`;
//! - `pool.rs`: a dispatcher on the calling thread feeding lanes on a [`Pool`] through
//!   a bounded queue (`queue`, `on_full`), and its keyed form;
//! - `async_lanes.rs`: lanes as futures polled by the caller's task;
//! - `timely.rs` (feature `timely`): each process's part on the rayon driver, the
//!   parts' reports exchanged through the cluster (`cluster/`).
//!
//! The design notes are in `README.md` next to this file.
//!
//! [`Pool`]: crate::pool::Pool

pub mod async_lanes;
mod batch;
mod control;
mod engine;
mod exit;
pub(crate) mod feed;
mod outcome;
mod pool;
mod rayon;
mod serial;
mod throttle;
#[cfg(feature = "timely")]
pub mod timely;

pub use batch::{Batch, Checked, Tracker};
pub use control::Control;
pub use exit::Exit;

use crate::cancel::Stop;
use crate::config::{Backend, Config, Schedule};
use crate::error::never_overloaded;
use crate::input::{Shape, Source};
use crate::observe::Watch;
use crate::reduce::ReduceSet;
use engine::{Closures, Engine};
use feed::{Feed, Sizing};

/// Runs a loop: the generated code's single entry point.
///
/// `init` creates one lane's state (`with(...)`), once per lane and only if the lane
/// runs a batch; `body` runs one batch and returns its partial reductions; `reducers`
/// combines partials in input order. Returns the combined reductions or the error of
/// the earliest failing item; re-raises a body's panic.
#[track_caller]
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
    Body: Fn(&mut W, R::Acc, Batch<'_, S>) -> Result<R::Acc, E> + Sync,
{
    run_stoppable(config, source, reducers, init, body, Stop::unexpected)
}

/// [`run`] for a loop that can stop on its own (`on_full = reject`, `timeout`,
/// `cancel`): `stops` turns the reason into the loop's error type.
#[track_caller]
pub fn run_stoppable<S, R, W, E, Init, Body, Stops>(
    config: Config,
    source: S,
    reducers: &R,
    init: Init,
    body: Body,
    stops: Stops,
) -> Result<R::Acc, E>
where
    S: Source,
    R: ReduceSet + Sync,
    R::Acc: Send,
    E: Send,
    Init: Fn() -> W + Sync,
    Body: Fn(&mut W, R::Acc, Batch<'_, S>) -> Result<R::Acc, E> + Sync,
    Stops: FnOnce(Stop) -> E,
{
    run_adaptive(
        config,
        source,
        reducers,
        init,
        body,
        stops,
        never_overloaded,
    )
}

/// [`run_stoppable`] for `limit = adaptive(...)`: `overloaded` tells which of the body's
/// errors are overload signals, on which the limiter cuts its limit (the generated
/// code finds it through [`IsOverloaded`](crate::IsOverloaded)).
#[track_caller]
pub fn run_adaptive<S, R, W, E, Init, Body, Stops>(
    config: Config,
    source: S,
    reducers: &R,
    init: Init,
    body: Body,
    stops: Stops,
    overloaded: fn(&E) -> bool,
) -> Result<R::Acc, E>
where
    S: Source,
    R: ReduceSet + Sync,
    R::Acc: Send,
    E: Send,
    Init: Fn() -> W + Sync,
    Body: Fn(&mut W, R::Acc, Batch<'_, S>) -> Result<R::Acc, E> + Sync,
    Stops: FnOnce(Stop) -> E,
{
    drive(
        config,
        source,
        reducers,
        &Closures { init, body },
        stops,
        None::<&fn(&S::Item) -> u64>,
        overloaded,
    )
}

/// [`run_stoppable`] for `key = EXPR` (pool backend): `key` hashes an item's key, and
/// items with equal hashes run on the same lane, in input order.
#[track_caller]
pub fn run_keyed<S, R, W, E, Init, Body, Stops, Key>(
    config: Config,
    source: S,
    reducers: &R,
    init: Init,
    body: Body,
    stops: Stops,
    key: Key,
) -> Result<R::Acc, E>
where
    S: Source,
    R: ReduceSet + Sync,
    R::Acc: Send,
    E: Send,
    Init: Fn() -> W + Sync,
    Body: Fn(&mut W, R::Acc, Batch<'_, S>) -> Result<R::Acc, E> + Sync,
    Stops: FnOnce(Stop) -> E,
    Key: Fn(&S::Item) -> u64,
{
    drive(
        config,
        source,
        reducers,
        &Closures { init, body },
        stops,
        Some(&key),
        never_overloaded,
    )
}

/// Hashes a loop item's key (`key = EXPR`) for lane selection.
pub fn hash_key<K: std::hash::Hash + ?Sized>(key: &K) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(key)
}

/// Sizes the run, picks the driver, and applies the outcome rule.
#[track_caller]
fn drive<S, R, B, Stops, Key>(
    config: Config,
    source: S,
    reducers: &R,
    body: &B,
    stops: Stops,
    key: Option<&Key>,
    overloaded: fn(&B::Error) -> bool,
) -> Result<R::Acc, B::Error>
where
    S: Source,
    R: ReduceSet + Sync,
    R::Acc: Send,
    B: engine::Body<S, R::Acc>,
    Stops: FnOnce(Stop) -> B::Error,
    Key: Fn(&S::Item) -> u64,
{
    let Start {
        limit,
        batch,
        shape,
        stoppable,
    } = start(&config, &source);
    let on_pool = config.backend == Backend::Pool;
    let mut parallel = config.wants_parallel();
    let mut sizing = Sizing::new(&config, shape, limit, batch, parallel, stoppable);
    // One lane's worth of input runs on the calling thread (the pool backend still
    // dispatches, so that `queue` and `on_full` keep their meaning).
    if parallel && (sizing.lanes == 0 || (sizing.lanes == 1 && !on_pool)) {
        parallel = false;
        sizing = Sizing::new(&config, shape, limit, batch, false, stoppable);
    }
    let alone = (parallel && !on_pool)
        .then(|| starts_alone(&config, shape))
        .flatten();
    if let (Some(len), None) = (alone, batch) {
        if let Some(items) = config.site.items_within(SMALL_RUN / 4) {
            sizing.alone(items, len);
        }
    }
    let alone = alone.is_some();
    let feed = Feed::new(source, &sizing);
    let watch = Watch::start(&config, shape, limit);
    let mut engine = Engine::new(&config, feed, sizing, reducers, body, watch);
    engine.outcome.overloaded_by(overloaded);
    let _span = engine.outcome.enter_span();
    let mut ended = None;
    if !parallel {
        ended = serial::drive(&engine);
    } else if on_pool {
        match key {
            Some(key) => pool::drive_keyed(&engine, limit, key),
            None => pool::drive(&engine, limit),
        }
    } else {
        ended = rayon::drive(&engine, alone);
    }
    engine.finish(stops, ended)
}

/// What every run knows before its driver starts: its checked `limit` and `batch`, its
/// input's shape, and whether it must run in batches even on one lane.
pub(crate) struct Start {
    pub(crate) limit: usize,
    pub(crate) batch: Option<usize>,
    pub(crate) shape: Shape,
    pub(crate) stoppable: bool,
}

/// The start of every run, synchronous or async: checks `limit` and `batch` (a bad one
/// panics naming the option and the call), and counts the run on its site. A deadline,
/// a token or a bar makes a run go in batches, so that the check or the bar's move
/// happens between them. The site's `limit` gauge is set by the run's `Watch`.
#[track_caller]
pub(crate) fn start<S: Source>(config: &Config, source: &S) -> Start {
    let (limit, batch) = config.checked(source);
    config.site.start_run();
    Start {
        limit,
        batch,
        shape: source.shape(),
        stoppable: config.timeout.is_some() || config.cancel.is_some() || config.shows_progress(),
    }
}

/// Below this much expected work in bodies, a run's other lanes would cost more to
/// wake than they could save: the run starts on the calling thread alone.
pub(crate) const SMALL_RUN: std::time::Duration = std::time::Duration::from_micros(10);

/// Whether a rayon run starts with lane 0 alone on the calling thread, bringing in the
/// others only if it runs long (`rayon::drive`): its input's length is known, the
/// loop's latest run says this one is under [`SMALL_RUN`] of work, its lanes share one
/// dynamic schedule (so lane 0 can take everything), and it runs on rayon's global
/// pool (`pool = PATH` and a cluster's threads keep their bodies on their pool).
/// Gives the input's length if it does.
fn starts_alone(config: &Config, shape: Shape) -> Option<usize> {
    let len = match shape {
        Shape::Indexed(len) | Shape::Pulled { hint: Some(len) } => len,
        Shape::Pulled { hint: None } => return None,
    };
    let alone = config.backend == Backend::Rayon
        && config.rayon_pool.is_none()
        && config.schedule == Schedule::Dynamic
        && config
            .site
            .expected_work(len)
            .is_some_and(|work| work < SMALL_RUN);
    alone.then_some(len)
}
