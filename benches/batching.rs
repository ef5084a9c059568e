//! Batching sweep: trivial per-item work over 10,000,000 items with fixed batches of
//! 1, 16, 256 and 4096 items and with `batch = auto`, in one run.
//!
//! The body is one addition, so the figures are what dispatching a batch costs,
//! amortised over its items; `auto` should be within 10% of the best fixed batch.

use bounded::par_bounded;
use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use std::hint::black_box;
use std::time::Duration;

const ITEMS: u64 = 10_000_000;

fn fixed(data: &[u64], batch: usize) -> u64 {
    let mut total = 0u64;
    par_bounded!(batch = batch, reduce(total: +); for x in data { total += x; });
    total
}

fn auto(data: &[u64]) -> u64 {
    let mut total = 0u64;
    par_bounded!(batch = auto, reduce(total: +); for x in data { total += x; });
    total
}

fn sweep(c: &mut Criterion) {
    let data: Vec<u64> = (0..ITEMS).collect();
    let expected = ITEMS * (ITEMS - 1) / 2;
    let batches = [1usize, 16, 256, 4096];
    for b in batches {
        assert_eq!(fixed(&data, b), expected, "batch = {b}");
    }
    assert_eq!(auto(&data), expected, "batch = auto");

    let mut g = c.benchmark_group("batching sweep");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(ITEMS));
    for b in batches {
        g.bench_with_input(BenchmarkId::new("batch", b), &b, |bench, &b| {
            bench.iter(|| fixed(black_box(&data), b))
        });
    }
    g.bench_function(BenchmarkId::new("batch", "auto"), |bench| {
        bench.iter(|| auto(black_box(&data)))
    });
    g.finish();
}

criterion_group!(benches, sweep);
criterion_main!(benches);
