//! `#[gate]`: a process-wide cap on concurrent calls of one function, with weighted
//! permits handed out first come, first served, for sync and async callers.
//!
//! Fairness: waiters queue by ticket and only the front may take permits, so a call
//! with a large weight is never overtaken for ever by a stream of small ones. A weight
//! above the limit is clamped to the limit (it then runs alone) instead of waiting
//! for ever.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};

use crate::error::Rejected;
use crate::stats::SiteLocation;

/// The shared state of one gated function; the macro emits one `static` per function.
pub struct Gate {
    name: &'static str,
    file: &'static str,
    line: u32,
    limit: OnceLock<usize>,
    state: Mutex<State>,
    turn: Condvar,
    registered: AtomicBool,
    calls: AtomicU64,
    rejected: AtomicU64,
    coalesced: AtomicU64,
    peak_used: AtomicUsize,
}

struct State {
    used: usize,
    next_ticket: u64,
    /// Waiting callers in arrival order: ticket, weight, and an async caller's waker.
    waiting: VecDeque<(u64, usize, Option<Waker>)>,
}

static GATES: Mutex<Vec<&'static Gate>> = Mutex::new(Vec::new());

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Holds a gated call's permits; releases them when dropped (also on panic).
#[must_use = "the permits are released when this guard is dropped"]
pub struct Permit<'g> {
    gate: &'g Gate,
    weight: usize,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut st = lock(&self.gate.state);
        st.used -= self.weight;
        self.gate.wake_front(&st);
        drop(st);
        self.gate.turn.notify_all();
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("gate", &self.gate.name)
            .field("weight", &self.weight)
            .finish()
    }
}

impl Gate {
    /// The gate of the function `name` at `file:line`.
    pub const fn new(name: &'static str, file: &'static str, line: u32) -> Self {
        Gate {
            name,
            file,
            line,
            limit: OnceLock::new(),
            state: Mutex::new(State {
                used: 0,
                next_ticket: 0,
                waiting: VecDeque::new(),
            }),
            turn: Condvar::new(),
            registered: AtomicBool::new(false),
            calls: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            coalesced: AtomicU64::new(0),
            peak_used: AtomicUsize::new(0),
        }
    }

    /// The limit, fixed by the first call (`limit` is evaluated once per process).
    fn limit(&'static self, limit: impl FnOnce() -> usize) -> usize {
        *self.limit.get_or_init(|| {
            let n = limit();
            if n == 0 {
                panic!(
                    "bounded: `#[gate]` on `{}` at {}:{}: `limit` evaluated to 0, which would never admit a call",
                    self.name, self.file, self.line
                );
            }
            if !self.registered.swap(true, Relaxed) {
                lock(&GATES).push(self);
            }
            n
        })
    }

    fn clamp(limit: usize, weight: usize) -> usize {
        weight.clamp(1, limit)
    }

    fn take(&self, st: &mut State, weight: usize) -> Permit<'_> {
        st.used += weight;
        self.peak_used.fetch_max(st.used, Relaxed);
        Permit { gate: self, weight }
    }

    /// Wakes the async caller at the front of the queue, if any, so it can re-check.
    fn wake_front(&self, st: &State) {
        if let Some((_, _, Some(w))) = st.waiting.front() {
            w.wake_by_ref();
        }
    }

    /// Waits for `weight` permits (`on_full = block`).
    pub fn acquire(&'static self, limit: impl FnOnce() -> usize, weight: usize) -> Permit<'static> {
        let limit = self.limit(limit);
        let weight = Self::clamp(limit, weight);
        self.calls.fetch_add(1, Relaxed);
        let mut st = lock(&self.state);
        if st.waiting.is_empty() && st.used + weight <= limit {
            return self.take(&mut st, weight);
        }
        let ticket = st.next_ticket;
        st.next_ticket += 1;
        st.waiting.push_back((ticket, weight, None));
        loop {
            st = self.turn.wait(st).unwrap_or_else(|e| e.into_inner());
            let front = st.waiting.front().map(|w| w.0);
            if front == Some(ticket) && st.used + weight <= limit {
                st.waiting.pop_front();
                let permit = self.take(&mut st, weight);
                // The next in line may fit too.
                self.wake_front(&st);
                drop(st);
                self.turn.notify_all();
                return permit;
            }
        }
    }

    /// Takes `weight` permits if they are free now and nobody is waiting; otherwise
    /// `Err(Rejected)` (`on_full = reject`).
    pub fn try_acquire(
        &'static self,
        limit: impl FnOnce() -> usize,
        weight: usize,
    ) -> Result<Permit<'static>, Rejected> {
        let limit = self.limit(limit);
        let weight = Self::clamp(limit, weight);
        self.calls.fetch_add(1, Relaxed);
        let mut st = lock(&self.state);
        if st.waiting.is_empty() && st.used + weight <= limit {
            Ok(self.take(&mut st, weight))
        } else {
            self.rejected.fetch_add(1, Relaxed);
            Err(Rejected)
        }
    }

    /// Waits for `weight` permits without blocking the thread (async callers).
    pub fn acquire_async(&'static self, limit: impl FnOnce() -> usize, weight: usize) -> Acquire {
        let limit = self.limit(limit);
        self.calls.fetch_add(1, Relaxed);
        Acquire {
            gate: self,
            limit,
            weight: Self::clamp(limit, weight),
            ticket: None,
        }
    }

    /// Counts a call that shared another call's execution (`coalesce`).
    pub fn count_coalesced(&self) {
        self.coalesced.fetch_add(1, Relaxed);
    }

    /// A copy of the counters.
    pub fn snapshot(&self) -> GateStats {
        let st = lock(&self.state);
        GateStats {
            name: self.name,
            location: SiteLocation {
                file: self.file,
                line: self.line,
            },
            limit: self.limit.get().copied().unwrap_or(0),
            calls: self.calls.load(Relaxed),
            rejected: self.rejected.load(Relaxed),
            coalesced: self.coalesced.load(Relaxed),
            running: st.used,
            waiting: st.waiting.len(),
            peak_used: self.peak_used.load(Relaxed),
        }
    }
}

/// The future of [`Gate::acquire_async`]. Dropping it before it completes gives up its
/// place in the queue (cancellation-safe).
pub struct Acquire {
    gate: &'static Gate,
    limit: usize,
    weight: usize,
    ticket: Option<u64>,
}

impl Future for Acquire {
    type Output = Permit<'static>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Permit<'static>> {
        let gate = self.gate;
        let mut st = lock(&gate.state);
        match self.ticket {
            None => {
                if st.waiting.is_empty() && st.used + self.weight <= self.limit {
                    return Poll::Ready(gate.take(&mut st, self.weight));
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
                if front == Some(ticket) && st.used + self.weight <= self.limit {
                    st.waiting.pop_front();
                    self.ticket = None;
                    let permit = gate.take(&mut st, self.weight);
                    gate.wake_front(&st);
                    drop(st);
                    gate.turn.notify_all();
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

impl Drop for Acquire {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket {
            let mut st = lock(&self.gate.state);
            let was_front = st.waiting.front().map(|w| w.0) == Some(ticket);
            st.waiting.retain(|w| w.0 != ticket);
            if was_front {
                self.gate.wake_front(&st);
                drop(st);
                self.gate.turn.notify_all();
            }
        }
    }
}

/// The counters of one gated function, as [`gates`] reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateStats {
    /// `module::function`, or `name = "…"`.
    pub name: &'static str,
    /// Where the function is.
    pub location: SiteLocation,
    /// The limit (0 before the first call evaluates it).
    pub limit: usize,
    /// Calls that asked for permits.
    pub calls: u64,
    /// Calls refused under `on_full = reject`.
    pub rejected: u64,
    /// Calls that shared another call's execution (`coalesce`).
    pub coalesced: u64,
    /// Permits in use now.
    pub running: usize,
    /// Calls waiting now.
    pub waiting: usize,
    /// The most permits ever in use at once (never above `limit`).
    pub peak_used: usize,
}

/// The counters of every gated function called so far in this process.
///
/// ```
/// for g in bounded_runtime::stats::gates() {
///     assert!(g.peak_used <= g.limit);
/// }
/// ```
pub fn gates() -> Vec<GateStats> {
    lock(&GATES).iter().map(|g| g.snapshot()).collect()
}

/// A call's weight (`weight = EXPR`): any integer; values below 1 count as 1.
pub trait Weight {
    /// The weight as a permit count.
    fn permits(self) -> usize;
}

macro_rules! weights {
    ($($t:ty),*) => {$(
        impl Weight for $t {
            fn permits(self) -> usize {
                usize::try_from(self).unwrap_or(if self > 0 as $t { usize::MAX } else { 0 })
            }
        }
    )*};
}

weights!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize);

/// `weight = EXPR` as permits.
pub fn weight(w: impl Weight) -> usize {
    w.permits()
}
