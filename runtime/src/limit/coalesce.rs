//! `#[gate(coalesce)]`: singleflight. Concurrent calls with equal arguments share one
//! execution: the first caller (the leader) runs the function, the others wait for its
//! result and receive a clone. The entry is removed as the leader finishes, so the
//! next call after completion runs again.
//!
//! A leader that panics re-raises its own panic; every waiter panics too, with the
//! leader's message. An error is a value like any other: every waiter receives a clone
//! of it. An async leader that is dropped before finishing hands the work on: its
//! waiters start over, and one of them becomes the new leader.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

enum Outcome<R> {
    Running,
    Done(R),
    Panicked(String),
    Abandoned,
}

struct Flight<R> {
    outcome: Mutex<(Outcome<R>, Vec<Waker>)>,
    done: Condvar,
}

impl<R: Clone> Flight<R> {
    fn new() -> Arc<Self> {
        Arc::new(Flight {
            outcome: Mutex::new((Outcome::Running, Vec::new())),
            done: Condvar::new(),
        })
    }

    fn finish(&self, outcome: Outcome<R>) {
        let mut o = lock(&self.outcome);
        o.0 = outcome;
        for w in o.1.drain(..) {
            w.wake();
        }
        drop(o);
        self.done.notify_all();
    }

    /// The shared result for a waiter: `Some` once finished, `None` if abandoned.
    fn take(o: &Outcome<R>) -> Option<R> {
        match o {
            Outcome::Done(r) => Some(r.clone()),
            Outcome::Panicked(msg) => {
                panic!("bounded: the coalesced call this one waited for panicked: {msg}")
            }
            Outcome::Abandoned => None,
            Outcome::Running => unreachable!("a finished flight"),
        }
    }
}

/// The calls in flight of one coalesced function, by argument tuple.
pub struct Flights<K, R> {
    map: Mutex<Option<HashMap<K, Arc<Flight<R>>>>>,
}

impl<K, R> Flights<K, R> {
    /// No call in flight.
    pub const fn new() -> Self {
        Flights {
            map: Mutex::new(None),
        }
    }
}

impl<K, R> Default for Flights<K, R> {
    fn default() -> Self {
        Self::new()
    }
}

fn message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic payload that is not a string".to_owned()
    }
}

impl<K: Eq + Hash, R: Clone> Flights<K, R> {
    /// Joins the flight for `key`, or starts it: `(flight, true)` for the leader.
    fn join(&self, key: &K) -> Option<Arc<Flight<R>>>
    where
        K: Clone,
    {
        let mut map = lock(&self.map);
        let map = map.get_or_insert_with(HashMap::new);
        match map.get(key) {
            Some(f) => Some(f.clone()),
            None => {
                map.insert(key.clone(), Flight::new());
                None
            }
        }
    }

    fn leave(&self, key: &K) -> Option<Arc<Flight<R>>> {
        lock(&self.map).as_mut().and_then(|m| m.remove(key))
    }

    /// The leader is done: removes the flight (so the next call runs again), hands the
    /// outcome to the waiters, and returns or re-raises it.
    fn publish(&self, key: &K, out: std::thread::Result<R>) -> R {
        let flight = self.leave(key).expect("the leader's flight");
        match out {
            Ok(r) => {
                flight.finish(Outcome::Done(r.clone()));
                r
            }
            Err(payload) => {
                flight.finish(Outcome::Panicked(message(&*payload)));
                resume_unwind(payload)
            }
        }
    }

    /// Runs `f` for `key`, or waits for the call already running with an equal key.
    /// `joined` is told, once, when this call waits for another's execution.
    pub fn run(&self, key: K, joined: impl Fn(), f: impl FnOnce() -> R) -> R
    where
        K: Clone,
    {
        loop {
            match self.join(&key) {
                None => {
                    return self.publish(&key, catch_unwind(AssertUnwindSafe(f)));
                }
                Some(flight) => {
                    // A sync leader never abandons, so this call joins only once.
                    joined();
                    let mut o = lock(&flight.outcome);
                    while matches!(o.0, Outcome::Running) {
                        o = flight.done.wait(o).unwrap_or_else(|e| e.into_inner());
                    }
                    if let Some(r) = Flight::take(&o.0) {
                        return r;
                    }
                    // Abandoned (a sync leader never abandons; kept for symmetry).
                }
            }
        }
    }

    /// The async form of [`run`](Self::run): `make` builds the leader's future.
    pub async fn run_async<F, Fut>(&self, key: K, joined: impl Fn(), make: F) -> R
    where
        K: Clone,
        F: FnOnce() -> Fut,
        Fut: Future<Output = R>,
    {
        let mut make = Some(make);
        let mut counted = false;
        loop {
            match self.join(&key) {
                None => {
                    let make = make.take().expect("a call leads at most once");
                    let mut guard = Abandon {
                        flights: self,
                        key: &key,
                        armed: true,
                    };
                    let out = CatchUnwind(make()).await;
                    guard.armed = false;
                    return self.publish(&key, out);
                }
                Some(flight) => {
                    // A call whose leader was dropped may join again (or lead): it is
                    // still one call.
                    if !std::mem::replace(&mut counted, true) {
                        joined();
                    }
                    if let Some(r) = (Wait { flight: &flight }).await {
                        return r;
                    }
                    if make.is_none() {
                        unreachable!("a waiter never led");
                    }
                }
            }
        }
    }
}

/// Marks a flight abandoned when its async leader is dropped mid-way.
struct Abandon<'a, K: Eq + Hash, R: Clone> {
    flights: &'a Flights<K, R>,
    key: &'a K,
    armed: bool,
}

impl<K: Eq + Hash, R: Clone> Drop for Abandon<'_, K, R> {
    fn drop(&mut self) {
        if self.armed {
            if let Some(flight) = self.flights.leave(self.key) {
                flight.finish(Outcome::Abandoned);
            }
        }
    }
}

struct Wait<'a, R> {
    flight: &'a Flight<R>,
}

impl<R: Clone> Future for Wait<'_, R> {
    type Output = Option<R>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<R>> {
        let mut o = lock(&self.flight.outcome);
        if matches!(o.0, Outcome::Running) {
            if !o.1.iter().any(|w| w.will_wake(cx.waker())) {
                o.1.push(cx.waker().clone());
            }
            return Poll::Pending;
        }
        Poll::Ready(Flight::take(&o.0))
    }
}

/// Polls a future inside `catch_unwind`, so a leader's panic can be reported to its
/// waiters before it is re-raised.
struct CatchUnwind<F>(F);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = std::thread::Result<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: structural pinning of the only field: `CatchUnwind` has no `Drop` impl
        // and nothing else moves the field or hands out `&mut F`, so `F` stays where it
        // was pinned until it is dropped in place.
        let inner = unsafe { self.map_unchecked_mut(|s| &mut s.0) };
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(r)) => Poll::Ready(Ok(r)),
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}

/// Checks, at the argument's own span, that a coalesced function's argument can key
/// the calls in flight.
pub fn assert_coalesce_key<K: Eq + Hash + Clone + Send + 'static>() {}

/// Checks, at the return type's span, that a coalesced function's result can be handed
/// to every waiting call.
pub fn assert_coalesce_result<R: Clone + Send + 'static>() {}

#[cfg(test)]
mod test {
    use super::Flights;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::Barrier;
    use std::thread;
    use std::time::Duration;

    #[test]
    fn concurrent_equal_calls_share_one_execution_and_later_calls_run_again() {
        static FLIGHTS: Flights<u32, u64> = Flights::new();
        let runs = AtomicUsize::new(0);
        let barrier = Barrier::new(16);
        thread::scope(|s| {
            for _ in 0..16 {
                s.spawn(|| {
                    barrier.wait();
                    let r = FLIGHTS.run(
                        7,
                        || (),
                        || {
                            runs.fetch_add(1, SeqCst);
                            thread::sleep(Duration::from_millis(100));
                            49
                        },
                    );
                    assert_eq!(r, 49);
                });
            }
        });
        assert_eq!(runs.load(SeqCst), 1);
        FLIGHTS.run(7, || (), || runs.fetch_add(1, SeqCst) as u64);
        assert_eq!(runs.load(SeqCst), 2);
    }
}
