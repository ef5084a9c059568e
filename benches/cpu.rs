//! CPU-bound loops: the generated code beside hand-written rayon and the sequential
//! loop, in one run.
//!
//! - "cpu-bound loop": 100,000 items of about a microsecond of integer mixing each,
//!   summed. The `#[bounded]` functions are the sequential loop plus an attribute.
//! - "sum 10M": summing 10,000,000 integers, where dispatch cost is all there is to
//!   measure (on two cores the loop is memory-bound).
//!
//! Every variant of a group computes the same value, checked once before timing.

use bounded::{bounded, par_bounded};
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use rayon::prelude::*;
use std::hint::black_box;
use std::time::Duration;

const CPU_ITEMS: u64 = 100_000;
const SUM_ITEMS: u64 = 10_000_000;
/// Rounds of [`work`]: about a microsecond per item on a current x86-64 core.
const ROUNDS: u32 = 400;
/// The minimum split of the `with_min_len` variant, the same as the explicit batch.
const MIN_LEN: usize = 256;

/// One item's work: a chain of multiply-xorshift rounds the compiler cannot shorten.
/// The result has 24 bits, so 100,000 of them sum without overflow.
#[inline]
fn work(x: u64) -> u64 {
    let mut h = x;
    for _ in 0..ROUNDS {
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 29;
    }
    h >> 40
}

fn sequential(items: &[u64]) -> u64 {
    items.iter().map(|&x| work(x)).sum()
}

fn rayon_map_sum(items: &[u64]) -> u64 {
    items.par_iter().map(|&x| work(x)).sum()
}

fn rayon_min_len(items: &[u64]) -> u64 {
    items
        .par_iter()
        .with_min_len(MIN_LEN)
        .map(|&x| work(x))
        .sum()
}

#[bounded(reduce(total: +))]
fn bounded_default(items: &[u64]) -> u64 {
    let mut total = 0;
    for x in items {
        total += work(*x);
    }
    total
}

#[bounded(batch = 256, reduce(total: +))]
fn bounded_batch(items: &[u64]) -> u64 {
    let mut total = 0;
    for x in items {
        total += work(*x);
    }
    total
}

fn cpu_bound(c: &mut Criterion) {
    let items: Vec<u64> = (0..CPU_ITEMS).collect();
    let expected = sequential(&items);
    type Variant = (&'static str, fn(&[u64]) -> u64);
    let variants: [Variant; 5] = [
        ("sequential", sequential),
        ("rayon par_iter().map().sum()", rayon_map_sum),
        ("rayon with_min_len(256)", rayon_min_len),
        ("#[bounded] defaults", bounded_default),
        ("#[bounded] batch = 256", bounded_batch),
    ];
    for (name, f) in variants {
        assert_eq!(f(&items), expected, "{name}");
    }

    let mut g = c.benchmark_group("cpu-bound loop");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(CPU_ITEMS));
    for (name, f) in variants {
        g.bench_function(name, |b| b.iter(|| f(black_box(&items))));
    }
    g.finish();
}

fn sum(c: &mut Criterion) {
    let data: Vec<u64> = (0..SUM_ITEMS).collect();
    let expected = SUM_ITEMS * (SUM_ITEMS - 1) / 2;

    let sequential = |d: &[u64]| d.iter().sum::<u64>();
    let rayon_sum = |d: &[u64]| d.par_iter().sum::<u64>();
    let rayon_fold = |d: &[u64]| {
        d.par_iter()
            .fold(|| 0u64, |acc, x| acc + x)
            .reduce(|| 0, |a, b| a + b)
    };
    let bounded = |d: &[u64]| {
        let mut total = 0u64;
        par_bounded!(reduce(total: +); for x in d { total += x; });
        total
    };
    assert_eq!(sequential(&data), expected);
    assert_eq!(rayon_sum(&data), expected);
    assert_eq!(rayon_fold(&data), expected);
    assert_eq!(bounded(&data), expected);

    let mut g = c.benchmark_group("sum 10M");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(SUM_ITEMS));
    g.bench_function("sequential", |b| b.iter(|| sequential(black_box(&data))));
    g.bench_function("rayon par_iter().sum()", |b| {
        b.iter(|| rayon_sum(black_box(&data)))
    });
    g.bench_function("rayon fold/reduce", |b| {
        b.iter(|| rayon_fold(black_box(&data)))
    });
    g.bench_function("par_bounded! reduce(total: +)", |b| {
        b.iter(|| bounded(black_box(&data)))
    });
    g.finish();
}

criterion_group!(benches, cpu_bound, sum);
criterion_main!(benches);
