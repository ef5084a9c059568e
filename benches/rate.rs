//! `rate = N / s`: what the token bucket costs when it never makes an item wait, and
//! how close a loop gets to the rate it was given.
//!
//! - `rate overhead`: 100,000 cheap items (a multiply-add each) on one lane and on two,
//!   with and without `rate = 1000000 / ms, burst = 1000000` (a billion per second: no
//!   item ever waits), so the difference is the per-item token. In the same run, the
//!   bucket alone: one token per item against one `check_n` of 256 per batch (the
//!   up-front alternative the engine does not use, see the reference's decisions).
//! - `rate accuracy` (printed before the groups): the achieved rate of a 4-lane loop
//!   at 1,000/s, 5,000/s and 20,000/s (1 s of starts each), with a burst of 1 and of
//!   10, on rayon, the pool and async.
//!
//! `cargo bench --bench rate`

use bounded::par_bounded;
use criterion::{criterion_group, BenchmarkId, Criterion, SamplingMode, Throughput};
use governor::clock::Clock;
use governor::{Quota, RateLimiter};
use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

const ITEMS: u64 = 100_000;

fn plain(xs: &[u64], limit: usize) -> u64 {
    let mut total = 0u64;
    par_bounded!(limit = limit, batch = 1024, reduce(total: +); for x in xs {
        total += black_box(x.wrapping_mul(2_654_435_761) >> 7);
    });
    total
}

fn paced(xs: &[u64], limit: usize) -> u64 {
    let mut total = 0u64;
    par_bounded!(limit = limit, batch = 1024, rate = 1_000_000 / ms, burst = 1_000_000, reduce(total: +); for x in xs {
        total += black_box(x.wrapping_mul(2_654_435_761) >> 7);
    });
    total
}

/// The runtime's bucket clock, for the bucket-alone figures.
#[derive(Clone)]
struct Since(Instant);

impl Clock for Since {
    type Instant = Duration;
    fn now(&self) -> Duration {
        self.0.elapsed()
    }
}

fn overhead(c: &mut Criterion) {
    let xs: Vec<u64> = (0..ITEMS).collect();
    assert_eq!(plain(&xs, 2), paced(&xs, 2));
    let mut g = c.benchmark_group("rate overhead");
    g.sample_size(20)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(ITEMS));
    for limit in [1usize, 2] {
        g.bench_with_input(BenchmarkId::new("without rate", limit), &limit, |b, &l| {
            b.iter(|| plain(&xs, l))
        });
        g.bench_with_input(BenchmarkId::new("with rate", limit), &limit, |b, &l| {
            b.iter(|| paced(&xs, l))
        });
    }
    let quota = Quota::with_period(Duration::from_nanos(1))
        .unwrap()
        .allow_burst(NonZeroU32::MAX);
    g.bench_function("bucket: a token per item", |b| {
        b.iter_batched(
            || RateLimiter::direct_with_clock(quota, Since(Instant::now())),
            |bucket| {
                for _ in 0..ITEMS {
                    black_box(bucket.check()).unwrap();
                }
            },
            criterion::BatchSize::LargeInput,
        )
    });
    let batch = NonZeroU32::new(256).unwrap();
    g.bench_function("bucket: 256 tokens per batch", |b| {
        b.iter_batched(
            || RateLimiter::direct_with_clock(quota, Since(Instant::now())),
            |bucket| {
                for _ in 0..ITEMS / 256 {
                    black_box(bucket.check_n(batch)).unwrap().unwrap();
                }
            },
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
}

/// Starts per second achieved by a 4-lane loop asked for `per_second` with `burst`,
/// over about a second of starts.
fn achieved(backend: &str, per_second: u32, burst: u32) -> f64 {
    let items = per_second as u64;
    let xs: Vec<u64> = (0..items).collect();
    let last = AtomicU64::new(0);
    let began = Instant::now();
    let start = |_: &u64| {
        last.fetch_max(began.elapsed().as_nanos() as u64, Relaxed);
    };
    match backend {
        "rayon" => {
            par_bounded!(limit = 4, rate = per_second / s, burst = burst; for x in &xs { start(x); })
        }
        "pool" => {
            par_bounded!(limit = 4, rate = per_second / s, burst = burst, backend = pool; for x in &xs { start(x); })
        }
        _ => futures::executor::block_on(async {
            par_bounded!(limit = 4, rate = per_second / s, burst = burst; for x in &xs {
                start(x);
                std::future::ready(()).await;
            })
        }),
    }
    // The first `burst` tokens are there at once.
    (items - u64::from(burst)) as f64 / (last.load(Relaxed) as f64 / 1e9)
}

fn accuracy() {
    println!("rate accuracy: achieved starts per second of a 4-lane loop (1 s of starts each)");
    for backend in ["rayon", "pool", "async"] {
        for per_second in [1_000u32, 5_000, 20_000] {
            for burst in [1u32, 10] {
                let got = achieved(backend, per_second, burst);
                println!(
                    "  {backend:>5} asked {per_second:>6}/s burst {burst:>2}  achieved {got:>9.1}/s  ({:+.2}%)",
                    (got / f64::from(per_second) - 1.0) * 100.0
                );
            }
        }
    }
}

criterion_group!(benches, overhead);

fn main() {
    accuracy();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
