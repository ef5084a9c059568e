//! Model checks of the pool's synchronisation (queue, hand-off, scope wait, shutdown,
//! abort). The abort flag that running jobs read through `pool::cancelled()` is a
//! thread-local outside the models (it reads false under loom), so only the queue side
//! of an abort is checked here: the dropped jobs, the counts and the wake-ups.
//!
//! Run with: `RUSTFLAGS="--cfg loom" cargo test -p bounded-runtime --test loom_pool --release`
#![cfg(loom)]

use bounded_runtime::pool::{Pool, Shutdown};
use bounded_runtime::OnFull;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use std::ops::Deref;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Counts its drops: a job that captures one shows when the job was dropped, run or not.
struct Dropped<C: Deref<Target = AtomicUsize>>(C);

impl<C: Deref<Target = AtomicUsize>> Drop for Dropped<C> {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    builder.check(f);
}

/// Submits two counting jobs, drains the pool, and checks both ran and were counted.
fn two_jobs_then_drain(pool: Pool) {
    let done = Arc::new(AtomicUsize::new(0));
    for _ in 0..2 {
        let done = done.clone();
        pool.execute(move || {
            done.fetch_add(1, SeqCst);
        })
        .unwrap();
    }
    let stats = pool.shutdown(Shutdown::Drain);
    assert_eq!(done.load(SeqCst), 2);
    assert_eq!(stats.completed, 2);
    assert_eq!(stats.submitted, stats.accounted());
}

/// Two jobs through a one-worker pool with a direct hand-off queue: both run, and
/// the drain sees both completed, whatever the interleaving.
#[test]
fn hand_off_and_drain() {
    model(|| {
        let pool = Pool::builder().workers(1).queue(0).build().unwrap();
        two_jobs_then_drain(pool);
    });
}

/// Submits `jobs` empty jobs to a one-worker pool of `queue` places, drains it, and
/// checks every job completed: a submitter blocked on the full queue lost nothing and
/// nobody hung.
fn fill_then_drain(queue: usize, jobs: u64) {
    model(move || {
        let pool = Pool::builder().workers(1).queue(queue).build().unwrap();
        for _ in 0..jobs {
            pool.execute(|| ()).unwrap();
        }
        let stats = pool.shutdown(Shutdown::Drain);
        assert_eq!(stats.completed, jobs);
    });
}

/// A bounded queue with a blocked submitter: nothing is lost and nobody hangs.
#[test]
fn queue_with_blocked_submitter() {
    fill_then_drain(1, 3);
}

/// A blocked submitter is woken once the queue is down to half its places, not at
/// each free place: with two places and one worker, the submitter of the fourth job
/// waits for the pop that leaves one. Nothing is lost and nobody hangs.
#[test]
fn a_blocked_submitter_is_woken_at_half_a_queue() {
    fill_then_drain(2, 4);
}

/// The scope returns only after its jobs ran.
#[test]
fn scope_waits() {
    model(|| {
        let pool = Pool::builder().workers(1).queue(1).build().unwrap();
        let done = AtomicUsize::new(0);
        pool.scope(|s| {
            for _ in 0..2 {
                s.execute(|| {
                    done.fetch_add(1, SeqCst);
                })
                .unwrap();
            }
        });
        assert_eq!(done.load(SeqCst), 2);
    });
}

/// Abort racing with a running job: every job is either completed or cancelled.
#[test]
fn abort_accounts_for_every_job() {
    model(|| {
        let pool = Pool::builder()
            .workers(1)
            .queue(2)
            .on_full(OnFull::Reject)
            .build()
            .unwrap();
        for _ in 0..2 {
            let _ = pool.execute(|| ());
        }
        let stats = pool.shutdown(Shutdown::Abort);
        assert_eq!(stats.submitted, 2);
        assert_eq!(stats.submitted, stats.accounted());
        assert_eq!(stats.workers, 0);
    });
}

/// An abort racing a scope: each scoped job is run, cancelled from the queue or
/// refused, and the scope returns only after every one was dropped — so nothing a job
/// borrows from the caller's stack is touched after `scope` returns.
#[test]
fn scope_waits_for_jobs_an_abort_cancels() {
    model(|| {
        let pool = Pool::builder().workers(1).queue(2).build().unwrap();
        let aborter = {
            let pool = pool.clone();
            loom::thread::spawn(move || pool.shutdown(Shutdown::Abort))
        };
        let ran = AtomicUsize::new(0);
        let dropped = AtomicUsize::new(0);
        let mut accepted = 0;
        pool.scope(|s| {
            for _ in 0..2 {
                let token = Dropped(&dropped);
                let ran = &ran;
                if s.execute(move || {
                    let _token = &token;
                    ran.fetch_add(1, SeqCst);
                })
                .is_ok()
                {
                    accepted += 1;
                }
            }
        });
        assert_eq!(dropped.load(SeqCst), 2, "a job outlived its scope");
        aborter.join().unwrap();
        let stats = pool.stats();
        assert_eq!(stats.submitted, 2);
        assert_eq!(stats.rejected, 2 - accepted);
        assert_eq!(stats.completed, ran.load(SeqCst) as u64);
        assert_eq!(stats.completed + stats.cancelled, accepted);
        assert_eq!(stats.submitted, stats.accounted());
        assert_eq!(stats.workers, 0);
    });
}

/// A scoped job that panics: the scope still waits for the other job, then re-raises
/// the panic in the caller.
#[test]
fn scope_re_raises_a_job_panic_after_the_other_job() {
    model(|| {
        let pool = Pool::builder().workers(1).queue(1).build().unwrap();
        let done = AtomicUsize::new(0);
        let dropped = AtomicUsize::new(0);
        let result = catch_unwind(AssertUnwindSafe(|| {
            pool.scope(|s| {
                s.execute::<_, ()>(|| panic!("job")).unwrap();
                let token = Dropped(&dropped);
                let done = &done;
                s.execute(move || {
                    let _token = &token;
                    done.fetch_add(1, SeqCst);
                })
                .unwrap();
            })
        }));
        assert!(result.is_err(), "the job's panic reaches the caller");
        assert_eq!(done.load(SeqCst), 1);
        assert_eq!(dropped.load(SeqCst), 1);
        let stats = pool.shutdown(Shutdown::Drain);
        assert_eq!((stats.panicked, stats.completed), (1, 1));
    });
}

/// A submitter blocked on a full queue (`on_full = block`) while another thread aborts
/// the pool: the abort wakes it, its job is refused or accepted and then run or
/// cancelled, every job is dropped and counted, and nobody hangs.
#[test]
fn abort_wakes_a_blocked_submitter() {
    model(|| {
        let pool = Pool::builder().workers(1).queue(1).build().unwrap();
        let dropped = Arc::new(AtomicUsize::new(0));
        let submitter = {
            let pool = pool.clone();
            let dropped = dropped.clone();
            loom::thread::spawn(move || {
                let mut refused = 0;
                for _ in 0..3 {
                    let token = Dropped(dropped.clone());
                    let job = move || {
                        let _token = &token;
                    };
                    if pool.execute(job).is_err() {
                        refused += 1;
                    }
                }
                refused
            })
        };
        pool.shutdown(Shutdown::Abort);
        let refused = submitter.join().unwrap();
        // Read after the submitter ended: it may be refused after the shutdown returned.
        let stats = pool.stats();
        assert_eq!(stats.submitted, 3);
        assert_eq!(stats.rejected, refused);
        assert_eq!(dropped.load(SeqCst), 3, "a job was never dropped");
        assert_eq!(stats.submitted, stats.accounted());
        assert_eq!(stats.workers, 0);
    });
}

/// Jobs handed over without the lock (a pool running all its workers) while its one
/// worker goes to sleep and wakes: whichever way the two cross, the worker sees each
/// job or is woken for it, and the drain runs both.
#[test]
fn lock_free_hand_over_never_strands_a_job() {
    model(|| {
        let pool = Pool::builder()
            .workers(1)
            .queue(2)
            .prestart()
            .build()
            .unwrap();
        two_jobs_then_drain(pool);
    });
}

/// A worker that may retire (an elastic pool at its size, whose idle wait may time
/// out) while a job arrives: the job is run, by that worker or by one started for it,
/// before the scope returns.
#[test]
fn a_job_arriving_as_the_last_worker_retires_still_runs() {
    model(|| {
        let pool = Pool::builder()
            .workers(0..=1)
            .idle_timeout(std::time::Duration::from_millis(1))
            .queue(1)
            .build()
            .unwrap();
        let done = AtomicUsize::new(0);
        pool.scope(|s| {
            for _ in 0..2 {
                let done = &done;
                s.execute(move || {
                    done.fetch_add(1, SeqCst);
                })
                .unwrap();
            }
        });
        assert_eq!(done.load(SeqCst), 2);
        let stats = pool.shutdown(Shutdown::Drain);
        assert_eq!(stats.completed, 2);
        assert_eq!(stats.submitted, stats.accounted());
    });
}
