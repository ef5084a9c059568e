//! Weighted permits handed out first come, first served, for threads and futures:
//! the engine of `#[gate]` and of a loop's `weight = EXPR`.
//!
//! Waiters queue by ticket and only the front may take permits, so a large request is
//! never overtaken for ever by a stream of small ones. A weight is clamped to
//! `1..=limit`: a request above the limit runs alone instead of waiting for ever.
//!
//! The state is written against the pool's primitives (`pool/sync.rs`), which are
//! loom's under `--cfg loom`: `runtime/tests/loom_permits.rs` checks the acquire,
//! release and wake-up protocol in every interleaving. Loom's primitives have no
//! `const` constructors, so under loom [`Permits::new`] (and with it `Gate::new`) is
//! an ordinary function, and a `#[gate]` function, which needs a `static` gate, does
//! not build.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::task::{Context, Poll, Waker};

use crate::pool::sync::{AtomicUsize, Condvar, Mutex, MutexGuard};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A FIFO weighted semaphore whose limit is given with each request.
#[derive(Debug)]
pub struct Permits {
    state: Mutex<State>,
    turn: Condvar,
    peak_used: AtomicUsize,
}

#[derive(Debug)]
struct State {
    used: usize,
    next_ticket: u64,
    /// Waiting requests in arrival order: ticket, weight, and a future's waker.
    waiting: VecDeque<(u64, usize, Option<Waker>)>,
}

impl State {
    const IDLE: State = State {
        used: 0,
        next_ticket: 0,
        waiting: VecDeque::new(),
    };
}

/// The limit a request waits under: fixed when it is made, or read again at each
/// check (the adaptive limiter's current limit), so a lowered limit holds for requests
/// already waiting.
#[derive(Debug, Clone, Copy)]
enum Cap<'p> {
    Fixed(usize),
    Moving(&'p AtomicUsize),
}

impl Cap<'_> {
    #[inline]
    fn get(self) -> usize {
        match self {
            Cap::Fixed(n) => n,
            Cap::Moving(n) => n.load(Relaxed).max(1),
        }
    }
}

/// Held permits; released when dropped (also on panic).
#[must_use = "the permits are released when this guard is dropped"]
pub struct Permit<'p> {
    permits: &'p Permits,
    weight: usize,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut st = lock(&self.permits.state);
        st.used -= self.weight;
        Permits::wake_front(&st);
        drop(st);
        self.permits.turn.notify_all();
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("weight", &self.weight)
            .finish()
    }
}

impl Default for Permits {
    fn default() -> Self {
        Self::new()
    }
}

impl Permits {
    /// No permit in use; a `const fn`, so gates can live in a `static`.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Permits {
            state: Mutex::new(State::IDLE),
            turn: Condvar::new(),
            peak_used: AtomicUsize::new(0),
        }
    }

    /// No permit in use (the model checker's build: loom's primitives are made at run
    /// time).
    #[cfg(loom)]
    pub fn new() -> Self {
        Permits {
            state: Mutex::new(State::IDLE),
            turn: Condvar::new(),
            peak_used: AtomicUsize::new(0),
        }
    }

    fn take(&self, st: &mut State, weight: usize) -> Permit<'_> {
        st.used += weight;
        self.peak_used.fetch_max(st.used, Relaxed);
        Permit {
            permits: self,
            weight,
        }
    }

    /// Wakes the future at the front of the queue, if any, so it can re-check.
    fn wake_front(st: &State) {
        if let Some((_, _, Some(w))) = st.waiting.front() {
            w.wake_by_ref();
        }
    }

    /// Waits for `weight` of `limit` permits.
    ///
    /// ```
    /// use bounded_runtime::limit::permits::Permits;
    /// let permits = Permits::new();
    /// let a = permits.acquire(4, 3);
    /// assert!(permits.try_acquire(4, 2).is_none()); // 3 + 2 > 4
    /// drop(a);
    /// assert!(permits.try_acquire(4, 9).is_some()); // clamped to 4: runs alone
    /// ```
    pub fn acquire(&self, limit: usize, weight: usize) -> Permit<'_> {
        self.acquire_cap(Cap::Fixed(limit), weight)
    }

    /// Waits for one permit under the limit `limit` holds now, read again whenever a
    /// permit is released (or [`Permits::notify`] is called after the limit rose).
    pub fn acquire_under(&self, limit: &AtomicUsize) -> Permit<'_> {
        self.acquire_cap(Cap::Moving(limit), 1)
    }

    fn acquire_cap(&self, cap: Cap<'_>, weight: usize) -> Permit<'_> {
        let weight = weight.clamp(1, cap.get());
        let mut st = lock(&self.state);
        if st.waiting.is_empty() && st.used + weight <= cap.get() {
            return self.take(&mut st, weight);
        }
        let ticket = st.next_ticket;
        st.next_ticket += 1;
        st.waiting.push_back((ticket, weight, None));
        loop {
            st = self.turn.wait(st).unwrap_or_else(|e| e.into_inner());
            let front = st.waiting.front().map(|w| w.0);
            if front == Some(ticket) && st.used + weight <= cap.get() {
                st.waiting.pop_front();
                let permit = self.take(&mut st, weight);
                // The next in line may fit too.
                Self::wake_front(&st);
                drop(st);
                self.turn.notify_all();
                return permit;
            }
        }
    }

    /// Takes `weight` of `limit` permits if they are free now and nobody is waiting.
    pub fn try_acquire(&self, limit: usize, weight: usize) -> Option<Permit<'_>> {
        let weight = weight.clamp(1, limit);
        let mut st = lock(&self.state);
        (st.waiting.is_empty() && st.used + weight <= limit).then(|| self.take(&mut st, weight))
    }

    /// [`Permits::try_acquire`] of one permit under the limit `limit` holds now.
    pub fn try_acquire_under(&self, limit: &AtomicUsize) -> Option<Permit<'_>> {
        self.try_acquire(limit.load(Relaxed).max(1), 1)
    }

    /// Waits for `weight` of `limit` permits without blocking the thread.
    pub fn acquire_async(&self, limit: usize, weight: usize) -> Acquire<'_> {
        Acquire {
            permits: self,
            cap: Cap::Fixed(limit),
            weight: weight.clamp(1, limit),
            ticket: None,
        }
    }

    /// [`Permits::acquire_under`] for a future.
    pub fn acquire_async_under<'p>(&'p self, limit: &'p AtomicUsize) -> Acquire<'p> {
        Acquire {
            permits: self,
            cap: Cap::Moving(limit),
            weight: 1,
            ticket: None,
        }
    }

    /// Lets waiters check again: the limit they wait under has risen.
    pub fn notify(&self) {
        let st = lock(&self.state);
        Self::wake_front(&st);
        drop(st);
        self.turn.notify_all();
    }

    /// Permits in use, requests waiting, and the most permits ever in use at once.
    pub fn usage(&self) -> (usize, usize, usize) {
        let st = lock(&self.state);
        (st.used, st.waiting.len(), self.peak_used.load(Relaxed))
    }
}

/// The future of [`Permits::acquire_async`]. Dropping it before it completes gives up
/// its place in the queue (cancellation-safe).
pub struct Acquire<'p> {
    permits: &'p Permits,
    cap: Cap<'p>,
    weight: usize,
    ticket: Option<u64>,
}

impl<'p> Future for Acquire<'p> {
    type Output = Permit<'p>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Permit<'p>> {
        let permits = self.permits;
        let mut st = lock(&permits.state);
        match self.ticket {
            None => {
                if st.waiting.is_empty() && st.used + self.weight <= self.cap.get() {
                    return Poll::Ready(permits.take(&mut st, self.weight));
                }
                let ticket = st.next_ticket;
                st.next_ticket += 1;
                st.waiting
                    .push_back((ticket, self.weight, Some(cx.waker().clone())));
                self.ticket = Some(ticket);
                Poll::Pending
            }
            Some(ticket) => {
                let front = st.waiting.front().map(|w| w.0);
                if front == Some(ticket) && st.used + self.weight <= self.cap.get() {
                    st.waiting.pop_front();
                    self.ticket = None;
                    let permit = permits.take(&mut st, self.weight);
                    Permits::wake_front(&st);
                    drop(st);
                    permits.turn.notify_all();
                    return Poll::Ready(permit);
                }
                if let Some(entry) = st.waiting.iter_mut().find(|w| w.0 == ticket) {
                    entry.2 = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket {
            let mut st = lock(&self.permits.state);
            let was_front = st.waiting.front().map(|w| w.0) == Some(ticket);
            st.waiting.retain(|w| w.0 != ticket);
            if was_front {
                Permits::wake_front(&st);
                drop(st);
                self.permits.turn.notify_all();
            }
        }
    }
}

/// A loop's `weight = EXPR`: each item takes its weight of the loop's `limit`.
#[derive(Debug)]
pub struct LoopPermits {
    limit: usize,
    permits: Permits,
}

impl LoopPermits {
    /// Permits for a loop of `config`'s limit.
    #[track_caller]
    pub fn new(config: &crate::Config) -> Self {
        LoopPermits {
            limit: config.checked_limit(),
            permits: Permits::new(),
        }
    }

    /// Waits for an item's weight (threads).
    pub fn acquire(&self, weight: usize) -> Permit<'_> {
        self.permits.acquire(self.limit, weight)
    }

    /// Waits for an item's weight (futures).
    pub fn acquire_async(&self, weight: usize) -> Acquire<'_> {
        self.permits.acquire_async(self.limit, weight)
    }
}
