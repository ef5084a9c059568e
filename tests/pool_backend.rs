//! `backend = pool`: the bound, the queue and its policies, deadlines and tokens, and
//! the core semantics (`?`, panics, reductions, `with`, collect) on a long-lived pool.

use bounded::pool::Shutdown;
use bounded::{bounded, par_bounded, CancelToken, Cancelled, Pool, Rejected};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{LazyLock, Mutex};
use std::thread;
use std::time::Duration;

/// Counts bodies running at once.
#[derive(Default)]
struct Gauge {
    running: AtomicUsize,
    peak: AtomicUsize,
}

impl Gauge {
    fn enter(&self) -> impl Drop + '_ {
        let now = self.running.fetch_add(1, SeqCst) + 1;
        self.peak.fetch_max(now, SeqCst);
        struct Leave<'a>(&'a AtomicUsize);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, SeqCst);
            }
        }
        Leave(&self.running)
    }

    fn peak(&self) -> usize {
        self.peak.load(SeqCst)
    }
}

fn thread_name() -> String {
    thread::current().name().unwrap_or("").to_owned()
}

#[test]
fn the_bound_holds_and_is_reached_on_the_shared_pool() {
    for limit in [1usize, 3, 8] {
        let gauge = Gauge::default();
        let names = Mutex::new(HashSet::new());
        // 32 ms on `limit` lanes: a lane whose thread the OS starts (or wakes) a few
        // milliseconds late on a busy machine still overlaps the others.
        let items: Vec<u32> = (0..limit as u32 * 16).collect();
        par_bounded!(backend = pool, limit = limit, batch = 1; for _x in &items {
            let _g = gauge.enter();
            names.lock().unwrap().insert(thread_name());
            thread::sleep(Duration::from_millis(2));
        });
        assert!(
            gauge.peak() <= limit,
            "peak {} > limit {limit}",
            gauge.peak()
        );
        // Sleeping bodies on a pool that grows on demand: the bound is reached.
        assert_eq!(gauge.peak(), limit, "limit {limit} not reached");
        let names = names.into_inner().unwrap();
        assert!(
            names.iter().all(|n| n.starts_with("bounded-io")),
            "{names:?}"
        );
    }
}

static UPLOADS: LazyLock<Pool> =
    LazyLock::new(|| Pool::builder().name("uploads").workers(4).build().unwrap());

#[bounded(pool = UPLOADS, limit = 2, reduce(sent: +))]
fn upload_all(files: &[String]) -> usize {
    let mut sent = 0;
    for f in files {
        assert!(thread_name().starts_with("uploads-"), "{}", thread_name());
        sent += f.len();
    }
    sent
}

#[test]
fn a_named_pool_runs_the_loop_and_is_reused() {
    let files: Vec<String> = (0..500).map(|i| format!("file-{i}")).collect();
    let expected: usize = files.iter().map(|f| f.len()).sum();
    for _ in 0..3 {
        assert_eq!(upload_all(&files), expected);
    }
    let stats = UPLOADS.stats();
    assert!(stats.peak_workers <= 4);
    assert!(stats.completed >= 3, "{stats:?}");
}

#[test]
fn an_endless_input_is_held_to_queue_times_batch_items() {
    let (pulled, done, high) = (
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    );
    let (limit, queue, batch) = (4usize, 8usize, 16usize);
    let total = 2_000_000usize;
    let endless = (0usize..).inspect(|_| {
        let p = pulled.fetch_add(1, SeqCst) + 1;
        high.fetch_max(p - done.load(SeqCst), SeqCst);
    });
    let result: Result<(), String> = (|| {
        par_bounded!(backend = pool, limit = limit, queue = queue, batch = batch; for i in endless {
            if i >= total {
                Err(format!("stop at {i}"))?;
            }
            done.fetch_add(1, SeqCst);
        });
        Ok(())
    })();
    assert!(result.unwrap_err().starts_with("stop at"));
    // Fail-fast may discard batches queued before the failing one; all others ran.
    assert!(done.load(SeqCst) + (queue + limit + 1) * batch >= total);
    // Items pulled but not yet run: at most the queued batches, the running ones, and
    // the one the dispatcher is filling.
    let bound = (queue + limit + 1) * batch;
    assert!(
        high.load(SeqCst) <= bound,
        "{} > {bound}",
        high.load(SeqCst)
    );
}

#[test]
fn on_full_drop_skips_batches_and_counts_their_items() {
    let ran = AtomicUsize::new(0);
    let items: Vec<u32> = (0..200).collect();
    par_bounded!(backend = pool, limit = 1, queue = 1, batch = 1, on_full = drop, name = "drop-loop"; for _x in &items {
        thread::sleep(Duration::from_micros(300));
        ran.fetch_add(1, SeqCst);
    });
    let stats = bounded::stats::loops()
        .into_iter()
        .find(|s| s.name == "drop-loop")
        .unwrap();
    let ran = ran.load(SeqCst) as u64;
    assert!(stats.dropped > 0, "nothing dropped: {stats:?}");
    assert_eq!(ran + stats.dropped, 200, "{stats:?}");
    assert_eq!(stats.items, ran);
}

#[derive(Debug, PartialEq)]
enum SendError {
    Full,
    Late,
}

impl From<Rejected> for SendError {
    fn from(_: Rejected) -> Self {
        SendError::Full
    }
}

impl From<Cancelled> for SendError {
    fn from(_: Cancelled) -> Self {
        SendError::Late
    }
}

#[bounded(backend = pool, limit = 1, queue = 1, batch = 1, on_full = reject)]
fn send_all(msgs: &[u32], sent: &AtomicUsize) -> Result<(), SendError> {
    for _m in msgs {
        thread::sleep(Duration::from_millis(1));
        sent.fetch_add(1, SeqCst);
    }
    Ok(())
}

#[test]
fn on_full_reject_fails_the_loop_with_rejected() {
    let sent = AtomicUsize::new(0);
    let msgs: Vec<u32> = (0..100).collect();
    assert_eq!(send_all(&msgs, &sent), Err(SendError::Full));
    assert!(sent.load(SeqCst) < 100);
}

#[test]
fn on_full_caller_runs_some_batches_on_the_calling_thread() {
    let me = thread::current().id();
    let on_caller = AtomicUsize::new(0);
    let items: Vec<u32> = (0..200).collect();
    let mut total = 0u64;
    par_bounded!(backend = pool, limit = 1, queue = 0, batch = 1, on_full = caller_runs, reduce(total: +); for x in &items {
        if thread::current().id() == me {
            on_caller.fetch_add(1, SeqCst);
        }
        thread::sleep(Duration::from_micros(100));
        total += u64::from(*x);
    });
    assert_eq!(total, (0..200).sum::<u64>());
    assert!(on_caller.load(SeqCst) > 0);
}

#[bounded(backend = pool, limit = 2, batch = 1, timeout = 30ms)]
fn slow_all(items: &[u32], ran: &AtomicUsize) -> Result<(), SendError> {
    for _x in items {
        thread::sleep(Duration::from_millis(5));
        ran.fetch_add(1, SeqCst);
    }
    Ok(())
}

#[test]
fn timeout_stops_dispatch_and_fails_with_cancelled() {
    let ran = AtomicUsize::new(0);
    let items: Vec<u32> = (0..1000).collect();
    assert_eq!(slow_all(&items, &ran), Err(SendError::Late));
    assert!(ran.load(SeqCst) < 1000);
}

#[test]
fn a_cancel_token_stops_the_loop_on_any_backend() {
    for backend in ["pool", "rayon"] {
        let token = CancelToken::new();
        let ran = AtomicUsize::new(0);
        let items: Vec<u32> = (0..10_000).collect();
        let run = || -> Result<(), SendError> {
            if backend == "pool" {
                par_bounded!(backend = pool, limit = 2, batch = 1, cancel = token; for x in &items {
                    if *x == 50 {
                        token.cancel();
                    }
                    ran.fetch_add(1, SeqCst);
                });
            } else {
                par_bounded!(limit = 2, batch = 1, cancel = token; for x in &items {
                    if *x == 50 {
                        token.cancel();
                    }
                    ran.fetch_add(1, SeqCst);
                });
            }
            Ok(())
        };
        assert_eq!(run(), Err(SendError::Late), "{backend}");
        assert!(ran.load(SeqCst) < 10_000, "{backend}: {}", ran.load(SeqCst));
    }
}

#[derive(Debug, PartialEq)]
struct Bad(u32);

#[bounded(backend = pool, limit = 3, batch = 4)]
fn check_all(items: &[u32]) -> Result<(), Bad> {
    for x in items {
        if *x % 97 == 96 {
            Err(Bad(*x))?;
        }
    }
    Ok(())
}

#[bounded(backend = pool, limit = 3, batch = 4, keep_going)]
fn check_every(items: &[u32], seen: &AtomicUsize) -> Result<(), Bad> {
    for x in items {
        seen.fetch_add(1, SeqCst);
        if *x % 97 == 96 {
            Err(Bad(*x))?;
        }
    }
    Ok(())
}

#[test]
fn errors_fail_fast_or_keep_going_with_the_first_in_input_order() {
    let items: Vec<u32> = (0..1000).collect();
    assert!(matches!(check_all(&items), Err(Bad(x)) if x % 97 == 96));
    let seen = AtomicUsize::new(0);
    assert_eq!(check_every(&items, &seen), Err(Bad(96)));
    assert_eq!(seen.load(SeqCst), 1000);
}

#[test]
fn a_panic_reaches_the_caller_and_the_pool_survives() {
    let items: Vec<u32> = (0..100).collect();
    let caught = std::panic::catch_unwind(|| {
        par_bounded!(backend = pool, limit = 2; for x in &items {
            if *x == 42 {
                std::panic::panic_any(format!("item {x}"));
            }
        });
    });
    assert_eq!(
        *caught.unwrap_err().downcast::<String>().unwrap(),
        "item 42"
    );
    let squares: Vec<u64> =
        par_bounded!(backend = pool, limit = 2; for x in &items => u64::from(*x) * u64::from(*x));
    assert_eq!(
        squares,
        items
            .iter()
            .map(|x| u64::from(*x).pow(2))
            .collect::<Vec<_>>()
    );
}

#[test]
fn reductions_state_and_collect_equal_the_sequential_loop() {
    let items: Vec<u64> = (1..=5000).collect();
    let made = AtomicUsize::new(0);
    let (mut sum, mut max, mut evens) = (0u64, 0u64, Vec::new());
    par_bounded!(backend = pool, limit = 3, batch = 7, reduce(sum: +, max: max, evens: append),
    with(buf = { made.fetch_add(1, SeqCst); String::new() });
    for x in &items {
        buf.clear();
        buf.push_str(&x.to_string());
        sum += buf.len() as u64;
        max = max.max(*x);
        if x % 2 == 0 {
            evens.push(*x);
        }
    });
    assert_eq!(
        sum,
        items
            .iter()
            .map(|x| x.to_string().len() as u64)
            .sum::<u64>()
    );
    assert_eq!(max, 5000);
    assert_eq!(
        evens,
        items
            .iter()
            .copied()
            .filter(|x| x % 2 == 0)
            .collect::<Vec<_>>()
    );
    assert!(
        made.load(SeqCst) <= 3,
        "state made {} times",
        made.load(SeqCst)
    );
    let doubled: Vec<u64> =
        par_bounded!(backend = pool, limit = 4, batch = 3; for x in items.iter() => x * 2);
    assert_eq!(doubled, items.iter().map(|x| x * 2).collect::<Vec<_>>());
}

/// Counts drops, so owned items are seen dropped exactly once.
struct Tracked<'a>(&'a AtomicUsize);

impl Drop for Tracked<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn owned_items_are_dropped_once_whatever_ends_the_loop() {
    let drops = AtomicUsize::new(0);
    let items: Vec<Tracked> = (0..300).map(|_| Tracked(&drops)).collect();
    let result: Result<(), Bad> = (|| {
        par_bounded!(backend = pool, limit = 2, batch = 5; for (i, t) in items.into_iter().enumerate() {
            drop(t);
            if i == 100 {
                Err(Bad(100))?;
            }
        });
        Ok(())
    })();
    assert_eq!(result, Err(Bad(100)));
    assert_eq!(drops.load(SeqCst), 300);

    let drops = AtomicUsize::new(0);
    let items: Vec<Tracked> = (0..300).map(|_| Tracked(&drops)).collect();
    par_bounded!(backend = pool, limit = 1, queue = 1, batch = 2, on_full = drop; for t in items {
        thread::sleep(Duration::from_micros(200));
        drop(t);
    });
    assert_eq!(drops.load(SeqCst), 300);
}

#[test]
fn a_shut_down_pool_leaves_the_loop_to_the_caller() {
    static CLOSED: LazyLock<Pool> = LazyLock::new(|| Pool::builder().workers(1).build().unwrap());
    CLOSED.shutdown(Shutdown::Drain);
    let items: Vec<u64> = (0..100).collect();
    let mut total = 0;
    par_bounded!(pool = CLOSED, limit = 2, reduce(total: +); for x in &items {
        total += x;
    });
    assert_eq!(total, 4950);
    // The loop's lanes were offered and refused; a refused offer is not a job.
    assert_eq!(CLOSED.stats().submitted, 0);
}

#[test]
fn weights_share_the_limit_without_starving_heavy_items() {
    let load = AtomicUsize::new(0);
    let peak = AtomicUsize::new(0);
    let sizes: Vec<usize> = (0..120).map(|i| if i % 10 == 0 { 4 } else { 1 }).collect();
    par_bounded!(backend = pool, limit = 4, batch = 1, weight = *size; for size in &sizes {
        let now = load.fetch_add(*size, SeqCst) + *size;
        peak.fetch_max(now, SeqCst);
        thread::sleep(Duration::from_micros(300));
        load.fetch_sub(*size, SeqCst);
    });
    assert!(peak.load(SeqCst) <= 4, "{}", peak.load(SeqCst));
    assert!(peak.load(SeqCst) >= 3);
}

#[test]
fn equal_keys_run_on_one_worker_in_input_order() {
    // (customer, sequence number within the customer)
    let orders: Vec<(u32, u32)> = (0..2000u32).map(|i| (i % 13, i / 13)).collect();
    let seen: Mutex<std::collections::HashMap<u32, Vec<(String, u32)>>> = Mutex::default();
    let mut total = 0u64;
    par_bounded!(backend = pool, limit = 4, batch = 8, key = order.0, reduce(total: +); for order in &orders {
        seen.lock().unwrap().entry(order.0).or_default().push((thread_name(), order.1));
        total += u64::from(order.1);
        thread::sleep(Duration::from_micros(20));
    });
    assert_eq!(total, orders.iter().map(|o| u64::from(o.1)).sum::<u64>());
    let seen = seen.into_inner().unwrap();
    assert_eq!(seen.len(), 13);
    let mut threads = HashSet::new();
    for (customer, runs) in seen {
        let names: HashSet<_> = runs.iter().map(|(t, _)| t.clone()).collect();
        assert_eq!(names.len(), 1, "customer {customer} ran on {names:?}");
        threads.extend(names);
        let seqs: Vec<u32> = runs.iter().map(|(_, s)| *s).collect();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "customer {customer}: {seqs:?}"
        );
    }
    // Thirteen keys over four lanes: more than one lane did work.
    assert!(threads.len() > 1);
}

#[test]
fn a_channel_fed_for_ever_is_held_to_queue_times_batch_items() {
    // A producer that never stops; the loop ends when the body fails after a million
    // items. What the loop holds is what it took from the receiver and has not run.
    let (tx, rx) = std::sync::mpsc::sync_channel::<u64>(0);
    let producer = thread::spawn(move || {
        let mut i = 0u64;
        while tx.send(i).is_ok() {
            i += 1;
        }
    });
    let (taken, done, high) = (
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    );
    let (limit, queue, batch) = (2usize, 4usize, 8usize);
    let received = rx.into_iter().inspect(|_| {
        let t = taken.fetch_add(1, SeqCst) + 1;
        high.fetch_max(t - done.load(SeqCst), SeqCst);
    });
    let result: Result<(), u64> = (|| {
        par_bounded!(backend = pool, limit = limit, queue = queue, batch = batch; for i in received {
            if i >= 1_000_000 {
                Err(i)?;
            }
            done.fetch_add(1, SeqCst);
        });
        Ok(())
    })();
    assert!(result.is_err());
    assert!(done.load(SeqCst) >= 1_000_000 - (queue + limit + 1) * batch);
    let bound = (queue + limit + 1) * batch;
    assert!(
        high.load(SeqCst) <= bound,
        "{} > {bound}",
        high.load(SeqCst)
    );
    // Dropping the receiver (with the loop) ends the producer.
    producer.join().unwrap();
}

static ROOMY: LazyLock<Pool> = LazyLock::new(|| {
    Pool::builder()
        .name("roomy")
        .workers(0..=256)
        .build()
        .unwrap()
});

#[test]
fn loops_run_back_to_back_reuse_the_workers_of_the_last_one() {
    // A pool that could grow to 256 threads, and loops of 16 lanes one after another:
    // the workers that finished the last loop take the next one's lanes, so the pool
    // holds as many threads as one loop uses (640 lanes in all; without the reuse it
    // grew to several loops' worth). A worker counts itself as looking for work before
    // its lane lets the loop end, and as finishing while it is awake without a job, so
    // the next loop's lanes wait for it rather than start a 17th thread beside it
    // (`scripts/benchmarks` measures the peak of `limit = 64` loops too).
    let xs: Vec<u64> = (0..160).collect();
    for _ in 0..40 {
        par_bounded!(pool = ROOMY, limit = 16, batch = 1; for x in &xs {
            std::thread::sleep(std::time::Duration::from_micros(50 + x % 7 * 10));
        });
    }
    let stats = ROOMY.stats();
    assert!(stats.peak_workers <= 16, "{stats:?}");
}

static RESTLESS: LazyLock<Pool> = LazyLock::new(|| {
    Pool::builder()
        .name("restless")
        .workers(16..=256)
        .idle_timeout(Duration::from_millis(1))
        .build()
        .unwrap()
});

#[test]
fn workers_whose_waits_time_out_are_reused_too() {
    // The same loops on a pool whose idle workers wake every millisecond and, at its
    // minimum, do not retire: each such wake-up leaves a worker awake without a job for
    // a while. It counts as about to take one, so the next loop's lanes are queued for
    // it rather than started beside it (not counted, it let a 17th worker start in 3 of
    // 10 runs), and none of them is stranded.
    let xs: Vec<u64> = (0..160).collect();
    let ran = AtomicUsize::new(0);
    for round in 0..40 {
        par_bounded!(pool = RESTLESS, limit = 16, batch = 1; for x in &xs {
            std::thread::sleep(Duration::from_micros(50 + x % 7 * 10));
            ran.fetch_add(1, SeqCst);
        });
        if round % 8 == 0 {
            // Long enough for every idle worker to time out at least once.
            thread::sleep(Duration::from_millis(3));
        }
    }
    assert_eq!(ran.load(SeqCst), 40 * 160);
    let stats = RESTLESS.stats();
    assert!(stats.peak_workers <= 16, "{stats:?}");
}
