//! Batching sweep: trivial per-item work over 10,000,000 items with fixed batches of
//! 1, 16, 256 and 4096 items and with `batch = auto`, in one run; and the batches of
//! 16 claimed under the per-lane schedules (`static`, `steal`) beside the shared
//! counter of `dynamic`.
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

/// Batches of 16 under a per-lane schedule: each lane moves its own position in the
/// plan at every batch.
fn per_lane(data: &[u64], schedule: &str) -> u64 {
    let mut total = 0u64;
    match schedule {
        "static" => {
            par_bounded!(schedule = static, batch = 16, reduce(total: +); for x in data { total += x; })
        }
        _ => {
            par_bounded!(schedule = steal, batch = 16, reduce(total: +); for x in data { total += x; })
        }
    }
    total
}

const PER_LANE: [&str; 2] = ["static", "steal"];

fn sweep(c: &mut Criterion) {
    let data: Vec<u64> = (0..ITEMS).collect();
    let expected = ITEMS * (ITEMS - 1) / 2;
    let batches = [1usize, 16, 256, 4096];
    for b in batches {
        assert_eq!(fixed(&data, b), expected, "batch = {b}");
    }
    assert_eq!(auto(&data), expected, "batch = auto");
    for schedule in PER_LANE {
        assert_eq!(per_lane(&data, schedule), expected, "schedule = {schedule}");
    }

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
    for schedule in PER_LANE {
        g.bench_with_input(
            BenchmarkId::new("schedule", format!("{schedule}, batch = 16")),
            schedule,
            |bench, schedule| bench.iter(|| per_lane(black_box(&data), schedule)),
        );
    }
    g.finish();
}

criterion_group!(benches, sweep);
criterion_main!(benches);
