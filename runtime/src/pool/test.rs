use super::*;
use crate::limit::OnFull;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Threads of this process whose name starts with `prefix` (Linux), read from the OS.
fn threads_named(prefix: &str) -> usize {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    dir.filter_map(|e| e.ok())
        .filter(|e| !exiting(&e.path()))
        .filter_map(|e| std::fs::read_to_string(e.path().join("comm")).ok())
        .filter(|name| name.trim_end().starts_with(prefix))
        .count()
}

/// Whether a task is in the kernel's exit path (`PF_EXITING`): its thread has returned
/// and been joined, and the kernel lists it a moment longer.
fn exiting(task: &std::path::Path) -> bool {
    std::fs::read_to_string(task.join("stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(6)?.parse::<u64>().ok())
            .is_some_and(|flags| flags & 0x4 != 0)
    })
}

/// Polls `cond` for up to five seconds (condition, not timing, is what is asserted).
fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if cond() {
            return true;
        }
        thread::sleep(Duration::from_millis(2));
    }
    cond()
}

/// A job that signals when it starts and then waits to be released.
fn gate() -> (Sender<()>, Receiver<()>, Sender<()>, Receiver<()>) {
    let (started_tx, started_rx) = channel();
    let (release_tx, release_rx) = channel();
    (started_tx, started_rx, release_tx, release_rx)
}

fn assert_accounted(stats: &PoolStats) {
    assert_eq!(stats.submitted, stats.accounted(), "{stats:#?}");
}

#[test]
fn build_rejects_bad_configurations() {
    let err = |b: PoolBuilder| b.build().unwrap_err();
    assert_eq!(err(Pool::builder().workers(0)), BuildError::NoWorkers);
    assert_eq!(
        err(Pool::builder().workers(Workers { min: 3, max: 1 })),
        BuildError::MinAboveMax { min: 3, max: 1 }
    );
    assert_eq!(
        err(Pool::builder().idle_timeout(Duration::ZERO)),
        BuildError::ZeroIdleTimeout
    );
    assert_eq!(
        err(Pool::builder().workers(0..=2).prestart()),
        BuildError::PrestartWithoutMin
    );
    assert!(BuildError::MinAboveMax { min: 3, max: 1 }
        .to_string()
        .contains("workers(3..=1)"));
}

#[test]
fn prestart_starts_the_minimum_and_lazy_pools_start_nothing() {
    let lazy = Pool::builder()
        .name("t-lazy")
        .workers(2..=4)
        .build()
        .unwrap();
    assert_eq!(lazy.stats().workers, 0);
    assert_eq!(threads_named("t-lazy"), 0);
    let made = Arc::new(AtomicUsize::new(0));
    let counter = made.clone();
    let warm = Pool::builder()
        .name("t-warm")
        .workers(3..=4)
        .prestart()
        .build()
        .unwrap();
    assert_eq!(warm.stats().workers, 3);
    assert!(eventually(|| threads_named("t-warm") == 3));
    drop(warm);
    assert_eq!(threads_named("t-warm"), 0);
    // Per-worker state is made on the worker, once, before its first job.
    let pool = Pool::builder()
        .workers(2)
        .prestart()
        .state(move || counter.fetch_add(1, SeqCst))
        .build()
        .unwrap();
    pool.scope(|s| {
        for _ in 0..200 {
            s.execute_with(|_: &mut usize| thread::sleep(Duration::from_micros(50)))
                .unwrap();
        }
    });
    assert!(made.load(SeqCst) <= 2, "{} states", made.load(SeqCst));
}

#[test]
fn elastic_workers_grow_on_demand_and_retire_when_idle() {
    let pool = Pool::builder()
        .name("t-elastic")
        .workers(1..=4)
        .idle_timeout(Duration::from_millis(50))
        .queue(0)
        .build()
        .unwrap();
    let barrier = Arc::new(Barrier::new(5));
    for _ in 0..4 {
        let b = barrier.clone();
        pool.execute(move || {
            b.wait();
        })
        .unwrap();
    }
    // Four jobs run at once only if four workers started.
    barrier.wait();
    assert_eq!(pool.stats().peak_workers, 4);
    assert!(eventually(|| pool.stats().workers == 1));
    assert!(eventually(|| threads_named("t-elastic") == 1));
    assert_accounted(&pool.shutdown(Shutdown::Drain));
    assert_eq!(threads_named("t-elastic"), 0);
}

#[test]
fn a_full_queue_blocks_the_submitter_until_there_is_room() {
    let pool = Pool::builder().workers(1).queue(2).build().unwrap();
    let (started_tx, started_rx, release_tx, release_rx) = gate();
    pool.execute(move || {
        started_tx.send(()).unwrap();
        release_rx.recv().unwrap();
    })
    .unwrap();
    started_rx.recv().unwrap();
    pool.execute(|| ()).unwrap();
    pool.execute(|| ()).unwrap();
    assert_eq!(pool.stats().queued, 2);
    let returned = Arc::new(AtomicBool::new(false));
    let submitter = {
        let (pool, returned) = (pool.clone(), returned.clone());
        thread::spawn(move || {
            pool.execute(|| ()).unwrap();
            returned.store(true, SeqCst);
        })
    };
    thread::sleep(Duration::from_millis(50));
    assert!(
        !returned.load(SeqCst),
        "the fourth job did not wait for room"
    );
    release_tx.send(()).unwrap();
    submitter.join().unwrap();
    let stats = pool.shutdown(Shutdown::Drain);
    assert_eq!(stats.completed, 4);
    assert_accounted(&stats);
}

#[test]
fn queue_zero_hands_off_only_to_a_free_worker() {
    let pool = Pool::builder().workers(1).queue(0).build().unwrap();
    let (started_tx, started_rx, release_tx, release_rx) = gate();
    pool.execute(move || {
        started_tx.send(()).unwrap();
        release_rx.recv().unwrap();
    })
    .unwrap();
    started_rx.recv().unwrap();
    assert_eq!(pool.try_execute(|| ()), Err(Rejected));
    release_tx.send(()).unwrap();
    assert!(eventually(|| pool.try_execute(|| ()).is_ok()));
    let stats = pool.shutdown(Shutdown::Drain);
    assert!(stats.rejected >= 1);
    assert_accounted(&stats);
}

fn busy_pool(policy: OnFull) -> (Pool, Sender<()>) {
    let pool = Pool::builder()
        .workers(1)
        .queue(1)
        .on_full(policy)
        .build()
        .unwrap();
    let (started_tx, started_rx, release_tx, release_rx) = gate();
    pool.execute(move || {
        started_tx.send(()).unwrap();
        release_rx.recv().unwrap();
    })
    .unwrap();
    started_rx.recv().unwrap();
    pool.execute(|| ()).unwrap(); // fills the queue
    (pool, release_tx)
}

#[test]
fn on_full_drop_skips_and_counts() {
    let (pool, release) = busy_pool(OnFull::Drop);
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    assert_eq!(pool.execute(move || flag.store(true, SeqCst)), Ok(()));
    release.send(()).unwrap();
    let stats = pool.shutdown(Shutdown::Drain);
    assert!(!ran.load(SeqCst));
    assert_eq!((stats.dropped, stats.completed), (1, 2));
    assert_accounted(&stats);
}

#[test]
fn on_full_reject_refuses_and_counts() {
    let (pool, release) = busy_pool(OnFull::Reject);
    assert_eq!(pool.execute(|| ()), Err(Rejected));
    release.send(()).unwrap();
    let stats = pool.shutdown(Shutdown::Drain);
    assert_eq!((stats.rejected, stats.completed), (1, 2));
    assert_accounted(&stats);
}

#[test]
fn on_full_caller_runs_on_the_submitting_thread() {
    let (pool, release) = busy_pool(OnFull::CallerRuns);
    let (tx, rx) = channel();
    pool.execute(move || tx.send(thread::current().id()).unwrap())
        .unwrap();
    assert_eq!(rx.recv().unwrap(), thread::current().id());
    release.send(()).unwrap();
    let stats = pool.shutdown(Shutdown::Drain);
    assert_eq!((stats.caller_ran, stats.completed), (1, 3));
    assert_accounted(&stats);
}

#[test]
fn a_worker_blocking_on_its_own_full_queue_runs_the_job_itself() {
    let pool = Pool::builder().workers(1).queue(0).build().unwrap();
    let inner = pool.clone();
    let (tx, rx) = channel();
    pool.execute(move || {
        // The only worker submits to its own full pool: waiting would be forever.
        let tx2 = tx.clone();
        inner.execute(move || tx2.send("inner").unwrap()).unwrap();
        tx.send("outer").unwrap();
    })
    .unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok("inner"));
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok("outer"));
}

#[test]
fn scope_jobs_borrow_and_the_scope_waits_for_them() {
    let pool = Pool::builder().workers(2).build().unwrap();
    let mut data = vec![1u64; 1000];
    pool.scope(|s| {
        for chunk in data.chunks_mut(10) {
            s.execute(move || chunk.iter_mut().for_each(|x| *x *= 3))
                .unwrap();
        }
    });
    assert!(data.iter().all(|&x| x == 3));
}

#[test]
fn scope_re_raises_the_first_job_panic_after_every_job_ended() {
    let pool = Pool::builder().workers(2).build().unwrap();
    let finished = AtomicUsize::new(0);
    let caught = catch_unwind(AssertUnwindSafe(|| {
        pool.scope(|s| {
            s.execute::<_, ()>(|| {
                std::panic::panic_any(42u32);
            })
            .unwrap();
            for _ in 0..20 {
                s.execute(|| {
                    thread::sleep(Duration::from_millis(1));
                    finished.fetch_add(1, SeqCst);
                })
                .unwrap();
            }
        })
    }));
    assert_eq!(*caught.unwrap_err().downcast::<u32>().unwrap(), 42);
    assert_eq!(finished.load(SeqCst), 20);
    // No worker was lost.
    let (tx, rx) = channel();
    pool.execute(move || tx.send(()).unwrap()).unwrap();
    rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let stats = pool.shutdown(Shutdown::Drain);
    assert_eq!(stats.panicked, 1);
    assert_accounted(&stats);
}

#[test]
fn scope_waits_for_its_jobs_even_when_its_closure_panics() {
    let pool = Pool::builder().workers(2).build().unwrap();
    let finished = AtomicUsize::new(0);
    let caught = catch_unwind(AssertUnwindSafe(|| {
        pool.scope(|s| {
            for _ in 0..10 {
                s.execute(|| {
                    thread::sleep(Duration::from_millis(5));
                    finished.fetch_add(1, SeqCst);
                })
                .unwrap();
            }
            panic!("scope body");
        })
    }));
    // Had the scope unwound early, these borrows would have dangled.
    assert_eq!(finished.load(SeqCst), 10);
    assert_eq!(
        *caught.unwrap_err().downcast::<&str>().unwrap(),
        "scope body"
    );
}

#[test]
fn a_scope_inside_a_job_of_the_same_pool_does_not_deadlock() {
    let pool = Pool::builder()
        .name("t-nested")
        .workers(1)
        .queue(4)
        .build()
        .unwrap();
    let inner = pool.clone();
    let (tx, rx) = channel();
    pool.execute(move || {
        let total = AtomicUsize::new(0);
        inner.scope(|s| {
            for i in 0..4 {
                let total = &total;
                s.execute(move || {
                    total.fetch_add(i, SeqCst);
                })
                .unwrap();
            }
        });
        tx.send(total.load(SeqCst)).unwrap();
    })
    .unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(6));
}

#[test]
fn drain_runs_every_accepted_job_and_stops_every_thread() {
    let pool = Pool::builder()
        .name("t-drain")
        .workers(2)
        .queue(1000)
        .build()
        .unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    for _ in 0..500 {
        let done = done.clone();
        pool.execute(move || {
            done.fetch_add(1, SeqCst);
        })
        .unwrap();
    }
    let stats = pool.shutdown(Shutdown::Drain);
    assert_eq!(done.load(SeqCst), 500);
    assert_eq!((stats.completed, stats.workers), (500, 0));
    assert_accounted(&stats);
    assert_eq!(threads_named("t-drain"), 0);
    assert_eq!(pool.execute(|| ()), Err(Rejected));
}

#[test]
fn abort_cancels_the_queue_and_signals_running_jobs() {
    let pool = Pool::builder()
        .name("t-abort")
        .workers(1)
        .queue(100)
        .build()
        .unwrap();
    let (started_tx, started_rx) = channel();
    let saw_cancel = Arc::new(AtomicBool::new(false));
    let flag = saw_cancel.clone();
    pool.execute(move || {
        started_tx.send(()).unwrap();
        while !cancelled() {
            thread::sleep(Duration::from_millis(1));
        }
        flag.store(true, SeqCst);
    })
    .unwrap();
    started_rx.recv().unwrap();
    for _ in 0..50 {
        pool.execute(|| ()).unwrap();
    }
    let stats = pool.shutdown(Shutdown::Abort);
    assert!(saw_cancel.load(SeqCst));
    assert_eq!((stats.completed, stats.cancelled), (1, 50));
    assert_accounted(&stats);
    assert_eq!(threads_named("t-abort"), 0);
}

#[test]
fn drain_within_drains_until_the_deadline_then_aborts() {
    let pool = Pool::builder().workers(1).queue(100).build().unwrap();
    for _ in 0..100 {
        pool.execute(|| thread::sleep(Duration::from_millis(2)))
            .unwrap();
    }
    let stats = pool.shutdown(Shutdown::DrainWithin(Duration::from_millis(40)));
    assert!(stats.completed >= 1 && stats.cancelled >= 1, "{stats:#?}");
    assert_eq!(stats.completed + stats.cancelled, 100);
    assert_accounted(&stats);
}

#[test]
fn dropping_the_last_handle_drains_and_joins() {
    let done = Arc::new(AtomicUsize::new(0));
    {
        let pool = Pool::builder()
            .name("t-dropped")
            .workers(2)
            .queue(100)
            .build()
            .unwrap();
        let clone = pool.clone();
        for _ in 0..50 {
            let done = done.clone();
            clone
                .execute(move || {
                    thread::sleep(Duration::from_micros(200));
                    done.fetch_add(1, SeqCst);
                })
                .unwrap();
        }
    }
    assert_eq!(done.load(SeqCst), 50);
    // Joined threads can stay listed in /proc for a moment after they exit.
    assert!(eventually(|| threads_named("t-dropped") == 0));
}

#[test]
fn the_last_handle_dropped_by_a_job_does_not_deadlock() {
    let pool = Pool::builder()
        .name("t-selfdrop")
        .workers(1)
        .build()
        .unwrap();
    let (tx, rx) = channel();
    let handle = pool.clone();
    drop(pool);
    let keep = Mutex::new(Some(handle));
    let job_handle = keep.lock().unwrap().take().unwrap();
    let clone = job_handle.clone();
    clone
        .execute(move || {
            drop(job_handle);
            tx.send(()).unwrap();
        })
        .unwrap();
    drop(clone);
    rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(eventually(|| threads_named("t-selfdrop") == 0));
}

#[test]
fn every_job_is_accounted_for_under_errors_panics_and_shedding() {
    for policy in [
        OnFull::Block,
        OnFull::Drop,
        OnFull::Reject,
        OnFull::CallerRuns,
    ] {
        let pool = Pool::builder()
            .workers(1..=3)
            .queue(2)
            .on_full(policy)
            .build()
            .unwrap();
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        for i in 0..300u32 {
            let _ = pool.execute(move || -> Result<(), String> {
                match i % 10 {
                    0 => panic!("job {i}"),
                    1 | 2 => Err(format!("job {i}")),
                    _ => {
                        thread::sleep(Duration::from_micros(20));
                        Ok(())
                    }
                }
            });
        }
        let stats = pool.shutdown(Shutdown::Drain);
        std::panic::set_hook(hook);
        assert_eq!(stats.submitted, 300);
        assert_accounted(&stats);
        assert!(
            stats.panicked > 0 && stats.failed > 0,
            "{policy:?}: {stats:#?}"
        );
        if policy == OnFull::Block {
            assert_eq!((stats.panicked, stats.failed), (30, 60));
        }
    }
}

#[test]
fn jobs_that_never_return_compile_and_count_as_panicked() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    pool.execute(|| panic!("diverges")).unwrap();
    pool.execute_with(|_: &mut ()| panic!("diverges with state"))
        .unwrap();
    let scoped = catch_unwind(AssertUnwindSafe(|| {
        pool.scope(|s| s.execute(|| panic!("diverges in a scope")).unwrap())
    }));
    let stats = pool.shutdown(Shutdown::Drain);
    std::panic::set_hook(hook);
    assert!(scoped.is_err());
    assert_eq!((stats.panicked, stats.completed), (3, 0));
    assert_accounted(&stats);
}

#[test]
fn latency_percentiles_reflect_the_jobs() {
    let pool = Pool::builder().workers(2).build().unwrap();
    pool.scope(|s| {
        for _ in 0..20 {
            s.execute(|| thread::sleep(Duration::from_millis(3)))
                .unwrap();
        }
    });
    let stats = pool.stats();
    assert!(stats.p50 >= Duration::from_millis(3), "{stats:#?}");
    assert!(stats.p50 <= stats.p90 && stats.p90 <= stats.p99);
}

#[cfg(all(feature = "pinning", target_os = "linux"))]
#[test]
fn pinned_workers_run_on_one_core_each() {
    fn cores_of_this_thread() -> usize {
        // SAFETY: plain data and a valid pointer to it.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            assert_eq!(
                libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set),
                0
            );
            libc::CPU_COUNT(&set) as usize
        }
    }
    let pool = Pool::builder()
        .workers(2)
        .prestart()
        .pin_cores(true)
        .build()
        .unwrap();
    let seen = Mutex::new(Vec::new());
    pool.scope(|s| {
        for _ in 0..20 {
            s.execute(|| seen.lock().unwrap().push(cores_of_this_thread()))
                .unwrap();
        }
    });
    assert!(seen.into_inner().unwrap().iter().all(|&n| n == 1));
    // The caller's own affinity is untouched.
    assert!(cores_of_this_thread() >= 1);
}
