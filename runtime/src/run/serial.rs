//! The serial driver: one lane on the calling thread, in input order.
//!
//! `backend = serial`, `if = false`, `BOUNDED_SERIAL=1`, or an input of one lane's
//! worth. Without a deadline or token the sizing gives one batch, so the body's own
//! `for` loop runs over the whole input as written.

use super::engine::{Body, Engine};
use crate::input::Source;
use crate::reduce::ReduceSet;

pub(super) fn drive<S, R, B>(engine: &Engine<'_, S, R, B>)
where
    S: Source,
    R: ReduceSet,
    B: Body<S, R::Acc>,
{
    engine.claiming_lane(0);
}
