//! The rayon driver: lanes as jobs of a `rayon::scope` on the current pool (rayon's
//! global one, the user's if the loop runs inside `install`, or `pool = PATH`).
//!
//! The scope starts `lanes - 1` jobs and runs lane 0 on its own thread. A lane that
//! starts another loop waits inside `rayon::scope`, which keeps executing queued jobs
//! instead of blocking its worker, so nested loops cannot starve the pool, and
//! `ThreadPool::install` is never called (no nested-`install` deadlock).

use super::engine::{Body, Engine};
use crate::input::Source;
use crate::reduce::ReduceSet;

pub(super) fn drive<S, R, B>(engine: &Engine<'_, S, R, B>)
where
    S: Source,
    R: ReduceSet + Sync,
    R::Acc: Send,
    B: Body<S, R::Acc>,
{
    match engine.config.rayon_pool {
        Some(pool) => pool.scope(|s| spawn_lanes(engine, s)),
        None => rayon::scope(|s| spawn_lanes(engine, s)),
    }
}

/// Lanes `1..lanes` as jobs of the scope; lane 0 on the scope's own thread.
fn spawn_lanes<'s, S, R, B>(engine: &'s Engine<'_, S, R, B>, s: &rayon::Scope<'s>)
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
    engine.claiming_lane(0, None);
}
