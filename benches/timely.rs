//! `backend = timely` on one machine: 10^8 trivial items (a sum of squares, each item
//! through `black_box` so that the compiler cannot sum a batch in closed form) on 2
//! processes × 1 worker against the rayon backend with `limit = 2` on the same cores,
//! and the fixed cost of a loop across processes (the first loop's connect, then the
//! exchange of every loop). Run with
//! `cargo bench --bench timely --features timely`.
//!
//! The launcher measures rayon first, alone, then starts the two processes, which
//! measure the timely loops while nothing else of the benchmark runs; process 0 prints
//! the figures, and the launcher the ratio.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bounded::bounded;
use bounded::cluster::{Launch, Role};

const ITEMS: u64 = 100_000_000;
const REPEATS: usize = 5;
const SMALL_LOOPS: u32 = 200;

#[bounded(limit = 2, reduce(total: +))]
fn on_rayon(n: u64) -> u128 {
    let mut total = 0u128;
    for x in 0..n {
        let x = u128::from(black_box(x));
        total += x * x;
    }
    total
}

fn sequential(n: u64) -> u128 {
    let mut total = 0u128;
    for x in 0..n {
        let x = u128::from(black_box(x));
        total += x * x;
    }
    total
}

#[bounded(backend = timely, reduce(total: +))]
fn on_timely(n: u64) -> u128 {
    let mut total = 0u128;
    for x in 0..n {
        let x = u128::from(black_box(x));
        total += x * x;
    }
    total
}

/// The fastest of `REPEATS` runs, in seconds, and the answer.
fn best(f: impl Fn() -> u128) -> (f64, u128) {
    let mut best = Duration::MAX;
    let mut answer = 0;
    for _ in 0..REPEATS {
        let t = Instant::now();
        answer = black_box(f());
        best = best.min(t.elapsed());
    }
    (best.as_secs_f64(), answer)
}

fn main() {
    // The launcher (the process `cargo bench` starts) measures rayon alone first.
    let launcher = std::env::var_os("BOUNDED_PROCESS").is_none();
    let rayon = if launcher {
        let (seconds, answer) = best(|| on_rayon(black_box(ITEMS)));
        println!("rayon, limit = 2, 10^8 items: {seconds:.3} s (best of {REPEATS})");
        let (one, same) = best(|| sequential(black_box(ITEMS)));
        assert_eq!(same, answer);
        println!("sequential loop, 10^8 items: {one:.3} s (best of {REPEATS})");
        format!("{seconds}:{answer}")
    } else {
        String::new()
    };
    match Launch::new(2)
        .workers(1)
        .port(24600)
        .env("BENCH_RAYON", rayon)
        .run()
    {
        Role::Launcher(done) => {
            for m in &done.members {
                let figures: String = m
                    .stdout
                    .lines()
                    .filter(|l| l.starts_with("timely"))
                    .map(|l| format!("{l}\n"))
                    .collect();
                print!("{figures}");
                eprint!("{}", m.stderr);
            }
            assert!(done.success(), "a process failed");
        }
        Role::Member(member) => {
            let rayon = std::env::var("BENCH_RAYON").expect("set by the launcher");
            let (rayon, expected) = rayon.split_once(':').expect("seconds:answer");
            let rayon: f64 = rayon.parse().expect("seconds");
            let expected: u128 = expected.parse().expect("answer");
            let t = Instant::now();
            assert_eq!(on_timely(2), 1);
            let connect = t.elapsed();
            let t = Instant::now();
            for _ in 0..SMALL_LOOPS {
                black_box(on_timely(black_box(2)));
            }
            let per_loop = t.elapsed() / SMALL_LOOPS;
            let (timely, answer) = best(|| on_timely(black_box(ITEMS)));
            assert_eq!(answer, expected, "the same sum on both backends");
            if member.process == 0 {
                println!("timely, 2 processes x 1 worker, 10^8 items: {timely:.3} s (best of {REPEATS}): {:.2}x rayon", timely / rayon);
                println!(
                    "timely, first loop (connect + exchange): {:.1} ms",
                    connect.as_secs_f64() * 1e3
                );
                println!(
                    "timely, fixed cost of a loop (exchange), mean of {SMALL_LOOPS}: {:.3} ms",
                    per_loop.as_secs_f64() * 1e3
                );
            }
        }
    }
}
