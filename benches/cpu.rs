//! CPU-bound loops: the generated code beside hand-written rayon and the sequential loop.
use bounded::par_bounded;
use criterion::{criterion_group, criterion_main, Criterion};
use rayon::prelude::*;
use std::hint::black_box;

fn sum(c: &mut Criterion) {
    let data: Vec<u64> = (0..10_000_000).collect();
    let mut g = c.benchmark_group("sum_10m");
    g.sample_size(20);
    g.bench_function("sequential", |b| {
        b.iter(|| black_box(&data).iter().sum::<u64>())
    });
    g.bench_function("rayon", |b| {
        b.iter(|| black_box(&data).par_iter().sum::<u64>())
    });
    g.bench_function("bounded", |b| {
        b.iter(|| {
            let mut total = 0u64;
            par_bounded!(reduce(total: +); for x in black_box(&data) { total += x; });
            total
        })
    });
    g.finish();
}

criterion_group!(benches, sum);
criterion_main!(benches);
