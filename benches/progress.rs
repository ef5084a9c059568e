//! The cost of `progress`: the batching sweep's loop (10,000,000 additions) with and
//! without a bar, at `batch = auto` and at `batch = 256` (many batches, so many bar
//! updates). `cargo bench --features progress --bench progress`.
//!
//! The bar is drawn only when stderr is a terminal: run it as is for the drawing cost,
//! or with `2>/dev/null` for the cost of a hidden bar. Both should be within 2% of the
//! loop without one.

use bounded::par_bounded;
use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use std::hint::black_box;
use std::time::Duration;

const ITEMS: u64 = 10_000_000;

fn plain(data: &[u64], batch: Option<usize>) -> u64 {
    let mut total = 0u64;
    match batch {
        Some(b) => par_bounded!(batch = b, reduce(total: +); for x in data { total += x; }),
        None => par_bounded!(batch = auto, reduce(total: +); for x in data { total += x; }),
    }
    total
}

fn with_bar(data: &[u64], batch: Option<usize>) -> u64 {
    let mut total = 0u64;
    match batch {
        Some(b) => {
            par_bounded!(batch = b, progress = "sum", reduce(total: +); for x in data { total += x; })
        }
        None => {
            par_bounded!(batch = auto, progress = "sum", reduce(total: +); for x in data { total += x; })
        }
    }
    total
}

fn overhead(c: &mut Criterion) {
    let data: Vec<u64> = (0..ITEMS).collect();
    let expected = ITEMS * (ITEMS - 1) / 2;
    for batch in [None, Some(256)] {
        assert_eq!(plain(&data, batch), expected);
        assert_eq!(with_bar(&data, batch), expected);
    }
    let mut g = c.benchmark_group("progress");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(ITEMS));
    for (label, batch) in [("auto", None), ("256", Some(256))] {
        g.bench_with_input(BenchmarkId::new("plain", label), &batch, |b, &batch| {
            b.iter(|| plain(black_box(&data), batch))
        });
        g.bench_with_input(BenchmarkId::new("progress", label), &batch, |b, &batch| {
            b.iter(|| with_bar(black_box(&data), batch))
        });
    }
    g.finish();
    paired(&data);
}

/// The same comparison as pairs run back to back, plain then with a bar, so that load
/// from other processes hits both alike: prints the median of the per-pair ratios.
fn paired(data: &[u64]) {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    for (label, batch) in [("auto", None), ("256", Some(256))] {
        let mut ratios: Vec<f64> = (0..301)
            .map(|i| {
                let time = |f: &dyn Fn() -> u64| {
                    let t = std::time::Instant::now();
                    black_box(f());
                    t.elapsed().as_secs_f64()
                };
                let plain_t;
                let bar_t;
                // Alternate which runs first, so neither always gets a warm cache.
                if i % 2 == 0 {
                    plain_t = time(&|| plain(black_box(data), batch));
                    bar_t = time(&|| with_bar(black_box(data), batch));
                } else {
                    bar_t = time(&|| with_bar(black_box(data), batch));
                    plain_t = time(&|| plain(black_box(data), batch));
                }
                bar_t / plain_t
            })
            .collect();
        ratios.sort_by(f64::total_cmp);
        let (lo, mid, hi) = (ratios[75], ratios[150], ratios[225]);
        println!(
            "progress/paired/{label}: with a bar / without, median of 301 pairs {mid:.4} (quartiles {lo:.4} .. {hi:.4})"
        );
    }
    fixed_cost(data);
}

/// What a bar costs a run whatever its length: a loop of 1,000 items (a few
/// microseconds) with and without one, in pairs; prints the median difference.
fn fixed_cost(data: &[u64]) {
    let short = &data[..1000];
    let time = |f: &dyn Fn() -> u64| {
        let t = std::time::Instant::now();
        black_box(f());
        t.elapsed().as_secs_f64() * 1e6
    };
    let mut plain_us: Vec<f64> = Vec::new();
    let mut bar_us: Vec<f64> = Vec::new();
    for _ in 0..2001 {
        plain_us.push(time(&|| plain(black_box(short), None)));
        bar_us.push(time(&|| with_bar(black_box(short), None)));
    }
    plain_us.sort_by(f64::total_cmp);
    bar_us.sort_by(f64::total_cmp);
    let (p, b) = (plain_us[1000], bar_us[1000]);
    println!(
        "progress/fixed: a 1,000-item loop takes {p:.1} µs without a bar, {b:.1} µs with one: {:.1} µs per run (medians of 2001)",
        b - p
    );
}

criterion_group!(benches, overhead);
criterion_main!(benches);
