//! `rate = N / s`: the run's token bucket, and the lanes waiting on it.
//!
//! A lane takes one token just before an item starts: a synchronous lane in
//! [`Checked`](super::Checked) (sleeping on a condvar), an async lane in its `next`
//! (awaiting a timer, so no executor thread is blocked). Either wait ends as soon as the
//! run stops — an error, a panic, a `break` before the item, the deadline, the token —
//! because [`Control`] wakes every sleeper when it stops, and the cancel token wakes
//! them when it fires. The item that waited is then not run.

use std::future::Future;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_timer::Delay;

use super::control::Control;
use crate::cancel::{CancelToken, OnCancel};
use crate::limit::rate::{Bucket, Rate};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The bucket and who sleeps on it.
pub(crate) struct Throttle {
    bucket: Bucket,
    sleepers: Arc<Sleepers>,
}

/// Threads sleep on the condvar; futures leave their waker, under an id so that a
/// future that got its token takes its waker back out.
#[derive(Default)]
struct Sleepers {
    futures: Mutex<Futures>,
    threads: Condvar,
}

#[derive(Default)]
struct Futures {
    next_id: u64,
    waiting: Vec<(u64, Waker)>,
}

impl Sleepers {
    fn wake_all(&self) {
        let mut futures = lock(&self.futures);
        let waiting = std::mem::take(&mut futures.waiting);
        // Under the lock: a thread that checked the run a moment ago is already asleep.
        self.threads.notify_all();
        drop(futures);
        for (_, w) in waiting {
            w.wake();
        }
    }
}

impl OnCancel for Sleepers {
    fn cancelled(&self) {
        self.wake_all();
    }
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttle").finish_non_exhaustive()
    }
}

impl Throttle {
    /// The run's throttle; `rate` and `burst` were checked with the loop's options.
    pub(crate) fn new(rate: Rate, burst: NonZeroU32, token: Option<&CancelToken>) -> Self {
        let bucket = Bucket::new(rate, burst).expect("`rate` is checked when the loop starts");
        let sleepers = Arc::new(Sleepers::default());
        if let Some(token) = token {
            let weak: Weak<Sleepers> = Arc::downgrade(&sleepers);
            token.wake_on_cancel(weak);
        }
        Throttle { bucket, sleepers }
    }

    /// The run stopped: nobody waits for a token any more.
    pub(crate) fn wake_all(&self) {
        self.sleepers.wake_all();
    }

    /// A token at once, the common case when the rate is not the bottleneck.
    #[inline]
    pub(crate) fn try_take(&self) -> bool {
        self.bucket.take().is_ok()
    }

    /// Sleeps until a token is there for the item at `position`; `false` if the run
    /// stopped first (or cut the input before `position`), so the item must not start.
    #[cold]
    pub(crate) fn wait(&self, control: &Control, position: usize) -> bool {
        loop {
            let wait = match self.next_wait(control, position) {
                Next::Go => return true,
                Next::Stop => return false,
                Next::Wait(wait) => wait,
            };
            let guard = lock(&self.sleepers.futures);
            // Woken early by a stop: the loop's next round sees it.
            let _ = self
                .sleepers
                .threads
                .wait_timeout_while(guard, wait, |_| !control.must_wake(position));
        }
    }

    /// What the item at `position` does now: start with a token, stop, or wait this long
    /// (never past the run's deadline).
    fn next_wait(&self, control: &Control, position: usize) -> Next {
        if control.is_stopping() || position > control.cut() {
            return Next::Stop;
        }
        if control.expire() {
            return Next::Stop;
        }
        match self.bucket.take() {
            Ok(()) => Next::Go,
            Err(wait) => Next::Wait(control.until_deadline().map_or(wait, |d| wait.min(d))),
        }
    }

    fn leave_waker(&self, id: &mut Option<u64>, waker: &Waker) {
        let mut futures = lock(&self.sleepers.futures);
        let id = *id.get_or_insert_with(|| {
            futures.next_id += 1;
            futures.next_id
        });
        match futures.waiting.iter_mut().find(|(i, _)| *i == id) {
            Some((_, w)) => w.clone_from(waker),
            None => futures.waiting.push((id, waker.clone())),
        }
    }

    fn take_waker(&self, id: Option<u64>) {
        if let Some(id) = id {
            lock(&self.sleepers.futures)
                .waiting
                .retain(|(i, _)| *i != id);
        }
    }
}

enum Next {
    Go,
    Stop,
    Wait(Duration),
}

/// An async lane waiting for its next item's token.
pub(crate) struct Ready<'a> {
    throttle: &'a Throttle,
    control: &'a Control,
    position: usize,
    delay: Option<Delay>,
    id: Option<u64>,
}

impl<'a> Ready<'a> {
    /// [`Throttle::wait`] for an async lane: resolves to `true` with a token, or `false`
    /// once the run stops.
    pub(crate) fn new(throttle: &'a Throttle, control: &'a Control, position: usize) -> Self {
        Ready {
            throttle,
            control,
            position,
            delay: None,
            id: None,
        }
    }
}

impl Future for Ready<'_> {
    type Output = bool;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        let this = &mut *self;
        loop {
            // Woken by something else than the timer or a stop: keep waiting.
            if let Some(delay) = this.delay.as_mut() {
                if !this.control.must_wake(this.position) && Pin::new(delay).poll(cx).is_pending() {
                    this.throttle.leave_waker(&mut this.id, cx.waker());
                    return Poll::Pending;
                }
                this.delay = None;
            }
            let wait = match this.throttle.next_wait(this.control, this.position) {
                Next::Go => return Poll::Ready(true),
                Next::Stop => return Poll::Ready(false),
                Next::Wait(wait) => wait,
            };
            // The waker first, then the stop check: a stop in between still wakes us.
            this.throttle.leave_waker(&mut this.id, cx.waker());
            if this.control.must_wake(this.position) {
                continue;
            }
            this.delay = Some(Delay::new(wait));
        }
    }
}

impl Drop for Ready<'_> {
    fn drop(&mut self) {
        self.throttle.take_waker(self.id);
    }
}
