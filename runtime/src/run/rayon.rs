//! The rayon driver: lanes as jobs of a `rayon::scope` on the current pool (rayon's
//! global one, the user's if the loop runs inside `install`, or `pool = PATH`).
//!
//! The scope starts `lanes - 1` jobs and runs lane 0 on its own thread. A lane that
//! starts another loop waits inside `rayon::scope`, which keeps executing queued jobs
//! instead of blocking its worker, so nested loops cannot starve the pool, and
//! `ThreadPool::install` is never called (no nested-`install` deadlock).
//!
//! **A small run starts alone.** When the loop's latest run says this one is a few
//! microseconds of work (`starts_alone` in `mod.rs`), waking other threads would cost
//! more than they save: lane 0 runs on the calling thread outside any scope, claiming
//! from the shared dynamic schedule in batches of about a quarter of that (`batch =
//! auto`; `Sizing::alone`). Only once it has spent [`BRING_IN_AFTER`] in bodies with
//! input left does it open a `rayon::in_place_scope`, spawn the other lanes and go on
//! beside them with the same lane record. A run that is small, as predicted, never
//! touches a thread or a latch; one that is not (the body got slower) loses at most
//! that long plus the batch running then, and goes on with every lane.

use std::time::{Duration, Instant};

use super::engine::{Body, Engine, Lane};
use super::SMALL_RUN;
use crate::input::Source;
use crate::reduce::ReduceSet;

/// How long a lone lane 0 runs before it brings in the other lanes.
const BRING_IN_AFTER: Duration = SMALL_RUN.saturating_mul(2);

/// Runs the lanes; returns when the last one ended if that was lane 0, alone, on this
/// thread just now (as the serial driver does).
pub(super) fn drive<S, R, B>(engine: &Engine<'_, S, R, B>, alone: bool) -> Option<Instant>
where
    S: Source,
    R: ReduceSet + Sync,
    R::Acc: Send,
    B: Body<S, R::Acc>,
{
    if alone {
        // No scope while lane 0 is alone: ending one costs a wake-up of its own.
        let mut lane = Lane::starting(Some(engine.outcome.started()));
        if !engine.claim_until(0, &mut lane, |busy| busy > BRING_IN_AFTER) {
            let ended = lane.ended();
            engine.finish_lane(lane);
            return ended;
        }
        // It ran long: the other lanes join it, and it goes on where it left off, on
        // this thread (its `with(...)` state need not be `Send`).
        rayon::in_place_scope(|s| {
            spawn_others(engine, s);
            engine.claim_until(0, &mut lane, |_| false);
        });
        engine.finish_lane(lane);
        return None;
    }
    match engine.config.rayon_pool {
        Some(pool) => pool.scope(|s| spawn_lanes(engine, s)),
        None => rayon::scope(|s| spawn_lanes(engine, s)),
    }
    None
}

/// Lanes `1..lanes` as jobs of the scope; lane 0 on the scope's own thread.
fn spawn_lanes<'s, S, R, B>(engine: &'s Engine<'_, S, R, B>, s: &rayon::Scope<'s>)
where
    S: Source,
    R: ReduceSet + Sync,
    R::Acc: Send,
    B: Body<S, R::Acc>,
{
    spawn_others(engine, s);
    engine.claiming_lane(0, None);
}

/// Lanes `1..lanes` as jobs of the scope.
fn spawn_others<'s, S, R, B>(engine: &'s Engine<'_, S, R, B>, s: &rayon::Scope<'s>)
where
    S: Source,
    R: ReduceSet + Sync,
    R::Acc: Send,
    B: Body<S, R::Acc>,
{
    for lane in 1..engine.sizing.lanes {
        s.spawn(move |_| {
            engine.claiming_lane(lane, None);
        });
    }
}
