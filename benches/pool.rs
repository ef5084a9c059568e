//! Pool dispatch: what handing one item to a worker costs, unbatched and batched,
//! beside a hand-written crossbeam-channel pool and the `threadpool` crate, in one run.
//!
//! Every variant runs the same 100,000 trivial jobs on two workers and waits for all
//! of them; criterion's throughput gives the cost per item. Every queue holds up to
//! 1,024 jobs (or batches), as the hand-written pool's channel does, so the variants
//! differ in how they hand work over, not in how often their producer must wait.

use bounded::par_bounded;
use bounded::pool::{Pool, Shutdown};
use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::sync::atomic::{
    AtomicU64,
    Ordering::{AcqRel, Acquire, Release},
};
use std::sync::{Condvar, Mutex};
use std::thread;
use std::time::Duration;

const ITEMS: u64 = 100_000;
const WORKERS: usize = 2;

/// The job every variant runs: trivial and not elidable, and touching no shared cache
/// line, so what is measured is the dispatch.
#[inline]
fn job(x: u64) {
    black_box(x.wrapping_mul(0x9E37_79B9_7F4A_7C15));
}

/// A counter a submitter waits on until it reaches zero, as Go's `sync.WaitGroup` is:
/// `done` is one atomic decrement, and only the last one takes the lock to wake the
/// waiter (a lock per job would be contended by the workers, and measured as dispatch).
/// One lives for the whole bench and is armed per round, so a job captures a plain
/// reference, not an `Arc` whose count every submission and every job would bounce
/// between cores: the same for every variant, and not the pools' cost.
struct WaitGroup {
    left: AtomicU64,
    lock: Mutex<()>,
    zero: Condvar,
}

impl WaitGroup {
    /// The bench's one wait group, armed for `n` jobs (the last round's have all ended).
    fn armed(n: u64) -> &'static Self {
        static WG: WaitGroup = WaitGroup {
            left: AtomicU64::new(0),
            lock: Mutex::new(()),
            zero: Condvar::new(),
        };
        WG.left.store(n, Release);
        &WG
    }
    fn done(&self) {
        if self.left.fetch_sub(1, AcqRel) == 1 {
            // Under the lock: a waiter that saw a count above zero is already waiting.
            let _held = self.lock.lock().unwrap();
            self.zero.notify_all();
        }
    }
    fn wait(&self) {
        let mut held = self.lock.lock().unwrap();
        while self.left.load(Acquire) > 0 {
            held = self.zero.wait(held).unwrap();
        }
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// The pool people write by hand: a bounded crossbeam channel and N threads.
struct ChannelPool {
    tx: Option<crossbeam_channel::Sender<Job>>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl ChannelPool {
    fn new(workers: usize, queue: usize) -> Self {
        let (tx, rx) = crossbeam_channel::bounded::<Job>(queue);
        let threads = (0..workers)
            .map(|_| {
                let rx = rx.clone();
                thread::spawn(move || {
                    for job in rx {
                        job();
                    }
                })
            })
            .collect();
        ChannelPool {
            tx: Some(tx),
            threads,
        }
    }
    fn execute(&self, job: impl FnOnce() + Send + 'static) {
        self.tx.as_ref().unwrap().send(Box::new(job)).unwrap();
    }
}

impl Drop for ChannelPool {
    fn drop(&mut self) {
        self.tx.take();
        for t in self.threads.drain(..) {
            t.join().unwrap();
        }
    }
}

/// The pool every `bounded::Pool` variant runs on: two prestarted workers and the same
/// 1,024-deep queue as the hand-written pool's channel.
fn bench_pool() -> Pool {
    Pool::builder()
        .name("bench")
        .workers(WORKERS)
        .queue(1024)
        .prestart()
        .build()
        .unwrap()
}

/// One round of a variant: 100,000 jobs handed over and waited for.
type Round<'a> = Box<dyn FnMut() + 'a>;

/// Every unbatched variant, as criterion measures them and as the alternating rounds
/// run them.
fn unbatched<'a>(
    pool: &'a Pool,
    handmade: &'a ChannelPool,
    tp: &'a threadpool::ThreadPool,
    items: &'a [u64],
) -> Vec<(&'static str, Round<'a>)> {
    vec![
        (
            "bounded::Pool::execute",
            Box::new(|| {
                let wg = WaitGroup::armed(ITEMS);
                for x in 0..ITEMS {
                    pool.execute(move || {
                        job(x);
                        wg.done();
                    })
                    .unwrap();
                }
                wg.wait();
            }),
        ),
        (
            "bounded::Pool::scope",
            Box::new(|| {
                pool.scope(|s| {
                    for x in 0..ITEMS {
                        s.execute(move || job(x)).unwrap();
                    }
                })
            }),
        ),
        (
            "crossbeam-channel pool",
            Box::new(|| {
                let wg = WaitGroup::armed(ITEMS);
                for x in 0..ITEMS {
                    handmade.execute(move || {
                        job(x);
                        wg.done();
                    });
                }
                wg.wait();
            }),
        ),
        (
            "threadpool crate",
            Box::new(|| {
                for x in 0..ITEMS {
                    tp.execute(move || job(x));
                }
                tp.join();
            }),
        ),
        (
            "par_bounded! backend = pool, batch = 1",
            Box::new(move || {
                par_bounded!(backend = pool, limit = WORKERS, batch = 1, queue = 1024; for x in items {
                    job(*x);
                });
            }),
        ),
    ]
}

fn dispatch(c: &mut Criterion) {
    let mut g = c.benchmark_group("pool dispatch");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(ITEMS));

    let pool = bench_pool();
    let handmade = ChannelPool::new(WORKERS, 1024);
    let tp = threadpool::ThreadPool::new(WORKERS);
    let items: Vec<u64> = (0..ITEMS).collect();
    for (name, mut round) in unbatched(&pool, &handmade, &tp, &items) {
        g.bench_function(BenchmarkId::new("unbatched", name), |b| b.iter(&mut round));
    }
    g.bench_function(
        BenchmarkId::new("batched", "par_bounded! backend = pool, batch = 1024"),
        |b| {
            b.iter(|| {
                par_bounded!(backend = pool, limit = WORKERS, batch = 1024, queue = 1024; for x in &items {
                    job(*x);
                });
            })
        },
    );
    g.bench_function(
        BenchmarkId::new("batched", "crossbeam-channel pool, 1024 per job"),
        |b| {
            b.iter(|| {
                let wg = WaitGroup::armed(ITEMS.div_ceil(1024));
                for start in (0..ITEMS).step_by(1024) {
                    handmade.execute(move || {
                        for x in start..(start + 1024).min(ITEMS) {
                            job(x);
                        }
                        wg.done();
                    });
                }
                wg.wait();
            })
        },
    );
    g.finish();
    pool.shutdown(Shutdown::Drain);
}

criterion_group!(benches, dispatch);

/// `cargo bench --bench pool -- alternating`: every unbatched variant in alternating
/// rounds of 100,000 jobs, each round running each variant once in a rotating order,
/// and a markdown table of their medians (`scripts/benchmarks` keeps it for the
/// report). On a machine where the submitter and the workers share the cores, how the
/// scheduler places the three threads can last for seconds and favour whichever
/// variant criterion measures then; alternating rounds spread it over all of them.
fn alternating() {
    const ROUNDS: usize = 21;
    let pool = bench_pool();
    let handmade = ChannelPool::new(WORKERS, 1024);
    let tp = threadpool::ThreadPool::new(WORKERS);
    let items: Vec<u64> = (0..ITEMS).collect();
    let mut variants = unbatched(&pool, &handmade, &tp, &items);
    let n = variants.len();
    for (_, run) in variants.iter_mut() {
        run();
    }
    let mut ns: Vec<Vec<f64>> = vec![Vec::new(); n];
    for round in 0..ROUNDS {
        for k in 0..n {
            let v = (k + round) % n;
            let started = std::time::Instant::now();
            (variants[v].1)();
            ns[v].push(started.elapsed().as_nanos() as f64 / ITEMS as f64);
        }
    }
    println!("## unbatched dispatch in alternating rounds\n");
    println!(
        "{ROUNDS} rounds of {},{:03} jobs on {WORKERS} workers, each variant once a round in a rotating order.\n",
        ITEMS / 1000,
        ITEMS % 1000
    );
    println!("| variant | median ns/item | quartiles |");
    println!("| --- | ---: | ---: |");
    for ((name, _), mut v) in variants.iter().zip(ns) {
        v.sort_by(f64::total_cmp);
        let at = |q: usize| v[(v.len() - 1) * q / 4];
        println!("| {name} | {:.1} | {:.0}–{:.0} |", at(2), at(1), at(3));
    }
    drop(variants);
    pool.shutdown(Shutdown::Drain);
}

fn main() {
    if std::env::args().any(|a| a == "alternating") {
        alternating();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
