//! Skewed work: 10,000 items of which 1% cost 100 times the others, under each
//! schedule, beside rayon and the sequential loop, in one run.
//!
//! Two layouts of the slow items: `spread` (every 100th item) and `clustered` (the last
//! 100 items). The ideal is the sequential time divided by the cores; criterion cannot
//! measure it, so the report derives it from the `sequential` figure of the same run.
//! The schedules run with the default `batch = auto`; one more variant shows `dynamic`
//! with a hand-picked small batch.

use bounded::par_bounded;
use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use rayon::prelude::*;
use std::hint::black_box;
use std::time::Duration;

const ITEMS: usize = 10_000;
/// Rounds of an ordinary item: about a microsecond.
const CHEAP: u32 = 400;
/// A slow item costs this many ordinary ones.
const SKEW: u32 = 100;
/// One item in this many is slow.
const EVERY: usize = 100;

/// One item: a seed and how many mixing rounds it costs.
#[derive(Clone, Copy)]
struct Job {
    seed: u64,
    rounds: u32,
}

#[inline]
fn work(job: &Job) -> u64 {
    let mut h = job.seed;
    for _ in 0..job.rounds {
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 29;
    }
    h >> 40
}

fn jobs(clustered: bool) -> Vec<Job> {
    let slow_items = ITEMS / EVERY;
    (0..ITEMS)
        .map(|i| {
            let slow = if clustered {
                i >= ITEMS - slow_items
            } else {
                i % EVERY == EVERY - 1
            };
            Job {
                seed: i as u64,
                rounds: if slow { CHEAP * SKEW } else { CHEAP },
            }
        })
        .collect()
}

fn sequential(jobs: &[Job]) -> u64 {
    jobs.iter().map(work).sum()
}

fn rayon_par_iter(jobs: &[Job]) -> u64 {
    jobs.par_iter().map(work).sum()
}

fn bounded_static(jobs: &[Job]) -> u64 {
    let mut total = 0u64;
    par_bounded!(schedule = static, reduce(total: +); for j in jobs { total += work(j); });
    total
}

fn bounded_dynamic(jobs: &[Job]) -> u64 {
    let mut total = 0u64;
    par_bounded!(schedule = dynamic, reduce(total: +); for j in jobs { total += work(j); });
    total
}

fn bounded_guided(jobs: &[Job]) -> u64 {
    let mut total = 0u64;
    par_bounded!(schedule = guided, reduce(total: +); for j in jobs { total += work(j); });
    total
}

fn bounded_steal(jobs: &[Job]) -> u64 {
    let mut total = 0u64;
    par_bounded!(schedule = steal, reduce(total: +); for j in jobs { total += work(j); });
    total
}

/// `steal` claiming and stealing whole batches of the size `auto` picks (how `auto`
/// ran before its runs were cut into smaller units): the clustered slow items all sit in
/// the last lane's last batch.
fn bounded_steal_whole(jobs: &[Job]) -> u64 {
    let batch = jobs.len().div_ceil(bounded::available_cpus() * 16);
    let mut total = 0u64;
    par_bounded!(schedule = steal, batch = batch, reduce(total: +); for j in jobs {
        total += work(j);
    });
    total
}

/// Not a target: shows what a hand-picked small batch does for the same schedule.
fn bounded_dynamic_16(jobs: &[Job]) -> u64 {
    let mut total = 0u64;
    par_bounded!(schedule = dynamic, batch = 16, reduce(total: +); for j in jobs {
        total += work(j);
    });
    total
}

fn skew(c: &mut Criterion) {
    type Variant = (&'static str, fn(&[Job]) -> u64);
    let variants: [Variant; 8] = [
        ("sequential", sequential),
        ("rayon par_iter()", rayon_par_iter),
        ("par_bounded! schedule = static", bounded_static),
        ("par_bounded! schedule = dynamic", bounded_dynamic),
        ("par_bounded! schedule = guided", bounded_guided),
        ("par_bounded! schedule = steal", bounded_steal),
        (
            "par_bounded! schedule = steal, whole auto-sized batches",
            bounded_steal_whole,
        ),
        (
            "par_bounded! schedule = dynamic, batch = 16",
            bounded_dynamic_16,
        ),
    ];

    let mut g = c.benchmark_group("skewed work");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(ITEMS as u64));
    for (layout, clustered) in [("spread", false), ("clustered", true)] {
        let jobs = jobs(clustered);
        let expected = sequential(&jobs);
        for (name, f) in variants {
            assert_eq!(f(&jobs), expected, "{name}, {layout}");
        }
        for (name, f) in variants {
            g.bench_with_input(BenchmarkId::new(name, layout), &jobs, |b, jobs| {
                b.iter(|| f(black_box(jobs)))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, skew);
criterion_main!(benches);
