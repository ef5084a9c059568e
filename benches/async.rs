//! Async fan-out: 10,000 timer-driven items with at most 100 in flight, the generated
//! lanes beside `futures::StreamExt::for_each_concurrent` and a tokio `JoinSet`
//! bounded by a `Semaphore`, in one run on one tokio runtime.

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

criterion_group!(benches, fan_out);
criterion_main!(benches);
