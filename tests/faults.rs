//! Hostile tests of the guarantees (the guarantees chapter of the book): every item
//! accounted for and every owned item dropped exactly once, the bound never exceeded,
//! the error of the first failing item in input order, no deadlock, no thread that
//! outlives its loop or its pool.
//!
//! - `row1_…` … `row8_…`: one regression test per known fault of the pool and async
//!   backends; each fails on an engine that has the fault, in (nearly) every run.
//! - `misuse_…`: run-time misuse (a limit or batch of 0, a pool after shutdown, a
//!   cancelled token reused, a zero timeout).
//! - `stress_short`: random loops on every backend compared with the sequential loop
//!   (see `tests/common/faults.rs` for the fixtures, and the `stress` module below).
//!
//! Commands:
//!
//! ```sh
//! cargo test --release --test faults                      # rows, misuse, short stress
//! SEED=1234 cargo test --release --test faults stress     # replay one stress run
//! SEED=1234 FAULTS_CASE=57 cargo test --release --test faults stress_short  # one case
//! BOUNDED_STRESS_SECS=600 cargo test --release --test faults -- --ignored stress_long
//! ```
//!
//! Items are [`Tracked`]: each carries a heap `String` and records its drops in a
//! ledger, so a double drop is reported with the item's index (the second drop does
//! not free the text again) and a leak shows as an item never dropped. Hangs are
//! caught by a watchdog that fails the test with the case's parameters.

mod common;
#[path = "common/faults.rs"]
mod kit;

use bounded::config::OnFull;
use bounded::pool::Shutdown;
use bounded::{par_bounded, CancelToken, Cancelled, Pool, Rejected};
use kit::{poll_then_drop, threads_named, watchdog, Ledger, Probe, Yields};
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, LazyLock, Mutex};
use std::thread;
use std::time::Duration;

/// How long a row's loop may take before it counts as hung. Every loop here finishes
/// in milliseconds on a working engine.
const HANG: Duration = Duration::from_secs(20);

/// The error the loops return: the failing item's index, or why the loop stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fail {
    Item(usize),
    Cancelled,
    Rejected,
}

impl From<Cancelled> for Fail {
    fn from(_: Cancelled) -> Self {
        Fail::Cancelled
    }
}

impl From<Rejected> for Fail {
    fn from(_: Rejected) -> Self {
        Fail::Rejected
    }
}

/// Serializes the tests that count threads of the whole process.
static THREADS: Mutex<()> = Mutex::new(());

fn threads_lock() -> std::sync::MutexGuard<'static, ()> {
    THREADS.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------------
// Row 1: `on_full = reject` with a full queue drops an owned item twice.
// ---------------------------------------------------------------------------------

#[test]
fn row1_reject_on_a_full_queue_drops_each_owned_item_once() {
    for round in 0..20 {
        let ledger = Ledger::leak(200);
        let items = ledger.vec(200);
        let result = watchdog(
            HANG,
            || format!("row 1, round {round}"),
            move || -> Result<(), Fail> {
                par_bounded!(backend = pool, limit = 1, queue = 1, batch = 1, on_full = reject; for t in items {
                    thread::sleep(Duration::from_micros(100));
                    let _keep = t;
                });
                Ok(())
            },
        );
        // One lane, one slot, 200 slow items: the queue fills.
        assert_eq!(result, Err(Fail::Rejected), "round {round}");
        ledger.assert_once(&format!("row 1 (pool, on_full = reject), round {round}"));
    }
}

// ---------------------------------------------------------------------------------
// Row 2: a loop on a pool that was shut down runs on the caller; an error from `?`
// then drops the failing batch's items a second time.
// ---------------------------------------------------------------------------------

static ROW2_CLOSED: LazyLock<Pool> =
    LazyLock::new(|| Pool::builder().name("r2").workers(1).build().unwrap());

#[test]
fn row2_a_shut_down_pool_with_an_error_drops_each_owned_item_once() {
    ROW2_CLOSED.shutdown(Shutdown::Drain);
    for fail_at in [0usize, 10, 57, 99] {
        let ledger = Ledger::leak(100);
        let items = ledger.vec(100);
        let result = watchdog(
            HANG,
            || format!("row 2, failing item {fail_at}"),
            move || -> Result<(), Fail> {
                par_bounded!(pool = ROW2_CLOSED, limit = 2, batch = 4; for t in items {
                    if t.id == fail_at {
                        Err(Fail::Item(t.id))?;
                    }
                    let _keep = t;
                });
                Ok(())
            },
        );
        assert_eq!(result, Err(Fail::Item(fail_at)));
        ledger.assert_once(&format!("row 2 (pool shut down, `?` at item {fail_at})"));
    }
}

// ---------------------------------------------------------------------------------
// Row 3: a pool built with `on_full(CallerRuns)`, one worker and no queue: the second
// lane is run by the dispatcher itself, which then waits for batches it never sends.
// ---------------------------------------------------------------------------------

static ROW3_CALLER_RUNS: LazyLock<Pool> = LazyLock::new(|| {
    Pool::builder()
        .name("r3")
        .workers(1)
        .queue(0)
        .on_full(OnFull::CallerRuns)
        .build()
        .unwrap()
});

#[test]
fn row3_a_caller_runs_pool_with_one_worker_and_no_queue_finishes() {
    let total = watchdog(
        HANG,
        || format!("row 3: loop on {:?}", ROW3_CALLER_RUNS.stats()),
        || {
            let items: Vec<u64> = (0..40).collect();
            let mut total = 0u64;
            par_bounded!(pool = ROW3_CALLER_RUNS, limit = 2, batch = 1, reduce(total: +); for x in &items {
                total += x;
            });
            total
        },
    );
    assert_eq!(total, (0..40).sum::<u64>());
}

// ---------------------------------------------------------------------------------
// Row 3b: nested loops on one named pool, innermost on rayon: an intermittent hang.
// ---------------------------------------------------------------------------------

static ROW3B_NESTED: LazyLock<Pool> = LazyLock::new(|| {
    Pool::builder()
        .name("r3b")
        .workers(1..=6)
        .queue(4)
        .build()
        .unwrap()
});

#[test]
fn row3b_nested_loops_on_one_named_pool_never_hang() {
    common::wide_pool();
    let runs = Arc::new(AtomicUsize::new(0));
    let seen = runs.clone();
    watchdog(
        HANG,
        move || {
            format!(
                "row 3b: run {} of 300 of the nested loops hung; pool {:?}",
                seen.load(SeqCst),
                ROW3B_NESTED.stats()
            )
        },
        move || {
            for _ in 0..300 {
                let sum = AtomicU64::new(0);
                let outer: Vec<u64> = (0..6).collect();
                par_bounded!(pool = ROW3B_NESTED, limit = 2, batch = 1; for a in &outer {
                    let inner: Vec<u64> = (0..5).collect();
                    par_bounded!(pool = ROW3B_NESTED, limit = 3, batch = 1; for b in &inner {
                        let mut part = 0u64;
                        par_bounded!(limit = 2, batch = 4, reduce(part: +); for c in 0..16u64 {
                            part += a * 100 + b * 10 + c;
                        });
                        sum.fetch_add(part, SeqCst);
                    });
                });
                let want: u64 = (0..6u64)
                    .flat_map(|a| {
                        (0..5u64).flat_map(move |b| (0..16u64).map(move |c| a * 100 + b * 10 + c))
                    })
                    .sum();
                assert_eq!(sum.load(SeqCst), want);
                runs.fetch_add(1, SeqCst);
            }
        },
    );
}

// ---------------------------------------------------------------------------------
// Row 4: `on_full = caller_runs` runs `limit + 1` bodies at once.
// ---------------------------------------------------------------------------------

#[test]
fn row4_caller_runs_never_exceeds_the_limit() {
    for limit in [1usize, 2, 3] {
        let probe = Arc::new(Probe::default());
        let p = probe.clone();
        watchdog(
            HANG,
            || format!("row 4, limit {limit}"),
            move || {
                let items: Vec<u32> = (0..120).collect();
                par_bounded!(backend = pool, limit = limit, queue = 0, batch = 1, on_full = caller_runs; for _x in &items {
                    let _in = p.enter();
                    thread::sleep(Duration::from_micros(300));
                });
            },
        );
        assert!(
            probe.peak() <= limit,
            "row 4: {} bodies ran at once under on_full = caller_runs, limit {limit}",
            probe.peak()
        );
    }
}

// ---------------------------------------------------------------------------------
// Row 5: an async loop's future dropped half-way leaks the owned items no lane took.
// ---------------------------------------------------------------------------------

#[test]
fn row5_an_async_loop_dropped_half_way_drops_every_owned_item() {
    // Polled by hand a few times, then dropped.
    for polls in [1usize, 3, 10] {
        let ledger = Ledger::leak(100);
        let items = ledger.vec(100);
        let started = AtomicUsize::new(0);
        let fut = async {
            par_bounded!(limit = 2, batch = 1; for t in items {
                started.fetch_add(1, SeqCst);
                Yields(3).await;
                let _keep = t;
            });
        };
        let finished = poll_then_drop(fut, polls);
        assert!(!finished, "the loop finished within {polls} polls");
        assert!(started.load(SeqCst) < 100);
        ledger.assert_once(&format!(
            "row 5 (async loop over an owned Vec, dropped after {polls} polls)"
        ));
    }
    // Under a timeout that fires while the loop is running.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let ledger = Ledger::leak(200);
    let items = ledger.vec(200);
    let timed_out = rt.block_on(async {
        let run = async {
            par_bounded!(limit = 4, batch = 2; for t in items {
                tokio::time::sleep(Duration::from_millis(2)).await;
                let _keep = t;
            });
        };
        tokio::time::timeout(Duration::from_millis(20), run)
            .await
            .is_err()
    });
    assert!(timed_out, "200 items of 2 ms at 4 at once took under 20 ms");
    ledger.assert_once("row 5 (async loop over an owned Vec under tokio::time::timeout)");
}

// ---------------------------------------------------------------------------------
// Row 6: `keep_going` with `key`: the error must be the first failing item's in input
// order, not that of the batch whose first item comes first.
// ---------------------------------------------------------------------------------

#[test]
fn row6_keyed_keep_going_returns_the_first_failing_item_in_input_order() {
    // 65 items, `key = id % 4`, two failing items. Each key's lane buffers a batch
    // before sending it, so a batch's first item can come long before the item of it
    // that failed; which lane a key lands on depends on its hash and the lane count,
    // hence several shapes (the first is the one of the report: items 1 and 40).
    let shapes = [
        (8usize, 16usize, 1usize, 40usize),
        (4, 64, 1, 40),
        (4, 64, 3, 40),
        (2, 64, 2, 33),
        (3, 64, 3, 40),
    ];
    for (limit, batch, first, second) in shapes {
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let result = watchdog(
            HANG,
            move || format!("row 6, limit {limit}, batch {batch}"),
            move || -> Result<(), Fail> {
                let ids: Vec<usize> = (0..65).collect();
                par_bounded!(backend = pool, limit = limit, batch = batch, key = *id % 4, keep_going; for id in &ids {
                    r.fetch_add(1, SeqCst);
                    if *id == first || *id == second {
                        Err(Fail::Item(*id))?;
                    }
                });
                Ok(())
            },
        );
        assert_eq!(ran.load(SeqCst), 65, "keep_going ran every item");
        assert_eq!(
            result,
            Err(Fail::Item(first)),
            "row 6: items {first} and {second} failed; the first in input order is {first} \
             (key = id % 4, limit {limit}, batch {batch})"
        );
    }
}

// ---------------------------------------------------------------------------------
// Row 7: `shutdown(Drain)` returns while a worker thread is still alive.
// ---------------------------------------------------------------------------------

thread_local! {
    /// Set on a pool worker by its first job; dropped when the thread exits.
    static EXIT_MARK: RefCell<Option<ExitMark>> = const { RefCell::new(None) };
}

/// Counts worker threads that have fully exited. Its drop runs among the thread's last
/// acts and takes a moment, so a shutdown that does not wait for the thread shows.
struct ExitMark(Arc<AtomicUsize>);

impl Drop for ExitMark {
    fn drop(&mut self) {
        thread::sleep(Duration::from_millis(2));
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn row7_drain_shutdown_while_four_threads_submit_waits_for_every_worker() {
    let _serial = threads_lock();
    // The race is narrow (a worker started by a submitter just before the shutdown):
    // thousands of short rounds, bounded in time.
    let until = std::time::Instant::now() + Duration::from_secs(12);
    let mut rounds = 0;
    while rounds < 3000 && std::time::Instant::now() < until {
        let round = rounds;
        rounds += 1;
        let started = Arc::new(AtomicUsize::new(0));
        let exited = Arc::new(AtomicUsize::new(0));
        let pool = Pool::builder()
            .name(format!("r7-{round}"))
            .workers(1..=16)
            .queue(4)
            .idle_timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let go = Arc::new(AtomicBool::new(false));
        let submitters: Vec<_> = (0..4)
            .map(|_| {
                let (pool, started, exited, go) =
                    (pool.clone(), started.clone(), exited.clone(), go.clone());
                thread::spawn(move || {
                    while !go.load(SeqCst) {
                        std::hint::spin_loop();
                    }
                    loop {
                        let (started, exited) = (started.clone(), exited.clone());
                        let job = move || {
                            EXIT_MARK.with(|m| {
                                let mut m = m.borrow_mut();
                                if m.is_none() {
                                    started.fetch_add(1, SeqCst);
                                    *m = Some(ExitMark(exited));
                                }
                            });
                        };
                        if pool.execute(job).is_err() {
                            break;
                        }
                    }
                })
            })
            .collect();
        go.store(true, SeqCst);
        thread::sleep(Duration::from_micros(25 * (round as u64 % 8)));
        let stats = pool.shutdown(Shutdown::Drain);
        let (s, e) = (started.load(SeqCst), exited.load(SeqCst));
        for t in submitters {
            t.join().unwrap();
        }
        assert_eq!(
            e,
            s,
            "row 7, round {round}: shutdown(Drain) returned while {} of the {s} worker \
             threads had not exited; {stats:?}",
            s - e
        );
        assert_eq!(stats.workers, 0, "row 7, round {round}: {stats:?}");
        assert_eq!(
            stats.submitted,
            stats.accounted(),
            "row 7, round {round}: {stats:?}"
        );
    }
}

/// Per-worker state whose drop takes a while and says when it is done.
struct SlowState(Arc<AtomicBool>);

impl Drop for SlowState {
    fn drop(&mut self) {
        thread::sleep(Duration::from_millis(300));
        self.0.store(true, SeqCst);
    }
}

#[test]
fn row7_drain_shutdown_waits_for_a_worker_that_is_retiring() {
    // A worker that retires after its idle timeout is no longer counted, but its thread
    // still runs (here: it drops its per-worker state). A shutdown in that moment must
    // still wait for it: no thread outlives its pool.
    let _serial = threads_lock();
    let dropped = Arc::new(AtomicBool::new(false));
    let d = dropped.clone();
    let pool = Pool::builder()
        .name("r7r")
        .workers(0..=1)
        .idle_timeout(Duration::from_millis(20))
        .state(move || SlowState(d.clone()))
        .build()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    pool.execute_with(move |_: &mut SlowState| tx.send(()).unwrap())
        .unwrap();
    rx.recv().unwrap();
    // Wait until the worker has retired (it leaves the count before it drops its state).
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while pool.stats().workers > 0 && std::time::Instant::now() < until {
        thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(pool.stats().workers, 0, "the idle worker never retired");
    let stats = pool.shutdown(Shutdown::Drain);
    let alive = threads_named("r7r-");
    assert!(
        dropped.load(SeqCst) && alive == 0,
        "row 7: shutdown(Drain) returned while a retiring worker was still running \
         (state dropped: {}, threads named r7r-*: {alive}); {stats:?}",
        dropped.load(SeqCst)
    );
}

// ---------------------------------------------------------------------------------
// Row 8: an async loop with a timeout whose items all started before the deadline and
// all completed must return `Ok`, as rayon and pool do.
// ---------------------------------------------------------------------------------

#[test]
fn row8_a_timeout_after_every_item_finished_is_not_an_error() {
    let items: Vec<usize> = (0..4).collect();
    // The other backends, for reference: every item ran, so the loop succeeded.
    for backend in ["rayon", "pool"] {
        let finished = AtomicUsize::new(0);
        let run = || -> Result<(), Fail> {
            if backend == "rayon" {
                par_bounded!(limit = 4, batch = 1, timeout = 100ms; for _i in &items {
                    thread::sleep(Duration::from_millis(300));
                    finished.fetch_add(1, SeqCst);
                });
            } else {
                par_bounded!(backend = pool, limit = 4, batch = 1, timeout = 100ms; for _i in &items {
                    thread::sleep(Duration::from_millis(300));
                    finished.fetch_add(1, SeqCst);
                });
            }
            Ok(())
        };
        let result = run();
        if finished.load(SeqCst) == 4 {
            assert_eq!(result, Ok(()), "row 8 reference: {backend}");
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    for round in 0..3 {
        let finished = AtomicUsize::new(0);
        let result: Result<(), Fail> = rt.block_on(async {
            par_bounded!(limit = 4, batch = 1, timeout = 100ms; for _i in &items {
                tokio::time::sleep(Duration::from_millis(300)).await;
                finished.fetch_add(1, SeqCst);
            });
            Ok(())
        });
        // All four started at once (four lanes, four items) and all four completed:
        // nothing was left to dispatch when the deadline passed.
        assert_eq!(finished.load(SeqCst), 4, "round {round}");
        assert_eq!(
            result,
            Ok(()),
            "row 8, round {round}: every item finished, yet the async loop failed"
        );
    }
}

// ---------------------------------------------------------------------------------
// Run-time misuse.
// ---------------------------------------------------------------------------------

/// Runs one loop over `$input` on each of serial, rayon, pool and async (under
/// `futures::executor::block_on`), with the options given; each gets a fresh ledger
/// bound to `$ledger`. Returns (backend, outcome, ledger, items that ran).
macro_rules! each_backend {
    ($ledger:ident => $input:expr; $($opt:tt)*) => {{
        let mut out: Vec<(&'static str, std::thread::Result<Result<(), Fail>>, &'static Ledger, usize)> =
            Vec::new();
        {
            let $ledger = Ledger::leak(64);
            let ran = AtomicUsize::new(0);
            let r = catch_unwind(AssertUnwindSafe(|| -> Result<(), Fail> {
                par_bounded!(backend = serial, $($opt)*; for t in $input {
                    ran.fetch_add(1, SeqCst);
                    let _keep = t;
                });
                Ok(())
            }));
            out.push(("serial", r, $ledger, ran.load(SeqCst)));
        }
        {
            let $ledger = Ledger::leak(64);
            let ran = AtomicUsize::new(0);
            let r = catch_unwind(AssertUnwindSafe(|| -> Result<(), Fail> {
                par_bounded!($($opt)*; for t in $input {
                    ran.fetch_add(1, SeqCst);
                    let _keep = t;
                });
                Ok(())
            }));
            out.push(("rayon", r, $ledger, ran.load(SeqCst)));
        }
        {
            let $ledger = Ledger::leak(64);
            let ran = AtomicUsize::new(0);
            let r = catch_unwind(AssertUnwindSafe(|| -> Result<(), Fail> {
                par_bounded!(backend = pool, $($opt)*; for t in $input {
                    ran.fetch_add(1, SeqCst);
                    let _keep = t;
                });
                Ok(())
            }));
            out.push(("pool", r, $ledger, ran.load(SeqCst)));
        }
        {
            let $ledger = Ledger::leak(64);
            let ran = AtomicUsize::new(0);
            let r = catch_unwind(AssertUnwindSafe(|| -> Result<(), Fail> {
                futures::executor::block_on(async {
                    par_bounded!($($opt)*; for t in $input {
                        Yields(1).await;
                        ran.fetch_add(1, SeqCst);
                        let _keep = t;
                    });
                    Ok(())
                })
            }));
            out.push(("async", r, $ledger, ran.load(SeqCst)));
        }
        out
    }};
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    kit::payload_text(p)
}

#[test]
fn misuse_a_zero_limit_at_run_time_panics_naming_the_option() {
    let l = std::hint::black_box(0usize);
    let outcomes = each_backend!(ledger => ledger.vec(50); limit = l, batch = 4);
    expect_misuse_panic(outcomes, "limit");
}

/// Every backend panicked naming `option` and the loop's file, ran no item, and
/// dropped every owned item once; all failures are reported together.
#[allow(clippy::type_complexity)]
fn expect_misuse_panic(
    outcomes: Vec<(
        &'static str,
        std::thread::Result<Result<(), Fail>>,
        &'static Ledger,
        usize,
    )>,
    option: &str,
) {
    let mut wrong = Vec::new();
    for (backend, outcome, ledger, ran) in outcomes {
        match outcome {
            Err(p) => {
                let msg = panic_message(&*p);
                if !(msg.contains(&format!("`{option}`")) && msg.contains("faults.rs")) {
                    wrong.push(format!(
                        "{backend}: the message names neither `{option}` nor the loop: {msg}"
                    ));
                }
            }
            Ok(r) => wrong.push(format!(
                "{backend}: `{option} = 0` at run time did not panic ({r:?})"
            )),
        }
        if ran != 0 {
            wrong.push(format!("{backend}: {ran} items ran"));
        }
        if let Err(e) = ledger.check() {
            wrong.push(format!("{backend}, {option} = 0: {e}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn misuse_a_zero_batch_at_run_time_panics_naming_the_option() {
    let b = std::hint::black_box(0usize);
    // `timeout` makes the serial backend use batches too.
    let outcomes = each_backend!(ledger => ledger.vec(50); limit = 2, batch = b, timeout = 10s);
    expect_misuse_panic(outcomes, "batch");
}

#[test]
fn misuse_a_cancelled_token_reused_fails_the_next_loop_before_any_item() {
    // The reference chapter: the token is checked before each batch is claimed, and a
    // cancelled token stays cancelled, so a later loop on it claims nothing and fails
    // with `Cancelled`.
    let token = CancelToken::new();
    let first: Result<(), Fail> = (|| {
        let items: Vec<u32> = (0..100).collect();
        par_bounded!(limit = 2, batch = 1, cancel = token; for x in &items {
            if *x == 10 {
                token.cancel();
            }
        });
        Ok(())
    })();
    assert_eq!(first, Err(Fail::Cancelled));
    let outcomes = each_backend!(ledger => ledger.vec(50); limit = 2, batch = 4, cancel = token);
    expect_stopped(outcomes, Err(Fail::Cancelled), "a reused cancelled token");
}

/// Every backend returned `want`, ran no item, and dropped every owned item once.
#[allow(clippy::type_complexity)]
fn expect_stopped(
    outcomes: Vec<(
        &'static str,
        std::thread::Result<Result<(), Fail>>,
        &'static Ledger,
        usize,
    )>,
    want: Result<(), Fail>,
    what: &str,
) {
    let mut wrong = Vec::new();
    for (backend, outcome, ledger, ran) in outcomes {
        match outcome {
            Err(p) => wrong.push(format!("{backend}: panicked: {}", panic_message(&*p))),
            Ok(r) if r != want => wrong.push(format!("{backend}: {r:?}, expected {want:?}")),
            Ok(_) => {}
        }
        if ran != 0 {
            wrong.push(format!("{backend}: {ran} items ran"));
        }
        if let Err(e) = ledger.check() {
            wrong.push(format!("{backend}: {e}"));
        }
    }
    assert!(wrong.is_empty(), "{what}:\n{}", wrong.join("\n"));
}

#[test]
fn misuse_a_zero_timeout_runs_no_item() {
    let zero = Duration::ZERO;
    let outcomes = each_backend!(ledger => ledger.vec(50); limit = 2, batch = 4, timeout = zero);
    expect_stopped(outcomes, Err(Fail::Cancelled), "timeout = 0");
    // Nothing to dispatch: nothing was stopped, so the loop succeeds (as a loop whose
    // items all finished before the deadline does).
    let outcomes = each_backend!(ledger => ledger.vec(0); limit = 2, batch = 4, timeout = zero);
    expect_stopped(outcomes, Ok(()), "an empty input with timeout = 0");
}

static MISUSE_CLOSED: LazyLock<Pool> =
    LazyLock::new(|| Pool::builder().name("mclosed").workers(2).build().unwrap());

#[test]
fn misuse_a_pool_used_after_shutdown_refuses_jobs_and_loops_run_on_the_caller() {
    let first = MISUSE_CLOSED.shutdown(Shutdown::Drain);
    assert_eq!(first.workers, 0);
    // Shutting down twice is harmless.
    MISUSE_CLOSED.shutdown(Shutdown::Abort);
    assert_eq!(MISUSE_CLOSED.execute(|| ()), Err(Rejected));
    assert_eq!(MISUSE_CLOSED.try_execute(|| ()), Err(Rejected));
    let in_scope = MISUSE_CLOSED.scope(|s| s.execute(|| ()));
    assert_eq!(in_scope, Err(Rejected));
    // A loop on it still runs every item, on the calling thread, each dropped once.
    let me = thread::current().id();
    let ledger = Ledger::leak(300);
    let items = ledger.vec(300);
    let mut total = 0usize;
    let elsewhere = AtomicUsize::new(0);
    par_bounded!(pool = MISUSE_CLOSED, limit = 3, batch = 7, reduce(total: +); for t in items {
        if thread::current().id() != me {
            elsewhere.fetch_add(1, SeqCst);
        }
        total += t.id;
        let _keep = t;
    });
    assert_eq!(total, (0..300).sum::<usize>());
    assert_eq!(elsewhere.load(SeqCst), 0, "a closed pool ran items");
    ledger.assert_once("a loop on a pool after shutdown");
    let stats = MISUSE_CLOSED.stats();
    assert_eq!(stats.submitted, stats.accounted(), "{stats:?}");
    assert_eq!(threads_named("mclosed"), 0, "{stats:?}");
}
