//! One run's stop flag, why it stopped when the body is not the reason, the position a
//! `break` or `return` cut the input at, and the `rate` throttle whose sleepers a stop
//! wakes.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use super::throttle::{Ready, Throttle};
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
    /// `rate = …`: the token bucket items start with.
    throttle: Option<Throttle>,
}

impl Control {
    pub(crate) fn new(config: &Config) -> Self {
        Control {
            stop: AtomicBool::new(false),
            reason: AtomicU8::new(0),
            cut: AtomicUsize::new(usize::MAX),
            deadline: config.timeout.map(|t| Instant::now() + t),
            cancel: config.cancel.clone(),
            throttle: config
                .rate_and_burst()
                .map(|(rate, burst)| Throttle::new(rate, burst, config.cancel.as_ref())),
        }
    }

    /// Whether the run is stopping (an error, a panic, or a stop of its own was seen).
    #[inline]
    pub fn is_stopping(&self) -> bool {
        self.stop.load(Relaxed)
    }

    pub(crate) fn stop(&self) {
        self.stop.store(true, Relaxed);
        if let Some(t) = &self.throttle {
            t.wake_all();
        }
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
        self.expire()
    }

    /// Whether the deadline passed or the token fired; if so, the run stops with
    /// `Cancelled`.
    pub(crate) fn expire(&self) -> bool {
        let expired = self.deadline.is_some_and(|d| Instant::now() >= d)
            || self.cancel.as_ref().is_some_and(|c| c.is_cancelled());
        if expired {
            self.stop_with(Stop::Cancelled(Cancelled));
        }
        expired
    }

    /// Time left before the deadline, if there is one.
    pub(crate) fn until_deadline(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Whether a lane sleeping for a `rate` token before the item at `position` must
    /// wake: the run stopped, a `break` cut the input before it, or the token fired.
    pub(crate) fn must_wake(&self, position: usize) -> bool {
        self.is_stopping()
            || position > self.cut()
            || self.cancel.as_ref().is_some_and(|c| c.is_cancelled())
    }

    /// `rate = …`: takes a token for the item at `position`, sleeping until there is one;
    /// `false` if the run stopped first, and the item must not start.
    #[inline]
    pub(crate) fn paced(&self, position: usize) -> bool {
        match &self.throttle {
            None => true,
            Some(t) => t.try_take() || t.wait(self, position),
        }
    }

    /// Whether items start only with a `rate` token.
    #[inline]
    pub(crate) fn is_paced(&self) -> bool {
        self.throttle.is_some()
    }

    /// [`paced`](Self::paced) for an async lane: awaits the token (on a timer, not a
    /// thread); `true` at once without `rate`.
    pub(crate) async fn paced_async(&self, position: usize) -> bool {
        match &self.throttle {
            None => true,
            Some(t) => t.try_take() || Ready::new(t, self, position).await,
        }
    }

    /// An item at `position` broke out of the loop: nothing after it starts, and no
    /// lane waits for a `rate` token for an item after it.
    pub(crate) fn cut_at(&self, position: usize) {
        let before = self.cut.fetch_min(position, Relaxed);
        if position < before {
            if let Some(t) = &self.throttle {
                t.wake_all();
            }
        }
    }

    /// The position of the earliest break so far (`usize::MAX` if none).
    #[inline]
    pub(crate) fn cut(&self) -> usize {
        self.cut.load(Relaxed)
    }
}
