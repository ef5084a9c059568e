//! Loops whose body awaits: bounded futures, executor-agnostic, with the core semantics.
//! Includes the two regressions of the usual tools: in-flight futures that stop
//! refilling (futures-rs #2937) and the "futurelock" of a body awaiting a lock held by
//! another body (futures-rs #2387).

use bounded::{bounded, par_bounded, CancelToken, Cancelled};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Duration;

/// An executor-agnostic pause: pending for `n` polls, waking itself each time.
struct Yields(u32);

impl Future for Yields {
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

#[derive(Default)]
struct Gauge {
    running: AtomicUsize,
    peak: AtomicUsize,
    /// The in-flight count each body saw when it started.
    seen: Mutex<Vec<usize>>,
}

impl Gauge {
    fn enter(&self) {
        let now = self.running.fetch_add(1, SeqCst) + 1;
        self.peak.fetch_max(now, SeqCst);
        self.seen.lock().unwrap().push(now);
    }
    fn leave(&self) {
        self.running.fetch_sub(1, SeqCst);
    }
}

async fn double(gauge: &Gauge, x: u64) -> u64 {
    gauge.enter();
    Yields((x % 7) as u32 + 1).await;
    gauge.leave();
    x * 2
}

#[bounded(limit = 4, reduce(total: +))]
async fn sum_doubled(xs: &[u64], gauge: &Gauge) -> u64 {
    let mut total = 0;
    for x in xs {
        total += double(gauge, *x).await;
    }
    total
}

#[test]
fn the_bound_is_held_and_reached_under_every_executor() {
    let xs: Vec<u64> = (0..500).collect();
    let expected: u64 = xs.iter().map(|x| x * 2).sum();
    let check = |name: &str, total: u64, gauge: Gauge| {
        assert_eq!(total, expected, "{name}");
        assert_eq!(gauge.peak.load(SeqCst), 4, "{name}");
    };
    let gauge = Gauge::default();
    let total = futures::executor::block_on(sum_doubled(&xs, &gauge));
    check("futures::executor", total, gauge);
    let gauge = Gauge::default();
    let total = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(sum_doubled(&xs, &gauge));
    check("tokio current-thread", total, gauge);
    let gauge = Gauge::default();
    let total = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
        .block_on(sum_doubled(&xs, &gauge));
    check("tokio multi-thread", total, gauge);
}

#[test]
fn in_flight_futures_refill_to_the_limit_while_work_remains() {
    // Items finish at very different speeds; every body that starts while at least
    // `limit` items remain must find the others still in flight (futures-rs #2937).
    let gauge = Gauge::default();
    let xs: Vec<u64> = (0..400).collect();
    futures::executor::block_on(async {
        par_bounded!(limit = 8, batch = 1; for x in &xs {
            gauge.enter();
            Yields(((x * 37) % 23) as u32 + 1).await;
            gauge.leave();
        });
    });
    let seen = gauge.seen.into_inner().unwrap();
    assert_eq!(seen.len(), 400);
    // The first seven starts ramp up; after that every start sees all eight lanes busy.
    assert!(seen[7..].iter().all(|&n| n == 8), "{:?}", &seen[..40]);
}

#[test]
fn bodies_awaiting_a_shared_lock_do_not_wedge_the_loop() {
    // Each body holds an async mutex across an await (futures-rs #2387): every lane
    // must be polled when woken, or the holder never releases.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let lock = tokio::sync::Mutex::new(0u64);
    let sem = tokio::sync::Semaphore::new(2);
    let xs: Vec<u64> = (0..200).collect();
    rt.block_on(async {
        let run = async {
            par_bounded!(limit = 16, batch = 1; for x in &xs {
                let _permit = sem.acquire().await.unwrap();
                let mut guard = lock.lock().await;
                Yields(2).await;
                *guard += x;
            });
        };
        tokio::time::timeout(Duration::from_secs(10), run)
            .await
            .expect("the loop finished");
    });
    assert_eq!(*lock.blocking_lock(), xs.iter().sum::<u64>());
}

#[derive(Debug, PartialEq)]
enum FetchError {
    NotFound(u64),
    Late,
}

impl From<Cancelled> for FetchError {
    fn from(_: Cancelled) -> Self {
        FetchError::Late
    }
}

#[bounded(limit = 3, batch = 2)]
async fn fetch_all(ids: &[u64], started: &AtomicUsize) -> Result<Vec<u64>, FetchError> {
    let mut found = Vec::new();
    let _ = &mut found;
    for id in ids {
        started.fetch_add(1, SeqCst);
        Yields(3).await;
        if *id == 10 {
            Err(FetchError::NotFound(*id))?;
        }
    }
    Ok(found)
}

#[test]
fn question_mark_fails_fast_and_cancels_the_rest() {
    let started = AtomicUsize::new(0);
    let ids: Vec<u64> = (0..10_000).collect();
    let r = futures::executor::block_on(fetch_all(&ids, &started));
    assert_eq!(r, Err(FetchError::NotFound(10)));
    assert!(started.load(SeqCst) < 100, "{}", started.load(SeqCst));
}

#[bounded(limit = 4, keep_going)]
async fn check_every(ids: &[u64], seen: &AtomicUsize) -> Result<(), FetchError> {
    for id in ids {
        seen.fetch_add(1, SeqCst);
        Yields(1).await;
        if id % 50 == 49 {
            Err(FetchError::NotFound(*id))?;
        }
    }
    Ok(())
}

#[test]
fn keep_going_runs_everything_and_reports_the_first_in_input_order() {
    let seen = AtomicUsize::new(0);
    let ids: Vec<u64> = (0..500).collect();
    let r = futures::executor::block_on(check_every(&ids, &seen));
    assert_eq!(r, Err(FetchError::NotFound(49)));
    assert_eq!(seen.load(SeqCst), 500);
}

#[test]
fn reductions_state_and_collect_equal_the_sequential_loop() {
    let xs: Vec<u64> = (1..=3000).collect();
    let made = AtomicUsize::new(0);
    futures::executor::block_on(async {
        let (mut sum, mut max, mut odd) = (0u64, 0u64, Vec::new());
        par_bounded!(limit = 5, batch = 7, reduce(sum: +, max: max, odd: append),
        with(buf = { made.fetch_add(1, SeqCst); String::new() });
        for x in &xs {
            Yields(1).await;
            buf.clear();
            buf.push_str(&x.to_string());
            sum += buf.len() as u64;
            max = max.max(*x);
            if x % 2 == 1 {
                odd.push(*x);
            }
        });
        assert_eq!(
            sum,
            xs.iter().map(|x| x.to_string().len() as u64).sum::<u64>()
        );
        assert_eq!(max, 3000);
        assert_eq!(
            odd,
            xs.iter()
                .copied()
                .filter(|x| x % 2 == 1)
                .collect::<Vec<_>>()
        );
        let tripled: Vec<u64> = par_bounded!(limit = 6; for x in xs.iter() => {
            Yields((x % 3) as u32).await;
            x * 3
        });
        assert_eq!(tripled, xs.iter().map(|x| x * 3).collect::<Vec<_>>());
    });
    assert!(made.load(SeqCst) <= 5);
}

#[test]
fn a_panic_reaches_the_caller() {
    let xs: Vec<u64> = (0..100).collect();
    let caught = std::panic::catch_unwind(|| {
        futures::executor::block_on(async {
            par_bounded!(limit = 4; for x in &xs {
                Yields(1).await;
                if *x == 33 {
                    panic!("item {x}");
                }
            });
        })
    });
    let payload = caught.unwrap_err();
    assert_eq!(payload.downcast_ref::<String>().unwrap(), "item 33");
}

#[test]
fn a_token_or_a_deadline_cancels() {
    let token = CancelToken::new();
    let ran = AtomicUsize::new(0);
    let xs: Vec<u64> = (0..100_000).collect();
    let r: Result<(), FetchError> = futures::executor::block_on(async {
        par_bounded!(limit = 4, batch = 1, cancel = token; for x in &xs {
            Yields(1).await;
            ran.fetch_add(1, SeqCst);
            if *x == 20 {
                token.cancel();
            }
        });
        Ok(())
    });
    assert_eq!(r, Err(FetchError::Late));
    assert!(ran.load(SeqCst) < 1000);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let r: Result<(), FetchError> = rt.block_on(async {
        par_bounded!(limit = 2, batch = 1, timeout = 30ms; for _x in &xs {
            tokio::time::sleep(Duration::from_millis(5)).await;
        });
        Ok(())
    });
    assert_eq!(r, Err(FetchError::Late));
}

#[test]
fn endless_iterators_are_pulled_batch_by_batch() {
    let pulled = AtomicUsize::new(0);
    let r: Result<(), String> = futures::executor::block_on(async {
        par_bounded!(limit = 4, batch = 8; for i in (0u64..).inspect(|_| { pulled.fetch_add(1, SeqCst); }) {
            Yields(1).await;
            if i == 1000 {
                Err(format!("stop at {i}"))?;
            }
        });
        Ok(())
    });
    assert_eq!(r.unwrap_err(), "stop at 1000");
    assert!(
        pulled.load(SeqCst) <= 1000 + 4 * 8 + 8,
        "{}",
        pulled.load(SeqCst)
    );
}

/// Counts drops, so owned items are seen dropped exactly once.
struct Tracked<'a>(&'a AtomicUsize);

impl Drop for Tracked<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn owned_items_are_dropped_once_when_the_loop_fails() {
    let drops = AtomicUsize::new(0);
    let items: Vec<Tracked> = (0..300).map(|_| Tracked(&drops)).collect();
    let r: Result<(), String> = futures::executor::block_on(async {
        par_bounded!(limit = 3, batch = 4; for (i, t) in items.into_iter().enumerate() {
            Yields(2).await;
            drop(t);
            if i == 50 {
                Err("fail".to_owned())?;
            }
        });
        Ok(())
    });
    assert!(r.is_err());
    assert_eq!(drops.load(SeqCst), 300);
}

#[test]
fn a_loop_future_is_send_and_runs_on_spawned_tasks() {
    fn assert_send<T: Send>(t: T) -> T {
        t
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let total = rt.block_on(async {
        let xs: Vec<u64> = (0..1000).collect();
        let gauge = std::sync::Arc::new(Gauge::default());
        let task = tokio::spawn(assert_send(async move { sum_doubled(&xs, &gauge).await }));
        task.await.unwrap()
    });
    assert_eq!(total, (0..1000u64).map(|x| x * 2).sum());
}

#[test]
fn async_weights_share_the_limit() {
    let load = AtomicUsize::new(0);
    let peak = AtomicUsize::new(0);
    let sizes: Vec<usize> = (0..200).map(|i| 1 + i % 3).collect();
    futures::executor::block_on(async {
        par_bounded!(limit = 5, batch = 1, weight = *size; for size in &sizes {
            let now = load.fetch_add(*size, SeqCst) + *size;
            peak.fetch_max(now, SeqCst);
            Yields(3).await;
            load.fetch_sub(*size, SeqCst);
        });
    });
    assert!(peak.load(SeqCst) <= 5, "{}", peak.load(SeqCst));
    assert!(peak.load(SeqCst) >= 4);
}

#[test]
fn stream_inputs_are_polled_by_the_lanes() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let gauge = Gauge::default();
    let total = rt.block_on(async {
        // A stream whose items arrive over time from another task.
        let (tx, rx) = tokio::sync::mpsc::channel::<u64>(8);
        tokio::spawn(async move {
            for i in 0..300u64 {
                tx.send(i).await.unwrap();
                if i % 50 == 0 {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
        });
        let items =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) });
        let mut total = 0u64;
        par_bounded!(limit = 6, batch = 4, reduce(total: +); for x in items {
            gauge.enter();
            Yields(2).await;
            gauge.leave();
            total += x;
        });
        total
    });
    assert_eq!(total, (0..300u64).sum());
    assert!(gauge.peak.load(SeqCst) <= 6);
    assert!(gauge.peak.load(SeqCst) >= 2);
}

#[test]
fn a_queue_ahead_of_the_lanes_sheds_or_rejects_when_full() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    // A fast stream and slow bodies: with `on_full = drop`, batches that find the queue
    // full are dropped and counted; what ran plus what was dropped is the input.
    let ran = AtomicUsize::new(0);
    rt.block_on(async {
        let samples = futures::stream::iter(0..2_000u64);
        par_bounded!(limit = 2, batch = 1, queue = 4, on_full = drop, name = "async-shed"; for _s in samples {
            tokio::time::sleep(Duration::from_micros(200)).await;
            ran.fetch_add(1, SeqCst);
        });
    });
    let stats = bounded::stats::loops()
        .into_iter()
        .find(|l| l.name == "async-shed")
        .unwrap();
    assert!(stats.dropped > 0, "{stats:?}");
    assert_eq!(ran.load(SeqCst) as u64 + stats.dropped, 2_000);

    // `on_full = block` is backpressure: nothing is lost.
    let ran = AtomicUsize::new(0);
    rt.block_on(async {
        par_bounded!(limit = 2, batch = 3, queue = 1; for _s in futures::stream::iter(0..500u64) {
            Yields(2).await;
            ran.fetch_add(1, SeqCst);
        });
    });
    assert_eq!(ran.load(SeqCst), 500);

    #[derive(Debug, PartialEq)]
    struct Full;
    impl From<bounded::Rejected> for Full {
        fn from(_: bounded::Rejected) -> Self {
            Full
        }
    }
    let r: Result<(), Full> = rt.block_on(async {
        par_bounded!(limit = 1, batch = 1, queue = 1, on_full = reject; for _s in futures::stream::iter(0..1_000u64) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        });
        Ok(())
    });
    assert_eq!(r, Err(Full));
}
