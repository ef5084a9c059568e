//! `rate = N / s` and `burst = B` on every backend, in both macro forms: no window of
//! item starts holds more than `N × window + B`, the achieved rate is close to `N`, the
//! bound of `limit` still holds, and a loop whose lanes wait for tokens stops at once
//! (error, panic, `break`, token, deadline) with every owned item dropped exactly once.
//!
//! Every loop runs under a watchdog, so a lost wake-up fails the test instead of
//! hanging it.

mod common;
#[path = "common/faults.rs"]
mod kit;

use bounded::{bounded, par_bounded, CancelToken, Cancelled, Rate};
use kit::{quiet_booms, Boom, Ledger, Probe, Rng, Tracked, Yields};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

/// A loop that has stopped must not take longer than this to return. The waits it
/// cuts short are a minute long.
const PROMPT: Duration = Duration::from_secs(5);

/// How long a loop may take before it counts as hung.
const HANG: Duration = Duration::from_secs(30);

/// The instants items started at, from before the loop started.
struct Starts {
    origin: Instant,
    at: Mutex<Vec<Duration>>,
}

impl Starts {
    fn new() -> Self {
        Starts {
            origin: Instant::now(),
            at: Mutex::new(Vec::new()),
        }
    }

    fn record(&self) {
        let now = self.origin.elapsed();
        self.at.lock().unwrap().push(now);
    }

    fn sorted(&self) -> Vec<Duration> {
        let mut v = self.at.lock().unwrap().clone();
        v.sort();
        v
    }
}

/// The most starts in any window of length `w` (a sliding window over the sorted
/// starts).
fn most_in_window(starts: &[Duration], w: Duration) -> usize {
    let mut best = 0;
    let mut lo = 0;
    for hi in 0..starts.len() {
        while starts[hi] - starts[lo] >= w {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

/// The rate's guarantees over one run's starts: every window holds at most
/// `per_second × window + burst` starts (plus one: a start is recorded a moment after
/// its token was taken, so a recorded window can reach back that moment), the whole
/// run took at least `(items - burst) / per_second` (strictly), and not much longer
/// (loosely: the machine is shared).
#[track_caller]
fn assert_rate(starts: &[Duration], per_second: f64, burst: usize, context: &str) {
    assert!(!starts.is_empty(), "{context}: nothing started");
    for ms in [2, 10, 50, 100, 250] {
        let w = Duration::from_millis(ms);
        let most = most_in_window(starts, w);
        let allowed = (per_second * w.as_secs_f64()).floor() as usize + burst + 1;
        assert!(
            most <= allowed,
            "{context}: {most} starts in a window of {w:?}, at most {allowed} allowed ({per_second}/s, burst {burst})"
        );
    }
    let n = starts.len();
    let last = starts[n - 1].as_secs_f64();
    let least = n.saturating_sub(burst) as f64 / per_second;
    assert!(
        last >= least,
        "{context}: {n} items started within {last:.3}s, faster than {per_second}/s with a burst of {burst} allows ({least:.3}s)"
    );
    assert!(
        last <= least * 3.0 + 1.0,
        "{context}: {n} items took {last:.3}s to start, far slower than {per_second}/s ({least:.3}s)"
    );
}

// --- The attribute form, one function per backend; `n` and `b` are runtime values.

#[bounded(limit = 4, rate = n / s, burst = b, backend = serial)]
fn serial_loop(xs: Vec<Tracked>, starts: &Starts, n: u32, b: u32) {
    for x in xs {
        starts.record();
        drop(x);
    }
}

#[bounded(limit = 4, rate = n / s, burst = b)]
fn rayon_loop(xs: Vec<Tracked>, starts: &Starts, n: u32, b: u32) {
    for x in xs {
        starts.record();
        drop(x);
    }
}

#[bounded(limit = 4, rate = n / s, burst = b, backend = pool)]
fn pool_loop(xs: Vec<Tracked>, starts: &Starts, n: u32, b: u32) {
    for x in xs {
        starts.record();
        drop(x);
    }
}

#[bounded(limit = 4, rate = n / s, burst = b, backend = pool, key = x.id % 3)]
fn keyed_loop(xs: Vec<Tracked>, starts: &Starts, n: u32, b: u32) {
    for x in xs {
        starts.record();
        drop(x);
    }
}

#[bounded(limit = 4, rate = n / s, burst = b)]
async fn async_loop(xs: Vec<Tracked>, starts: &Starts, n: u32, b: u32) {
    for x in xs {
        starts.record();
        Yields(1).await;
        drop(x);
    }
}

/// One loop over owned items that records its starts.
type Form<'a> = dyn Fn(Vec<Tracked>, &Starts) + 'a;

/// Every backend in the attribute form, then in `par_bounded!`.
fn each_backend(items: usize, n: u32, b: u32, check: impl Fn(&Starts, &str)) {
    let ledger = Ledger::leak(items);
    let forms: [(&str, &Form<'_>); 10] = [
        ("#[bounded] serial", &|xs, st| serial_loop(xs, st, n, b)),
        ("#[bounded] rayon", &|xs, st| rayon_loop(xs, st, n, b)),
        ("#[bounded] pool", &|xs, st| pool_loop(xs, st, n, b)),
        ("#[bounded] keyed pool", &|xs, st| keyed_loop(xs, st, n, b)),
        ("#[bounded] async", &|xs, st| {
            futures::executor::block_on(async_loop(xs, st, n, b))
        }),
        ("par_bounded! serial", &|xs, st| {
            par_bounded!(limit = 4, rate = n / s, burst = b, backend = serial; for x in xs {
                st.record();
                drop(x);
            })
        }),
        ("par_bounded! rayon", &|xs, st| {
            par_bounded!(limit = 4, rate = n / s, burst = b; for x in xs {
                st.record();
                drop(x);
            })
        }),
        ("par_bounded! pool", &|xs, st| {
            par_bounded!(limit = 4, rate = n / s, burst = b, backend = pool; for x in xs {
                st.record();
                drop(x);
            })
        }),
        ("par_bounded! keyed pool", &|xs, st| {
            par_bounded!(limit = 4, rate = n / s, burst = b, backend = pool, key = x.id % 3; for x in xs {
                st.record();
                drop(x);
            })
        }),
        ("par_bounded! async", &|xs, st| {
            futures::executor::block_on(async {
                par_bounded!(limit = 4, rate = n / s, burst = b; for x in xs {
                    st.record();
                    Yields(1).await;
                    drop(x);
                })
            })
        }),
    ];
    for (form, run) in forms {
        ledger.reset();
        let xs = ledger.vec(items);
        let starts = Starts::new();
        watchdog_here(|| run(xs, &starts));
        ledger.assert_once(form);
        check(&starts, form);
    }
}

#[test]
fn no_window_holds_more_than_the_rate_and_the_burst_on_every_backend() {
    common::wide_pool();
    each_backend(60, 200, 5, |starts, form| {
        let starts = starts.sorted();
        assert_eq!(starts.len(), 60, "{form}: every item starts");
        assert_rate(&starts, 200.0, 5, form);
    });
}

#[test]
fn a_burst_is_spent_at_once_and_refills_after_a_pause() {
    common::wide_pool();
    // 20/s with a burst of 8: the first 8 start together; one item then idles the only
    // lane for 0.5 s, the bucket refills, and 8 start together again.
    let starts = Starts::new();
    let pause_done = Mutex::new(None);
    watchdog_here(|| {
        par_bounded!(limit = 1, rate = 20 / s, burst = 8, batch = 1, backend = serial; for i in 0..24usize {
            starts.record();
            if i == 11 {
                thread::sleep(Duration::from_millis(500));
                *pause_done.lock().unwrap() = Some(starts.origin.elapsed());
            }
        })
    });
    let starts = starts.sorted();
    assert_eq!(starts.len(), 24);
    assert_rate(&starts, 20.0, 8, "burst of 8");
    // Without the burst, the first eight would take 7 × 50 ms.
    assert!(
        starts[7] < Duration::from_millis(200),
        "the first burst was not spent at once: the 8th item started at {:?}",
        starts[7]
    );
    let resumed = pause_done.lock().unwrap().expect("the pause ran");
    let after: Vec<_> = starts.iter().filter(|s| **s >= resumed).collect();
    assert_eq!(after.len(), 12);
    assert!(
        *after[7] - *after[0] < Duration::from_millis(200),
        "the bucket did not refill during the pause: 8 starts took {:?}",
        *after[7] - *after[0]
    );
}

/// Runs `f` on this thread while a second thread fails the test if it takes longer
/// than [`HANG`].
fn watchdog_here<T>(f: impl FnOnce() -> T) -> T {
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = done.clone();
    let dog = thread::spawn(move || {
        let until = Instant::now() + HANG;
        while !flag.load(SeqCst) {
            if Instant::now() >= until {
                eprintln!("a rate loop hung for {HANG:?}");
                std::process::abort();
            }
            thread::sleep(Duration::from_millis(20));
        }
    });
    let out = f();
    done.store(true, SeqCst);
    let _ = dog.join();
    out
}

#[test]
fn rate_and_limit_both_hold() {
    common::wide_pool();
    // The limit binds: 1000/s would allow far more than 2 bodies of 10 ms at once.
    let probe = Probe::default();
    let starts = Starts::new();
    watchdog_here(|| {
        par_bounded!(limit = 2, rate = 1000 / s, burst = 4, backend = pool; for _ in 0..40 {
            let _in = probe.enter();
            starts.record();
            thread::sleep(Duration::from_millis(10));
        })
    });
    assert_eq!(probe.peak(), 2, "limit 2 under a rate that does not bind");
    assert_rate(&starts.sorted()[..], 1000.0, 4, "limit binds");
    // The rate binds: 8 lanes of 1 ms bodies would start thousands per second.
    let probe = Probe::default();
    let starts = Starts::new();
    watchdog_here(|| {
        par_bounded!(limit = 8, rate = 5 / ms, backend = pool; for _ in 0..400 {
            let _in = probe.enter();
            starts.record();
            thread::sleep(Duration::from_millis(1));
        })
    });
    assert!(probe.peak() <= 8);
    let starts = starts.sorted();
    assert_rate(&starts, 5000.0, 1, "rate binds, in / ms");
}

#[test]
fn a_runtime_rate_value_and_per_minute() {
    common::wide_pool();
    let rate = Rate::per_second(100);
    let starts = Starts::new();
    watchdog_here(|| {
        par_bounded!(limit = 3, rate = rate, burst = 2; for _ in 0..30 {
            starts.record();
        })
    });
    assert_rate(&starts.sorted(), 100.0, 2, "rate = Rate::per_second(100)");
    // 6000 / min is 100 / s.
    let starts = Starts::new();
    watchdog_here(|| {
        par_bounded!(limit = 3, rate = 6000 / min; for _ in 0..30 {
            starts.record();
        })
    });
    assert_rate(&starts.sorted(), 100.0, 1, "rate = 6000 / min");
}

#[test]
fn async_waits_leave_the_executor_thread_free() {
    // One thread runs both the loop and a ticker: if waiting for a token blocked the
    // thread, the ticker would not advance while the loop waits.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let ticks = AtomicUsize::new(0);
    let starts = Starts::new();
    let done = std::sync::atomic::AtomicBool::new(false);
    watchdog_here(|| {
        rt.block_on(async {
            let run = async {
                par_bounded!(limit = 4, rate = 10 / s; for _ in 0..6 {
                    starts.record();
                    tokio::task::yield_now().await;
                });
                done.store(true, SeqCst);
            };
            let tick = async {
                while !done.load(SeqCst) {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    ticks.fetch_add(1, SeqCst);
                }
            };
            tokio::join!(run, tick);
        })
    });
    assert_rate(
        &starts.sorted(),
        10.0,
        1,
        "async under tokio's current-thread runtime",
    );
    // The loop waited about half a second; the ticker ran throughout.
    assert!(
        ticks.load(SeqCst) >= 10,
        "the executor thread was blocked: {} ticks",
        ticks.load(SeqCst)
    );
}

// --- Stops while lanes wait for tokens. `rate = 1 / min`: after the first item, the
// next token is a minute away, so a loop that sat out its wait would be caught.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Fail {
    Item(usize),
    Cancelled,
}

impl From<Cancelled> for Fail {
    fn from(_: Cancelled) -> Self {
        Fail::Cancelled
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Serial,
    Rayon,
    Pool,
    Keyed,
    Async,
}

const BACKENDS: [Backend; 5] = [
    Backend::Serial,
    Backend::Rayon,
    Backend::Pool,
    Backend::Keyed,
    Backend::Async,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StopBy {
    Error,
    Panic,
    Break,
    Token,
    Deadline,
}

/// Items 1, 2 and 3 start with the burst's other tokens and hold their lanes for
/// 200 ms; the lanes then wait for the next token, a minute away. Item 0 has the first
/// token and acts at 600 ms, while they wait: it fails, panics or breaks (a `break` or
/// an error at item 0 leaves nothing before it to run). The token and the deadline fire
/// at 400 ms.
fn item(x: &Tracked, by: StopBy) -> Result<bool, Fail> {
    thread::sleep(hold(x));
    act(x, by)
}

async fn item_async(x: &Tracked, by: StopBy) -> Result<bool, Fail> {
    tokio::time::sleep(hold(x)).await;
    act(x, by)
}

fn hold(x: &Tracked) -> Duration {
    Duration::from_millis(if x.id == 0 { 600 } else { 200 })
}

fn act(x: &Tracked, by: StopBy) -> Result<bool, Fail> {
    if x.id != 0 {
        return Ok(false);
    }
    match by {
        StopBy::Error => Err(Fail::Item(0)),
        StopBy::Panic => std::panic::panic_any(Boom(0)),
        StopBy::Break => Ok(true),
        StopBy::Token | StopBy::Deadline => Ok(false),
    }
}

/// When the token and the deadline fire.
const FIRES_AT: Duration = Duration::from_millis(400);

/// One loop of `xs` under `rate = 1 / min, burst = 4` (the limit) on `backend`, stopped
/// by `by`; returns the loop's result (a panic as `Err(())`) and how many items started.
fn stopped_loop(
    backend: Backend,
    by: StopBy,
    xs: Vec<Tracked>,
    token: &CancelToken,
) -> (Result<Result<(), Fail>, ()>, usize) {
    let started = AtomicUsize::new(0);
    let timeout = if by == StopBy::Deadline {
        FIRES_AT
    } else {
        Duration::from_secs(3600)
    };
    let result = catch_unwind(AssertUnwindSafe(|| -> Result<(), Fail> {
        match backend {
            Backend::Serial => par_bounded!(limit = 4, rate = 1 / min, burst = 4, backend = serial, batch = 1, timeout = timeout, cancel = token; for x in xs {
                started.fetch_add(1, SeqCst);
                if item(&x, by)? { break; }
            }),
            Backend::Rayon => par_bounded!(limit = 4, rate = 1 / min, burst = 4, batch = 1, timeout = timeout, cancel = token; for x in xs {
                started.fetch_add(1, SeqCst);
                if item(&x, by)? { break; }
            }),
            Backend::Pool => par_bounded!(limit = 4, rate = 1 / min, burst = 4, batch = 1, backend = pool, timeout = timeout, cancel = token; for x in xs {
                started.fetch_add(1, SeqCst);
                if item(&x, by)? { break; }
            }),
            Backend::Keyed => par_bounded!(limit = 4, rate = 1 / min, burst = 4, backend = pool, key = x.id % 4, timeout = timeout, cancel = token; for x in xs {
                started.fetch_add(1, SeqCst);
                if item(&x, by)? { break; }
            }),
            Backend::Async => tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .unwrap()
                .block_on(async {
                    par_bounded!(limit = 4, rate = 1 / min, burst = 4, batch = 1, timeout = timeout, cancel = token; for x in xs {
                        started.fetch_add(1, SeqCst);
                        if item_async(&x, by).await? { break; }
                    });
                    Ok::<(), Fail>(())
                })?,
        }
        Ok(())
    }));
    (result.map_err(|_| ()), started.load(SeqCst))
}

#[test]
fn a_stop_ends_the_wait_for_tokens_at_once_on_every_backend() {
    common::wide_pool();
    quiet_booms();
    let ledger = Ledger::leak(12);
    for backend in BACKENDS {
        for by in [
            StopBy::Error,
            StopBy::Panic,
            StopBy::Break,
            StopBy::Token,
            StopBy::Deadline,
        ] {
            let context = format!("{backend:?}, stopped by {by:?}");
            ledger.reset();
            let xs = ledger.vec(12);
            let token = CancelToken::new();
            let began = Instant::now();
            let (result, started) = watchdog_here(|| {
                thread::scope(|s| {
                    if by == StopBy::Token {
                        let token = token.clone();
                        s.spawn(move || {
                            thread::sleep(FIRES_AT);
                            token.cancel();
                        });
                    }
                    stopped_loop(backend, by, xs, &token)
                })
            });
            let took = began.elapsed();
            ledger.assert_once(&context);
            // No item past the burst started (a serial loop runs item 0 alone, and a
            // pool lane may not have started in time to take its token).
            let most = if backend == Backend::Serial { 1 } else { 4 };
            assert!(
                (1..=most).contains(&started),
                "{context}: {started} items started, the burst is {most}"
            );
            assert!(
                took < PROMPT,
                "{context}: the loop sat out its wait for a token ({took:?})"
            );
            match by {
                StopBy::Error => assert_eq!(result, Ok(Err(Fail::Item(0))), "{context}"),
                StopBy::Panic => assert_eq!(result, Err(()), "{context}"),
                StopBy::Break => assert_eq!(result, Ok(Ok(())), "{context}"),
                StopBy::Token | StopBy::Deadline => {
                    assert_eq!(result, Ok(Err(Fail::Cancelled)), "{context}")
                }
            }
        }
    }
}

#[test]
fn random_stops_under_random_rates_drop_every_item_once() {
    common::wide_pool();
    quiet_booms();
    let seed = std::env::var("SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_u64);
    let mut rng = Rng(seed);
    let ledger = Ledger::leak(64);
    for case in 0..40 {
        let backend = rng.pick(&BACKENDS);
        let items = rng.range(0, 64);
        let burst = rng.range(1, 8) as u32;
        let per_second = rng.pick(&[500u32, 2000, 10_000]);
        let fail_at = rng.chance(60).then(|| rng.below(items.max(1)));
        let panics = rng.chance(30);
        let context = format!(
            "seed {seed}, case {case}: {backend:?}, {items} items, {per_second}/s, burst {burst}, fail at {fail_at:?} (panic: {panics})"
        );
        ledger.reset();
        let xs = ledger.vec(items);
        let ran = Mutex::new(Vec::new());
        let body = |x: &Tracked| -> Result<(), Fail> {
            ran.lock().unwrap().push(x.id);
            if Some(x.id) == fail_at {
                if panics {
                    std::panic::panic_any(Boom(x.id));
                }
                return Err(Fail::Item(x.id));
            }
            Ok(())
        };
        let result = watchdog_here(|| {
            catch_unwind(AssertUnwindSafe(|| -> Result<(), Fail> {
                match backend {
                    Backend::Serial => {
                        par_bounded!(limit = 3, rate = per_second / s, burst = burst, backend = serial; for x in xs { body(&x)?; })
                    }
                    Backend::Rayon => {
                        par_bounded!(limit = 3, rate = per_second / s, burst = burst; for x in xs { body(&x)?; })
                    }
                    Backend::Pool => {
                        par_bounded!(limit = 3, rate = per_second / s, burst = burst, backend = pool; for x in xs { body(&x)?; })
                    }
                    Backend::Keyed => {
                        par_bounded!(limit = 3, rate = per_second / s, burst = burst, backend = pool, key = x.id % 5; for x in xs { body(&x)?; })
                    }
                    Backend::Async => futures::executor::block_on(async {
                        par_bounded!(limit = 3, rate = per_second / s, burst = burst; for x in xs {
                            Yields(1).await;
                            body(&x)?;
                        });
                        Ok::<(), Fail>(())
                    })?,
                }
                Ok(())
            }))
        });
        ledger.assert_once(&context);
        let ran = ran.into_inner().unwrap();
        match fail_at {
            None => {
                assert!(matches!(result, Ok(Ok(()))), "{context}");
                assert_eq!(ran.len(), items, "{context}: every item ran");
            }
            Some(at) if panics => {
                let payload = result.expect_err(&context);
                assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(at)), "{context}");
            }
            Some(at) => {
                assert!(
                    matches!(result, Ok(Err(Fail::Item(i))) if i == at),
                    "{context}"
                );
                assert!(ran.contains(&at), "{context}");
            }
        }
    }
}

#[test]
fn a_zero_rate_or_burst_at_run_time_panics_naming_the_option_at_the_call_site() {
    let ledger = Ledger::leak(8);
    let zero = 0u32;
    type Case<'a> = Box<dyn Fn(Vec<Tracked>) + 'a>;
    let cases: [(&str, Case<'_>); 4] = [
        (
            "`rate`",
            Box::new(|xs| par_bounded!(limit = 2, rate = zero / s; for x in xs { drop(x); })),
        ),
        (
            "`rate`",
            Box::new(
                |xs| par_bounded!(limit = 2, rate = Rate::per_minute(zero); for x in xs { drop(x); }),
            ),
        ),
        (
            "`burst`",
            Box::new(
                |xs| par_bounded!(limit = 2, rate = 10 / s, burst = zero; for x in xs { drop(x); }),
            ),
        ),
        (
            "`rate`",
            Box::new(|xs| {
                futures::executor::block_on(async {
                    par_bounded!(limit = 2, rate = zero / ms; for x in xs { Yields(1).await; drop(x); })
                })
            }),
        ),
    ];
    for (option, run) in cases {
        ledger.reset();
        let xs = ledger.vec(8);
        let payload = catch_unwind(AssertUnwindSafe(|| run(xs))).expect_err("a zero must panic");
        let message = kit::payload_text(&*payload);
        assert!(message.contains(option), "{message}");
        assert!(message.contains("tests/rate.rs"), "{message}");
        ledger.assert_once(option);
    }
}

#[test]
fn a_rate_loop_future_is_send_and_runs_on_a_multi_thread_runtime() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let starts = watchdog_here(|| {
        rt.block_on(async {
            tokio::spawn(async {
                let starts = Starts::new();
                let xs: Vec<u32> = (0..20).collect();
                par_bounded!(limit = 3, rate = 100 / s, burst = 2; for x in &xs {
                    starts.record();
                    tokio::task::yield_now().await;
                    std::hint::black_box(x);
                });
                starts.sorted()
            })
            .await
            .unwrap()
        })
    });
    assert_eq!(starts.len(), 20);
    assert_rate(&starts, 100.0, 2, "a spawned async loop");
}
