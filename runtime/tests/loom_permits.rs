//! Model checks of the permits behind `#[gate]` and a loop's `weight = EXPR`
//! (`limit/permits.rs`): in every interleaving, never more than the limit is held, a
//! release wakes the waiter at the front (a thread or a future), and a waiter that
//! gives up lets the next one in. A lost wake-up shows as a deadlock, which loom
//! reports.
//!
//! Run with: `RUSTFLAGS="--cfg loom" cargo test -p bounded-runtime --test loom_permits --release`
#![cfg(loom)]

use bounded_runtime::limit::permits::Permits;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use std::future::Future;
use std::task::{Context, Poll, Waker};

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    builder.check(f);
}

/// Counts the weight held at once and fails past the limit.
struct Held {
    limit: usize,
    now: AtomicUsize,
}

impl Held {
    fn new(limit: usize) -> Arc<Self> {
        Arc::new(Held {
            limit,
            now: AtomicUsize::new(0),
        })
    }

    /// Runs `body` as a holder of `weight`.
    fn hold(&self, weight: usize, body: impl FnOnce()) {
        let now = self.now.fetch_add(weight, SeqCst) + weight;
        assert!(
            now <= self.limit,
            "{now} permits held, limit {}",
            self.limit
        );
        body();
        self.now.fetch_sub(weight, SeqCst);
    }
}

/// Nobody holds or waits, and the most ever held stayed within `limit`.
fn assert_idle(permits: &Permits, limit: usize) {
    let (used, waiting, peak) = permits.usage();
    assert_eq!(
        (used, waiting),
        (0, 0),
        "permits left in use or waiters left queued"
    );
    assert!(peak <= limit, "peak {peak}, limit {limit}");
}

/// Three threads through two permits: at most two hold one at once, and every thread
/// gets its turn.
#[test]
fn three_threads_never_hold_more_than_two_permits() {
    model(|| {
        let permits = Arc::new(Permits::new());
        let held = Held::new(2);
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (permits, held) = (permits.clone(), held.clone());
                loom::thread::spawn(move || {
                    let p = permits.acquire(2, 1);
                    held.hold(1, || ());
                    drop(p);
                })
            })
            .collect();
        let p = permits.acquire(2, 1);
        held.hold(1, || ());
        drop(p);
        for t in threads {
            t.join().unwrap();
        }
        assert_idle(&permits, 2);
    });
}

/// Weighted requests of 3 (all of the limit) and 1 while 2 is held: neither is lost,
/// the sum held never passes 3, and `try_acquire` never takes a place out of turn.
#[test]
fn weighted_requests_never_pass_the_limit_and_all_run() {
    model(|| {
        let permits = Arc::new(Permits::new());
        let held = Held::new(3);
        let first = permits.acquire(3, 2);
        let now = held.now.fetch_add(2, SeqCst) + 2;
        assert!(now <= 3);
        let threads: Vec<_> = [3usize, 1]
            .into_iter()
            .map(|weight| {
                let (permits, held) = (permits.clone(), held.clone());
                loom::thread::spawn(move || {
                    let p = permits.acquire(3, weight);
                    held.hold(weight, || ());
                    drop(p);
                })
            })
            .collect();
        // Only taken when it fits and nobody is queued; then it counts like any holder.
        if let Some(p) = permits.try_acquire(3, 1) {
            held.hold(1, || ());
            drop(p);
        }
        held.now.fetch_sub(2, SeqCst);
        drop(first);
        for t in threads {
            t.join().unwrap();
        }
        assert_idle(&permits, 3);
    });
}

/// A future and a thread wait for the one permit the main thread holds: its release
/// wakes the front, whichever it is, and that one's release wakes the other.
#[test]
fn a_release_wakes_a_waiting_future_and_a_waiting_thread() {
    model(|| {
        let permits = Arc::new(Permits::new());
        let held = Held::new(1);
        let first = permits.acquire(1, 1);
        let future = {
            let (permits, held) = (permits.clone(), held.clone());
            loom::thread::spawn(move || {
                let p = loom::future::block_on(permits.acquire_async(1, 1));
                held.hold(1, || ());
                drop(p);
            })
        };
        let thread = {
            let (permits, held) = (permits.clone(), held.clone());
            loom::thread::spawn(move || {
                let p = permits.acquire(1, 1);
                held.hold(1, || ());
                drop(p);
            })
        };
        drop(first);
        future.join().unwrap();
        thread.join().unwrap();
        assert_idle(&permits, 1);
    });
}

/// A weight-2 future at the front of the queue keeps a weight-1 thread waiting
/// (first come, first served) although one of the two permits is free. Dropping the
/// future before it completes must let the thread in while the first permit is still
/// held; a drop that forgot to wake it would leave it waiting for ever.
#[test]
fn a_dropped_waiter_gives_its_place_to_the_next() {
    model(|| {
        let permits = Arc::new(Permits::new());
        let first = permits.acquire(2, 1);
        {
            // Boxed, so that `drop(ahead)` drops the future itself.
            let mut ahead = Box::pin(permits.acquire_async(2, 2));
            let mut cx = Context::from_waker(Waker::noop());
            assert!(
                matches!(ahead.as_mut().poll(&mut cx), Poll::Pending),
                "2 more permits while 1 of 2 is held"
            );
            let behind = {
                let permits = permits.clone();
                loom::thread::spawn(move || {
                    let p = permits.acquire(2, 1);
                    assert_eq!(
                        permits.usage().0,
                        2,
                        "the thread runs beside the first holder"
                    );
                    drop(p);
                })
            };
            // The waiter gives up; only then may the thread, queued behind it, run.
            drop(ahead);
            behind.join().unwrap();
        }
        drop(first);
        assert_idle(&permits, 2);
    });
}

/// The same with a release between: the release wakes the future at the front (which
/// is never polled again), then the future is dropped. The thread behind it must still
/// get the permit.
#[test]
fn a_waiter_dropped_after_its_wake_up_passes_the_permit_on() {
    model(|| {
        let permits = Arc::new(Permits::new());
        let first = permits.acquire(1, 1);
        let mut ahead = Box::pin(permits.acquire_async(1, 1));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(matches!(ahead.as_mut().poll(&mut cx), Poll::Pending));
        let behind = {
            let permits = permits.clone();
            loom::thread::spawn(move || drop(permits.acquire(1, 1)))
        };
        drop(first);
        drop(ahead);
        behind.join().unwrap();
        assert_idle(&permits, 1);
    });
}

/// Two waiters, a future and a thread, that fit together once the main thread's two
/// permits are released: whichever is at the front takes its permit and must wake the
/// one behind it, which fits too. Each holds its permit until the other has one, so a
/// waiter left asleep behind a holder shows as a hang instead of a late start.
#[test]
fn a_waiter_that_takes_its_permit_wakes_the_next_that_fits() {
    model(|| {
        let permits = Arc::new(Permits::new());
        let inside = Arc::new(AtomicUsize::new(0));
        let first = permits.acquire(2, 2);
        let together = |inside: &AtomicUsize| {
            inside.fetch_add(1, SeqCst);
            while inside.load(SeqCst) < 2 {
                loom::thread::yield_now();
            }
        };
        let future = {
            let (permits, inside) = (permits.clone(), inside.clone());
            loom::thread::spawn(move || {
                let p = loom::future::block_on(permits.acquire_async(2, 1));
                together(&inside);
                drop(p);
            })
        };
        let thread = {
            let (permits, inside) = (permits.clone(), inside.clone());
            loom::thread::spawn(move || {
                let p = permits.acquire(2, 1);
                together(&inside);
                drop(p);
            })
        };
        drop(first);
        future.join().unwrap();
        thread.join().unwrap();
        assert_idle(&permits, 2);
    });
}
