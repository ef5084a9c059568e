//! One run's stop flag, why it stopped when the body is not the reason, and the
//! position a `break` or `return` cut the input at.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use crate::cancel::{CancelToken, Stop};
use crate::config::Config;
use crate::error::{Cancelled, Rejected};

/// Shared by every lane of one run.
#[derive(Debug)]
pub struct Control {
    stop: AtomicBool,
    /// 0: no own stop; 1: rejected; 2: cancelled.
    reason: AtomicU8,
    /// The smallest input position at which an item broke out of the loop (`break`,
    /// `return`); `usize::MAX` while none has. Items after it do not start.
    cut: AtomicUsize,
    deadline: Option<Instant>,
    cancel: Option<CancelToken>,
}

impl Control {
    pub(crate) fn new(config: &Config) -> Self {
        Control {
            stop: AtomicBool::new(false),
            reason: AtomicU8::new(0),
            cut: AtomicUsize::new(usize::MAX),
            deadline: config.timeout.map(|t| Instant::now() + t),
            cancel: config.cancel.clone(),
        }
    }

    /// Whether the run is stopping (an error, a panic, or a stop of its own was seen).
    #[inline]
    pub fn is_stopping(&self) -> bool {
        self.stop.load(Relaxed)
    }

    pub(crate) fn stop(&self) {
        self.stop.store(true, Relaxed);
    }

    /// Stops the run for a reason of its own; the first reason wins.
    pub(crate) fn stop_with(&self, stop: Stop) {
        let code = match stop {
            Stop::Rejected(_) => 1,
            Stop::Cancelled(_) => 2,
        };
        let _ = self.reason.compare_exchange(0, code, Relaxed, Relaxed);
        self.stop();
    }

    /// The run's own stop, if it had one.
    pub(crate) fn stopped(&self) -> Option<Stop> {
        match self.reason.load(Relaxed) {
            1 => Some(Stop::Rejected(Rejected)),
            2 => Some(Stop::Cancelled(Cancelled)),
            _ => None,
        }
    }

    /// Whether work that was just claimed must not run: the run is stopping, or its
    /// deadline passed or its token fired (which stops it with `Cancelled`). Asked only
    /// by a lane that holds work, so a run whose every item started is never reported
    /// as cancelled.
    #[inline]
    pub(crate) fn refuses(&self, start: usize) -> bool {
        if self.is_stopping() || start > self.cut.load(Relaxed) {
            return true;
        }
        let expired = self.deadline.is_some_and(|d| Instant::now() >= d)
            || self.cancel.as_ref().is_some_and(|c| c.is_cancelled());
        if expired {
            self.stop_with(Stop::Cancelled(Cancelled));
        }
        expired
    }

    /// An item at `position` broke out of the loop: nothing after it starts.
    pub(crate) fn cut_at(&self, position: usize) {
        self.cut.fetch_min(position, Relaxed);
    }

    /// The position of the earliest break so far (`usize::MAX` if none).
    #[inline]
    pub(crate) fn cut(&self) -> usize {
        self.cut.load(Relaxed)
    }
}
