//! The cost of `progress`: the batching sweep's loop (10,000,000 additions, a few
//! milliseconds) with and without a bar, at `batch = auto` and at `batch = 256` (many
//! batches, so many bar updates), a loop long enough for its bar to be shown and move,
//! and a loop of 1,000 items for the cost per run. `cargo bench --bench progress`.
//!
//! The bar is drawn only when stderr is a terminal: run it under a terminal for the
//! drawing cost (`scripts/benchmarks` runs it under `script`), or with `2>/dev/null`
//! for the cost of a bar that is not drawn. Every ratio should be within 2% of the loop
//! without a bar. The lines starting `progress/` are what the report generator reads
//! (`tools/src/bin/bench-report.rs`, section "progress bar").

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

/// A range sum, long enough (tens of milliseconds) for its bar to be shown.
fn long_plain(n: u64) -> u64 {
    let mut total = 0u64;
    par_bounded!(reduce(total: +); for x in 0..n { total += black_box(x); });
    total
}

fn long_with_bar(n: u64) -> u64 {
    let mut total = 0u64;
    par_bounded!(progress = "sum", reduce(total: +); for x in 0..n { total += black_box(x); });
    total
}

/// Runs `pairs` pairs of (without, with) back to back, alternating which goes first so
/// that neither always gets a warm cache and load from other processes hits both
/// alike: the quartiles of the per-pair ratios with ÷ without, and the fastest run with
/// ÷ the fastest without (the runs other processes disturbed least).
fn pairs(pairs: usize, without: &dyn Fn() -> u64, with: &dyn Fn() -> u64) -> [f64; 4] {
    let time = |f: &dyn Fn() -> u64| {
        let t = std::time::Instant::now();
        black_box(f());
        t.elapsed().as_secs_f64()
    };
    let (mut fastest_without, mut fastest_with) = (f64::MAX, f64::MAX);
    let mut ratios: Vec<f64> = (0..pairs)
        .map(|i| {
            let (a, b) = if i % 2 == 0 {
                let a = time(without);
                (a, time(with))
            } else {
                let b = time(with);
                (time(without), b)
            };
            fastest_without = fastest_without.min(a);
            fastest_with = fastest_with.min(b);
            b / a
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    [
        ratios[pairs / 4],
        ratios[pairs / 2],
        ratios[pairs * 3 / 4],
        fastest_with / fastest_without,
    ]
}

/// A row: its name, how many pairs, the loop without a bar and with one.
type Row<'a> = (
    &'static str,
    usize,
    &'a dyn Fn() -> u64,
    &'a dyn Fn() -> u64,
);

/// The report's rows: each comparison as pairs, `progress/paired/{drawn,hidden}/NAME:`
/// then the median ratio and its quartiles; and the cost per run of a short loop.
fn paired(data: &[u64]) {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let shown = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        "drawn"
    } else {
        "hidden"
    };
    const LONG: u64 = 200_000_000;
    assert_eq!(long_plain(LONG), long_with_bar(LONG));
    let rows: [Row; 3] = [
        ("auto", 301, &|| plain(black_box(data), None), &|| {
            with_bar(black_box(data), None)
        }),
        ("256", 301, &|| plain(black_box(data), Some(256)), &|| {
            with_bar(black_box(data), Some(256))
        }),
        ("long", 31, &|| long_plain(black_box(LONG)), &|| {
            long_with_bar(black_box(LONG))
        }),
    ];
    for (label, n, without, with) in rows {
        let t = std::time::Instant::now();
        black_box(without());
        let ms = t.elapsed().as_secs_f64() * 1e3;
        let [lo, mid, hi, fastest] = pairs(n, without, with);
        println!(
            "progress/paired/{shown}/{label}: {ms:.1} ms a run; fastest with a bar / fastest without {fastest:.4}; with a bar / without, median of {n} pairs {mid:.4} (quartiles {lo:.4} .. {hi:.4})"
        );
    }
    fixed_cost(data, shown);
}

/// What a bar costs a run whatever its length: a loop of 1,000 items (a few
/// microseconds) with and without one; prints the difference of the medians.
fn fixed_cost(data: &[u64], shown: &str) {
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
        "progress/fixed/{shown}: a 1,000-item loop takes {p:.1} µs without a bar, {b:.1} µs with one: {:.1} µs per run (medians of 2001)",
        b - p
    );
}

criterion_group!(benches, overhead);
criterion_main!(benches);
