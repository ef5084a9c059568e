//! The serial driver: one lane on the calling thread, in input order.
//!
//! `backend = serial`, `if = false`, `BOUNDED_SERIAL=1`, or an input of one lane's
//! worth. Without a deadline or token the sizing gives one batch, so the body's own
//! `for` loop runs over the whole input as written.

use std::time::Instant;

use super::engine::{Body, Engine};
use crate::input::Source;
use crate::reduce::ReduceSet;

/// Runs the loop's one lane; returns when its last batch ended. The lane starts with
/// the run, so its first batch is timed from the run's start, and the run can end at
/// the lane's end: a run of one batch reads the clock twice.
pub(super) fn drive<S, R, B>(engine: &Engine<'_, S, R, B>) -> Option<Instant>
where
    S: Source,
    R: ReduceSet,
    B: Body<S, R::Acc>,
{
    engine.claiming_lane(0, Some(engine.outcome.started()))
}
