//! Fan-out: many small independent tasks, the ways people write it by hand beside
//! `par_bounded!`, in one run.
//!
//! Each task is a couple of microseconds of integer mixing whose result is added to a
//! shared counter, so every variant does the same work and leaves the same total.
//!
//! - thread per item: `std::thread::scope` spawning one thread per task. Run for
//!   10,000 tasks only: at 100,000 it spends its time creating threads, and it is what
//!   the bounded versions replace, not a contender.
//! - crossbeam-channel pool: `cpus` scoped workers draining a bounded channel the
//!   caller fills (Go's worker-pool playbook).
//! - `threadpool` crate: a long-lived pool of `cpus` threads, `execute` per task, `join`.
//! - rayon `spawn` per task inside `rayon::scope`.
//! - `par_bounded!(limit = cpus; ...)` with the default batch and with `batch = 1`.

use bounded::{available_cpus, par_bounded};
use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// Rounds of [`task`]: one to two microseconds on a current x86-64 core.
const ROUNDS: u32 = 400;
/// Above this many tasks, the thread-per-item variant is skipped.
const THREAD_PER_ITEM_MAX: usize = 10_000;

/// One task's work; 24-bit result, so the totals cannot overflow.
#[inline]
fn task(x: u64) -> u64 {
    let mut h = x;
    for _ in 0..ROUNDS {
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^= h >> 29;
    }
    h >> 40
}

fn thread_per_item(items: &[u64], sink: &AtomicU64) {
    thread::scope(|s| {
        for &x in items {
            s.spawn(move || {
                sink.fetch_add(task(x), Relaxed);
            });
        }
    });
}

fn channel_pool(items: &[u64], sink: &AtomicU64, workers: usize) {
    let (tx, rx) = crossbeam_channel::bounded::<u64>(2 * workers);
    thread::scope(|s| {
        for _ in 0..workers {
            let rx = rx.clone();
            s.spawn(move || {
                for x in rx {
                    sink.fetch_add(task(x), Relaxed);
                }
            });
        }
        for &x in items {
            tx.send(x).unwrap();
        }
        drop(tx);
    });
}

fn threadpool_crate(items: &[u64], sink: &Arc<AtomicU64>, pool: &threadpool::ThreadPool) {
    for &x in items {
        let sink = Arc::clone(sink);
        pool.execute(move || {
            sink.fetch_add(task(x), Relaxed);
        });
    }
    pool.join();
}

fn rayon_spawn(items: &[u64], sink: &AtomicU64) {
    rayon::scope(|s| {
        for &x in items {
            s.spawn(move |_| {
                sink.fetch_add(task(x), Relaxed);
            });
        }
    });
}

fn bounded_default(items: &[u64], sink: &AtomicU64) {
    par_bounded!(limit = cpus; for x in items {
        sink.fetch_add(task(*x), Relaxed);
    });
}

fn bounded_batch_1(items: &[u64], sink: &AtomicU64) {
    par_bounded!(limit = cpus, batch = 1; for x in items {
        sink.fetch_add(task(*x), Relaxed);
    });
}

fn fanout(c: &mut Criterion) {
    let cpus = available_cpus();
    let pool = threadpool::ThreadPool::new(cpus);
    let sink = Arc::new(AtomicU64::new(0));

    let mut g = c.benchmark_group("fan-out");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    for n in [10_000usize, 100_000] {
        let items: Vec<u64> = (0..n as u64).collect();
        let expected: u64 = items.iter().map(|&x| task(x)).sum();
        g.throughput(Throughput::Elements(n as u64));

        // Runs one variant once from a zeroed counter and returns the total it left.
        let run = |f: &dyn Fn(&[u64], &Arc<AtomicU64>)| {
            sink.store(0, Relaxed);
            f(black_box(&items), &sink);
            sink.load(Relaxed)
        };
        type Variant<'a> = (&'static str, Box<dyn Fn(&[u64], &Arc<AtomicU64>) + 'a>);
        let mut variants: Vec<Variant> = Vec::new();
        if n <= THREAD_PER_ITEM_MAX {
            variants.push(("thread per item", Box::new(|i, s| thread_per_item(i, s))));
        }
        variants.push((
            "crossbeam-channel pool",
            Box::new(move |i, s| channel_pool(i, s, cpus)),
        ));
        variants.push((
            "threadpool crate",
            Box::new(|i, s| threadpool_crate(i, s, &pool)),
        ));
        variants.push(("rayon spawn per item", Box::new(|i, s| rayon_spawn(i, s))));
        variants.push((
            "par_bounded! limit = cpus",
            Box::new(|i, s| bounded_default(i, s)),
        ));
        variants.push((
            "par_bounded! limit = cpus, batch = 1",
            Box::new(|i, s| bounded_batch_1(i, s)),
        ));

        for (name, f) in &variants {
            assert_eq!(run(f.as_ref()), expected, "{name}, {n} tasks");
        }
        for (name, f) in &variants {
            g.bench_with_input(BenchmarkId::new(*name, n), &n, |b, _| {
                b.iter(|| run(f.as_ref()))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
