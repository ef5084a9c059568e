//! `#[gate]`: the cap holds and is reached for sync and async functions and methods,
//! `on_full = reject` refuses, weights count against the limit without starving large
//! calls, and `coalesce` shares one execution among concurrent equal calls.

use bounded::{gate, Rejected};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Barrier;
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

#[derive(Default)]
struct Gauge {
    running: AtomicUsize,
    peak: AtomicUsize,
}

impl Gauge {
    const fn new() -> Self {
        Gauge {
            running: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    }
    fn add(&self, n: usize) {
        let now = self.running.fetch_add(n, SeqCst) + n;
        self.peak.fetch_max(now, SeqCst);
    }
    fn sub(&self, n: usize) {
        self.running.fetch_sub(n, SeqCst);
    }
    fn peak(&self) -> usize {
        self.peak.load(SeqCst)
    }
}

static SYNC: Gauge = Gauge::new();

#[gate(limit = 2, name = "sync-work")]
fn work(ms: u64) {
    SYNC.add(1);
    thread::sleep(Duration::from_millis(ms));
    SYNC.sub(1);
}

#[test]
fn the_cap_holds_and_is_reached() {
    thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| work(10));
        }
    });
    assert_eq!(SYNC.peak(), 2);
    let stats = bounded::stats::gates()
        .into_iter()
        .find(|g| g.name == "sync-work")
        .unwrap();
    assert_eq!((stats.limit, stats.calls, stats.peak_used), (2, 8, 2));
    assert_eq!((stats.running, stats.waiting), (0, 0));
}

#[derive(Debug, PartialEq)]
enum CallError {
    Busy,
}

impl From<Rejected> for CallError {
    fn from(_: Rejected) -> Self {
        CallError::Busy
    }
}

#[gate(limit = 1, on_full = reject)]
fn exclusive(hold: &Barrier, release: &Barrier) -> Result<u32, CallError> {
    hold.wait();
    release.wait();
    Ok(1)
}

#[test]
fn on_full_reject_refuses_while_the_cap_is_reached() {
    let (hold, release) = (Barrier::new(2), Barrier::new(2));
    thread::scope(|s| {
        let first = s.spawn(|| exclusive(&hold, &release));
        hold.wait();
        // The first call holds the only permit.
        let (h2, r2) = (Barrier::new(1), Barrier::new(1));
        assert_eq!(exclusive(&h2, &r2), Err(CallError::Busy));
        release.wait();
        assert_eq!(first.join().unwrap(), Ok(1));
    });
    let (h, r) = (Barrier::new(1), Barrier::new(1));
    assert_eq!(exclusive(&h, &r), Ok(1));
}

static WEIGHTED: Gauge = Gauge::new();

#[gate(limit = 4, weight = size)]
fn load(size: usize) {
    let w = size.clamp(1, 4);
    WEIGHTED.add(w);
    thread::sleep(Duration::from_millis(3));
    WEIGHTED.sub(w);
}

#[test]
fn weights_count_against_the_limit_and_large_calls_are_not_starved() {
    let stop = std::sync::atomic::AtomicBool::new(false);
    thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                while !stop.load(SeqCst) {
                    load(1);
                }
            });
        }
        thread::sleep(Duration::from_millis(10));
        // Small calls keep arriving; the large one still gets its turn.
        load(4);
        // A weight above the limit runs alone instead of waiting for ever.
        load(9);
        stop.store(true, SeqCst);
    });
    assert!(WEIGHTED.peak() <= 4, "{}", WEIGHTED.peak());
    assert!(WEIGHTED.peak() >= 3);
}

struct Service {
    calls: AtomicUsize,
    inside: Gauge,
}

impl Service {
    #[gate(limit = 1)]
    fn call(&self) -> usize {
        self.inside.add(1);
        thread::sleep(Duration::from_millis(2));
        self.inside.sub(1);
        self.calls.fetch_add(1, SeqCst) + 1
    }
}

#[test]
fn methods_are_gated_too() {
    let svc = Service {
        calls: AtomicUsize::new(0),
        inside: Gauge::new(),
    };
    thread::scope(|s| {
        for _ in 0..6 {
            s.spawn(|| svc.call());
        }
    });
    assert_eq!(svc.calls.load(SeqCst), 6);
    assert_eq!(svc.inside.peak(), 1);
}

static LOOKUPS: AtomicUsize = AtomicUsize::new(0);

/// How many callers the first execution of `lookup` holds its flight open for.
static LOOKUP_WAITERS: AtomicUsize = AtomicUsize::new(0);

/// Calls of the gate `name` that shared another call's execution so far.
fn coalesced(name: &str) -> usize {
    bounded::stats::gates()
        .into_iter()
        .find(|g| g.name == name)
        .map_or(0, |g| g.coalesced as usize)
}

#[gate(coalesce, name = "cold-lookups")]
fn lookup(key: &str) -> String {
    if LOOKUPS.fetch_add(1, SeqCst) == 0 {
        // The first execution returns only once every other caller has joined its
        // flight, however late the scheduler runs their threads: the test proves that
        // concurrent callers share one execution without a guess at how long they
        // take to arrive. The wait is bounded, so a gate that fails to coalesce fails
        // on the execution count instead of hanging.
        let until = Instant::now() + Duration::from_secs(120);
        while coalesced("cold-lookups") < LOOKUP_WAITERS.load(SeqCst) && Instant::now() < until {
            thread::sleep(Duration::from_millis(1));
        }
    }
    key.to_uppercase()
}

#[test]
fn a_thousand_concurrent_cold_calls_run_once() {
    LOOKUP_WAITERS.store(999, SeqCst);
    let barrier = Barrier::new(1000);
    thread::scope(|s| {
        let handles: Vec<_> = (0..1000)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    lookup("user:42")
                })
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), "USER:42");
        }
    });
    assert_eq!(LOOKUPS.load(SeqCst), 1);
    // The next call after completion runs again; other keys are other flights.
    assert_eq!(lookup("user:42"), "USER:42");
    assert_eq!(lookup("user:7"), "USER:7");
    assert_eq!(LOOKUPS.load(SeqCst), 3);
}

static WAVES: AtomicUsize = AtomicUsize::new(0);

#[gate(limit = 2, coalesce, name = "coalesced-waves")]
fn wave(key: u32) -> u32 {
    WAVES.fetch_add(1, SeqCst);
    thread::sleep(Duration::from_millis(50));
    key * 2
}

#[test]
fn gate_stats_count_every_call_and_the_coalesced_ones() {
    let barrier = Barrier::new(300);
    thread::scope(|s| {
        for i in 0..300u32 {
            let barrier = &barrier;
            s.spawn(move || {
                barrier.wait();
                assert_eq!(wave(i % 3), (i % 3) * 2);
            });
        }
    });
    let runs = WAVES.load(SeqCst) as u64;
    let stats = bounded::stats::gates()
        .into_iter()
        .find(|g| g.name == "coalesced-waves")
        .unwrap();
    assert_eq!(stats.calls, 300, "{stats:?}");
    assert_eq!(stats.coalesced, 300 - runs, "{stats:?}");
    assert_eq!(stats.rejected, 0);
    assert!((3..300).contains(&runs), "{runs} executions");
}

static FAILS: AtomicUsize = AtomicUsize::new(0);

#[gate(limit = 4, coalesce)]
fn fetch_or_fail(id: u32) -> Result<u32, String> {
    FAILS.fetch_add(1, SeqCst);
    thread::sleep(Duration::from_millis(100));
    Err(format!("{id} not found"))
}

#[test]
fn an_error_reaches_every_waiter() {
    let barrier = Barrier::new(20);
    thread::scope(|s| {
        let handles: Vec<_> = (0..20)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    fetch_or_fail(5)
                })
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), Err("5 not found".to_owned()));
        }
    });
    assert_eq!(FAILS.load(SeqCst), 1);
}

#[gate(coalesce)]
fn explode(id: u32) -> u32 {
    thread::sleep(Duration::from_millis(100));
    panic!("boom {id}");
}

#[test]
fn a_panic_reaches_every_waiter() {
    let barrier = Barrier::new(8);
    let messages: Vec<String> = thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    explode(3)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                let payload = h.join().unwrap_err();
                payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap()
            })
            .collect()
    });
    assert_eq!(messages.len(), 8);
    assert!(
        messages.iter().all(|m| m.contains("boom 3")),
        "{messages:?}"
    );
}

/// An executor-agnostic pause: pending for `n` polls, waking itself each time.
struct Yields(u32);

impl std::future::Future for Yields {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 == 0 {
            return Poll::Ready(());
        }
        self.0 -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

static ASYNC_GAUGE: Gauge = Gauge::new();

#[gate(limit = 3)]
async fn fetch(i: u32) -> u32 {
    ASYNC_GAUGE.add(1);
    Yields(20).await;
    ASYNC_GAUGE.sub(1);
    i * 2
}

async fn fan_out() -> Vec<u32> {
    futures::future::join_all((0..30).map(fetch)).await
}

#[test]
fn async_calls_are_capped_under_every_executor() {
    let expected: Vec<u32> = (0..30).map(|i| i * 2).collect();
    assert_eq!(futures::executor::block_on(fan_out()), expected);
    let current = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(current.block_on(fan_out()), expected);
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let spawned = multi.block_on(async {
        let tasks: Vec<_> = (0..30).map(|i| tokio::spawn(fetch(i))).collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    assert_eq!(spawned, expected);
    assert_eq!(ASYNC_GAUGE.peak(), 3);
}

static ASYNC_LOOKUPS: AtomicUsize = AtomicUsize::new(0);

#[gate(coalesce)]
async fn resolve(name: String) -> Vec<u8> {
    ASYNC_LOOKUPS.fetch_add(1, SeqCst);
    tokio::time::sleep(Duration::from_millis(50)).await;
    name.into_bytes()
}

#[test]
fn a_thousand_concurrent_async_calls_run_once() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let results = rt.block_on(futures::future::join_all(
        (0..1000).map(|_| resolve("db.internal".to_owned())),
    ));
    assert!(results.iter().all(|r| r == b"db.internal"));
    assert_eq!(ASYNC_LOOKUPS.load(SeqCst), 1);
}

#[test]
fn a_dropped_async_waiter_gives_up_its_place() {
    // A call cancelled while waiting for a permit must not block the ones behind it.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let start = Instant::now();
        let slow = fetch(1);
        let cancelled = tokio::time::timeout(Duration::from_millis(1), async {
            futures::future::join_all((0..10).map(fetch)).await
        });
        let _ = cancelled.await;
        assert_eq!(slow.await, 2);
        assert!(start.elapsed() < Duration::from_secs(5));
    });
}
