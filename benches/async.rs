//! Async fan-out: 10,000 timer-driven items with at most 100 in flight, the generated
//! lanes beside `futures::StreamExt::for_each_concurrent` and a tokio `JoinSet`
//! bounded by a `Semaphore`, in one run on one tokio runtime.
//!
//! Async overhead: the same three shapes over 100,000 futures that are ready at once
//! (`async { x * 2 }`), so the figures are what running a future costs each of them:
//! the async loop, `futures::StreamExt::buffer_unordered` and a `JoinSet`.

use bounded::par_bounded;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures::StreamExt;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

const ITEMS: u64 = 10_000;
const LIMIT: usize = 100;

/// One item: a timer-driven wait, like a call to a service.
async fn call(x: u64) -> u64 {
    tokio::time::sleep(Duration::from_micros(500)).await;
    black_box(x)
}

fn fan_out(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let items: Vec<u64> = (0..ITEMS).collect();
    let mut g = c.benchmark_group("async fan-out");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(ITEMS));

    g.bench_function(BenchmarkId::new("limit 100", "par_bounded!"), |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut total = 0u64;
                par_bounded!(limit = LIMIT, batch = 1, reduce(total: +); for x in &items {
                    total += call(*x).await;
                });
                total
            })
        })
    });
    g.bench_function(BenchmarkId::new("limit 100", "for_each_concurrent"), |b| {
        b.iter(|| {
            rt.block_on(async {
                futures::stream::iter(&items)
                    .for_each_concurrent(LIMIT, |x| async move {
                        call(*x).await;
                    })
                    .await;
            })
        })
    });
    g.bench_function(BenchmarkId::new("limit 100", "JoinSet + Semaphore"), |b| {
        b.iter(|| {
            rt.block_on(async {
                let permits = Arc::new(tokio::sync::Semaphore::new(LIMIT));
                let mut set = tokio::task::JoinSet::new();
                for x in items.iter().copied() {
                    let permit = permits.clone().acquire_owned().await.unwrap();
                    set.spawn(async move {
                        let r = call(x).await;
                        drop(permit);
                        r
                    });
                }
                let mut total = 0u64;
                while let Some(r) = set.join_next().await {
                    total += r.unwrap();
                }
                total
            })
        })
    });
    g.finish();
}

const READY_ITEMS: u64 = 100_000;

/// One item whose future is ready at once: no timer, no I/O.
async fn ready(x: u64) -> u64 {
    black_box(x) * 2
}

fn overhead(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let items: Vec<u64> = (0..READY_ITEMS).collect();
    let want: u64 = items.iter().map(|x| x * 2).sum();
    let mut g = c.benchmark_group("async overhead");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(READY_ITEMS));

    let bounded = || {
        rt.block_on(async {
            let mut total = 0u64;
            par_bounded!(limit = LIMIT, reduce(total: +); for x in &items {
                total += ready(*x).await;
            });
            total
        })
    };
    // One item per batch: a lane's dispatch per future, as the peers pay it.
    let bounded_one = || {
        rt.block_on(async {
            let mut total = 0u64;
            par_bounded!(limit = LIMIT, batch = 1, reduce(total: +); for x in &items {
                total += ready(*x).await;
            });
            total
        })
    };
    let buffered = || {
        rt.block_on(async {
            futures::stream::iter(&items)
                .map(|x| ready(*x))
                .buffer_unordered(LIMIT)
                .fold(0u64, |total, r| async move { total + r })
                .await
        })
    };
    let join_set = || {
        rt.block_on(async {
            let permits = Arc::new(tokio::sync::Semaphore::new(LIMIT));
            let mut set = tokio::task::JoinSet::new();
            for x in items.iter().copied() {
                let permit = permits.clone().acquire_owned().await.unwrap();
                set.spawn(async move {
                    let r = ready(x).await;
                    drop(permit);
                    r
                });
            }
            let mut total = 0u64;
            while let Some(r) = set.join_next().await {
                total += r.unwrap();
            }
            total
        })
    };
    assert_eq!(bounded(), want);
    assert_eq!(bounded_one(), want);
    assert_eq!(buffered(), want);
    assert_eq!(join_set(), want);
    g.bench_function(BenchmarkId::new("ready futures", "par_bounded!"), |b| {
        b.iter(bounded)
    });
    g.bench_function(
        BenchmarkId::new("ready futures", "par_bounded! batch = 1"),
        |b| b.iter(bounded_one),
    );
    g.bench_function(BenchmarkId::new("ready futures", "buffer_unordered"), |b| {
        b.iter(buffered)
    });
    g.bench_function(
        BenchmarkId::new("ready futures", "JoinSet + Semaphore"),
        |b| b.iter(join_set),
    );
    g.finish();
}

criterion_group!(benches, fan_out, overhead);
criterion_main!(benches);
