//! A search that breaks early: the position of the first match in 10,000,000 items,
//! with the match at 1%, 10% and 50% of the input and with no match, for the plain
//! sequential loop, the same loop with the annotation (`return` from a parallel loop),
//! and rayon's `position_first`, in one run.
//!
//! The annotated search should cost time proportional to the match's position, not to
//! the input: the run is cut at the first match in input order.

use bounded::bounded;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode};
use rayon::prelude::*;
use std::hint::black_box;
use std::time::Duration;

const ITEMS: usize = 10_000_000;

fn sequential(xs: &[u32], needle: u32) -> Option<usize> {
    for (i, x) in xs.iter().enumerate() {
        if *x == needle {
            return Some(i);
        }
    }
    None
}

#[bounded(batch = 4096)]
fn annotated(xs: &[u32], needle: u32) -> Option<usize> {
    for (i, x) in xs.iter().enumerate() {
        if *x == needle {
            return Some(i);
        }
    }
    None
}

fn rayon(xs: &[u32], needle: u32) -> Option<usize> {
    xs.par_iter().position_first(|x| *x == needle)
}

fn search(c: &mut Criterion) {
    let mut g = c.benchmark_group("early exit");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (label, at) in [
        ("1%", Some(ITEMS / 100)),
        ("10%", Some(ITEMS / 10)),
        ("50%", Some(ITEMS / 2)),
        ("none", None),
    ] {
        let mut xs = vec![0u32; ITEMS];
        if let Some(at) = at {
            xs[at] = 1;
            xs[at + 10] = 1;
        }
        assert_eq!(sequential(&xs, 1), at);
        assert_eq!(annotated(&xs, 1), at);
        assert_eq!(rayon(&xs, 1), at);
        g.bench_with_input(BenchmarkId::new("sequential", label), &xs, |b, xs| {
            b.iter(|| sequential(black_box(xs), 1))
        });
        g.bench_with_input(BenchmarkId::new("bounded", label), &xs, |b, xs| {
            b.iter(|| annotated(black_box(xs), 1))
        });
        g.bench_with_input(BenchmarkId::new("rayon", label), &xs, |b, xs| {
            b.iter(|| rayon(black_box(xs), 1))
        });
    }
    g.finish();
}

criterion_group!(benches, search);
criterion_main!(benches);
