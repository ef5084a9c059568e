//! The main job: every pattern, the naive version beside the `bounded` one, measured on
//! this machine and printed as one table.
//!
//! ```sh
//! cargo run --release --example showcase                       # everything, < 1 min
//! cargo run --release --example showcase -- --scenario skew    # one scenario
//! cargo run --release --example showcase -- --scenario sum --items 50000000
//! cargo run --release --example showcase -- --help             # the scenarios
//! ```
//!
//! Each row runs in a fresh process (this binary, re-executed with a hidden `--child`
//! argument), so its peak memory is its own. The child repeats the measured section and
//! reports the run with the median wall time. Every row computes the same answer as the
//! row it is compared with, and the program stops if one does not.
//!
//! Read the scenario modules below as documentation: each variant is one short function,
//! the naive code first, then the `bounded` code that replaces it.

#[path = "support/mod.rs"]
mod support;

use std::process::ExitCode;
use std::time::Duration;

use support::{fmt_count, fmt_duration, fmt_items, fmt_mib, fmt_rate, Report, Run};

// ---------------------------------------------------------------------------------
// The scenarios.

struct Scenario {
    name: &'static str,
    about: &'static str,
    items: usize,
    variants: &'static [Variant],
}

struct Variant {
    key: &'static str,
    label: &'static str,
    /// The row this one is compared with (time ratio, and the answer must be equal).
    vs: Option<&'static str>,
    kind: Kind,
    /// Its loop shows a progress bar: its process writes to our terminal directly.
    draws: bool,
}

enum Kind {
    /// Runs in a child process; `rayon` says whether it needs rayon's global pool (which
    /// `bounded` runs on), so that rows that spawn their own threads do not count idle
    /// pool workers.
    Measured { run: fn(usize) -> Run, rayon: bool },
    /// The wall time of the named row divided by the number of CPUs: perfect scaling.
    IdealOf(&'static str),
}

/// A row that runs on rayon's global pool (every `bounded` row).
const fn row(key: &'static str, label: &'static str, run: fn(usize) -> Run) -> Variant {
    Variant {
        key,
        label,
        vs: None,
        kind: Kind::Measured { run, rayon: true },
        draws: false,
    }
}

/// A row that runs on the calling thread or on threads it spawns itself.
const fn own_threads(key: &'static str, label: &'static str, run: fn(usize) -> Run) -> Variant {
    Variant {
        kind: Kind::Measured { run, rayon: false },
        ..row(key, label, run)
    }
}

/// The `ideal` row: the row `base`'s wall time divided by the number of CPUs.
const fn ideal_of(base: &'static str) -> Variant {
    Variant {
        key: "ideal",
        label: "ideal: sequential / cpus",
        vs: None,
        kind: Kind::IdealOf(base),
        draws: false,
    }
}

impl Variant {
    /// Compares this row with the row `key` of the same scenario.
    const fn vs(self, key: &'static str) -> Variant {
        Variant {
            vs: Some(key),
            ..self
        }
    }

    /// This row's loop shows a progress bar (`progress`), drawn live in a terminal.
    const fn draws(self) -> Variant {
        Variant {
            draws: true,
            ..self
        }
    }
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "fanout",
        about: "10,000 tasks of ~20 µs: a thread per item vs #[bounded(limit = cpus)]",
        items: 10_000,
        variants: &[
            own_threads(
                "naive",
                "a thread per item (scope)",
                fanout::thread_per_item,
            ),
            row("bounded", "#[bounded(limit = cpus)]", fanout::bounded).vs("naive"),
        ],
    },
    Scenario {
        name: "batching",
        about: "10M trivial items (x * 3 + 1, summed): dispatch cost of batch = 1 vs auto vs rayon",
        items: 10_000_000,
        variants: &[
            row("rayon", "rayon par_iter().map().sum()", batching::rayon),
            row("batch=1", "par_bounded!(batch = 1)", batching::batch_one).vs("rayon"),
            row("auto", "par_bounded!(batch = auto)", batching::batch_auto).vs("rayon"),
        ],
    },
    Scenario {
        name: "reduce",
        about: "2M words into counts, and their total length: a Mutex per item vs reduce(...)",
        items: 2_000_000,
        variants: &[
            row(
                "mutex-map",
                "Mutex<HashMap> per item (rayon)",
                reduce::map_mutex,
            ),
            row("merge", "reduce(counts: merge)", reduce::map_merge).vs("mutex-map"),
            row(
                "mutex-sum",
                "Mutex<u64> per item (rayon)",
                reduce::sum_mutex,
            ),
            row("plus", "reduce(total: +)", reduce::sum_plus).vs("mutex-sum"),
        ],
    },
    Scenario {
        name: "skew",
        about: "20,000 items of ~10 µs, 1% at random 100x slower: each schedule vs ideal, and what a progress bar costs",
        items: 20_000,
        variants: &[
            own_threads("sequential", "sequential for loop", skew::sequential).vs("ideal"),
            ideal_of("sequential"),
            row("static", "par_bounded!(schedule = static)", skew::fixed).vs("ideal"),
            row("dynamic", "par_bounded!(schedule = dynamic)", skew::dynamic).vs("ideal"),
            row("guided", "par_bounded!(schedule = guided)", skew::guided).vs("ideal"),
            row(
                "guided-bar",
                "the same, with a progress bar",
                skew::guided_bar,
            )
            .vs("guided")
            .draws(),
            row("steal", "par_bounded!(schedule = steal)", skew::steal).vs("ideal"),
            row("rayon", "rayon into_par_iter().map().sum()", skew::rayon).vs("ideal"),
        ],
    },
    Scenario {
        name: "sum",
        about: "sum of 10M u64 in a Vec: sequential vs rayon vs reduce(total: +)",
        items: 10_000_000,
        variants: &[
            own_threads("sequential", "sequential iter().sum()", sum::sequential),
            row("rayon", "rayon par_iter().sum()", sum::rayon).vs("sequential"),
            row("bounded", "par_bounded!(reduce(total: +))", sum::bounded).vs("rayon"),
        ],
    },
    Scenario {
        name: "memory",
        about: "1M items of 64 bytes through an unbounded queue vs a pulled bounded loop",
        items: 1_000_000,
        variants: &[
            own_threads(
                "queue",
                "unbounded channel + cpus workers",
                memory::unbounded_channel,
            ),
            own_threads("pool", "threadpool: execute per item", memory::threadpool).vs("queue"),
            row(
                "bounded",
                "par_bounded! over an unsized iterator",
                memory::pulled,
            )
            .vs("queue"),
            row(
                "sized",
                "par_bounded! over (0..n).map(..)",
                memory::pulled_sized,
            )
            .vs("queue"),
        ],
    },
    Scenario { name: "right-sizing", about: right_sizing::ABOUT, items: 200, variants: right_sizing::VARIANTS },
    Scenario {
        name: "io-fanout",
        about: "1,000 blocking calls to a downstream of 2,000/s, 10 ms, refusing past 200 in flight: a thread per call vs backend = pool, limit = 20 (= C·L)",
        items: 1_000,
        variants: &[
            own_threads(
                "naive",
                "a thread per call (scope)",
                io_fanout::thread_per_call,
            ),
            own_threads(
                "pool",
                "#[bounded(backend = pool, limit = 20)]",
                io_fanout::bounded_pool,
            )
            .vs("naive"),
        ],
    },
    Scenario {
        name: "async",
        about: "2,000 awaited calls to a downstream of 10,000/s, 5 ms, refusing past 200 in flight: a tokio task per call vs a semaphore vs an async loop, limit = 50 (= C·L)",
        items: 2_000,
        variants: &[
            own_threads(
                "spawn",
                "tokio::spawn per call, unbounded",
                async_fanout::spawn_per_call,
            ),
            own_threads(
                "semaphore",
                "JoinSet + Semaphore(50), by hand",
                async_fanout::join_set,
            ),
            own_threads(
                "bounded",
                "async loop, #[bounded(limit = 50)]",
                async_fanout::bounded,
            )
            .vs("semaphore"),
        ],
    },
];

fn cpus() -> usize {
    bounded::available_cpus()
}

/// Wall time per item, as a note.
fn ns_per_item(run: &Run, items: usize) -> String {
    let ns = run.wall.as_nanos() as f64 / items.max(1) as f64;
    format!("{ns:.2} ns/item")
}

fn per_item(run: Run, items: usize) -> Run {
    let note = ns_per_item(&run, items);
    run.with_note(note)
}

// ---------------------------------------------------------------------------------
// fanout: Go's `go func()` per item, in Rust a thread per item, against a bounded loop.

mod fanout {
    use super::support::{spin, Latencies, Live, Run};
    use bounded::bounded;
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    use std::thread;
    use std::time::Instant;

    /// One task: ~20 µs of computation.
    fn task(i: usize) -> u64 {
        spin(i as u64, 10_000) >> 48
    }

    pub fn thread_per_item(n: usize) -> Run {
        let latencies = Latencies::new(n);
        let total = AtomicU64::new(0);
        let run = Run::time(|| {
            thread::scope(|s| {
                for i in 0..n {
                    let (latencies, total) = (&latencies, &total);
                    s.spawn(move || {
                        let _live = Live::enter();
                        let start = Instant::now();
                        total.fetch_add(task(i), Relaxed);
                        latencies.record(i, start.elapsed());
                    });
                }
            });
            total.load(Relaxed)
        });
        run.with_p99(latencies.p99())
    }

    #[bounded(limit = cpus, reduce(total: +), name = "fanout")]
    fn run_all(n: usize, latencies: &Latencies) -> u64 {
        let mut total = 0;
        for i in 0..n {
            let start = Instant::now();
            total += task(i);
            latencies.record(i, start.elapsed());
        }
        total
    }

    pub fn bounded(n: usize) -> Run {
        let latencies = Latencies::new(n);
        let run = Run::time(|| run_all(n, &latencies));
        run.with_p99(latencies.p99())
            .with_note(super::support::batches_of("fanout"))
    }
}

// ---------------------------------------------------------------------------------
// batching: what one dispatch per item costs, and what batches save.

mod batching {
    use super::support::Run;
    use bounded::par_bounded;
    use rayon::prelude::*;

    fn input(n: usize) -> Vec<u64> {
        (0..n as u64).collect()
    }

    pub fn rayon(n: usize) -> Run {
        let data = input(n);
        let run = Run::time(|| data.par_iter().map(|x| x * 3 + 1).sum());
        super::per_item(run, n)
    }

    pub fn batch_one(n: usize) -> Run {
        let data = input(n);
        let run = Run::time(|| {
            let mut total = 0u64;
            par_bounded!(batch = 1, reduce(total: +); for x in &data {
                total += x * 3 + 1;
            });
            total
        });
        super::per_item(run, n)
    }

    pub fn batch_auto(n: usize) -> Run {
        let data = input(n);
        let run = Run::time(|| {
            let mut total = 0u64;
            par_bounded!(batch = auto, reduce(total: +), name = "batching"; for x in &data {
                total += x * 3 + 1;
            });
            total
        });
        let note = format!(
            "{}, {}",
            super::ns_per_item(&run, n),
            super::support::batches_of("batching")
        );
        run.with_note(note)
    }
}

// ---------------------------------------------------------------------------------
// reduce: a shared Mutex touched by every item, against per-batch copies combined once.

mod reduce {
    use super::support::{mix, Run};
    use bounded::bounded;
    use rayon::prelude::*;
    use std::collections::HashMap;
    use std::sync::Mutex;

    const KEYS: u64 = 10_000;

    fn vocabulary() -> Vec<String> {
        (0..KEYS).map(|k| format!("key{k:05}")).collect()
    }

    fn words(vocabulary: &[String], n: usize) -> Vec<&str> {
        (0..n as u64)
            .map(|i| vocabulary[(mix(i) % KEYS) as usize].as_str())
            .collect()
    }

    /// The same number for the same counts, whatever the map's order.
    fn fingerprint(counts: &HashMap<&str, u64>) -> u64 {
        counts
            .iter()
            .map(|(word, count)| mix(word.bytes().fold(0, |h, b| h * 31 + u64::from(b))) ^ count)
            .fold(0, u64::wrapping_add)
    }

    pub fn map_mutex(n: usize) -> Run {
        let vocabulary = vocabulary();
        let words = words(&vocabulary, n);
        Run::time(|| {
            let counts = Mutex::new(HashMap::new());
            words.par_iter().for_each(|word| {
                *counts.lock().unwrap().entry(*word).or_insert(0u64) += 1;
            });
            fingerprint(&counts.into_inner().unwrap())
        })
    }

    #[bounded(reduce(counts: merge))]
    fn count<'a>(words: &[&'a str]) -> HashMap<&'a str, u64> {
        let mut counts = HashMap::new();
        for word in words {
            *counts.entry(*word).or_insert(0) += 1;
        }
        counts
    }

    pub fn map_merge(n: usize) -> Run {
        let vocabulary = vocabulary();
        let words = words(&vocabulary, n);
        Run::time(|| fingerprint(&count(&words)))
    }

    pub fn sum_mutex(n: usize) -> Run {
        let vocabulary = vocabulary();
        let words = words(&vocabulary, n);
        Run::time(|| {
            let total = Mutex::new(0u64);
            words.par_iter().for_each(|word| {
                *total.lock().unwrap() += word.len() as u64;
            });
            total.into_inner().unwrap()
        })
    }

    #[bounded(reduce(total: +))]
    fn total_len(words: &[&str]) -> u64 {
        let mut total = 0;
        for word in words {
            total += word.len() as u64;
        }
        total
    }

    pub fn sum_plus(n: usize) -> Run {
        let vocabulary = vocabulary();
        let words = words(&vocabulary, n);
        Run::time(|| total_len(&words))
    }
}

// ---------------------------------------------------------------------------------
// skew: uneven items, and how each schedule copes.

mod skew {
    use super::support::{mix, spin, Run};
    use bounded::par_bounded;
    use rayon::prelude::*;

    const FAST: u32 = 5_000; // ~10 µs
    const SLOW: u32 = 100 * FAST; // ~1 ms

    /// Item `i`: 1% of the items, chosen by a hash of `i`, are 100x slower.
    fn item(i: usize) -> u64 {
        let rounds = if mix(i as u64) % 100 == 0 { SLOW } else { FAST };
        spin(i as u64, rounds) >> 48
    }

    pub fn sequential(n: usize) -> Run {
        Run::time(|| (0..n).map(item).sum())
    }

    pub fn fixed(n: usize) -> Run {
        let run = Run::time(|| {
            let mut total = 0u64;
            par_bounded!(schedule = static, reduce(total: +), name = "static"; for i in 0..n {
                total += item(i);
            });
            total
        });
        run.with_note(super::support::batches_of("static"))
    }

    pub fn dynamic(n: usize) -> Run {
        let run = Run::time(|| {
            let mut total = 0u64;
            par_bounded!(schedule = dynamic, reduce(total: +), name = "dynamic"; for i in 0..n {
                total += item(i);
            });
            total
        });
        run.with_note(super::support::batches_of("dynamic"))
    }

    pub fn guided(n: usize) -> Run {
        let run = Run::time(|| {
            let mut total = 0u64;
            par_bounded!(schedule = guided, reduce(total: +), name = "guided"; for i in 0..n {
                total += item(i);
            });
            total
        });
        run.with_note(super::support::batches_of("guided"))
    }

    /// `guided` again, showing a bar: in a terminal, the bar is drawn while it runs, and
    /// the row's time against `guided` is what the bar costs.
    pub fn guided_bar(n: usize) -> Run {
        let run = Run::time(|| {
            let mut total = 0u64;
            par_bounded!(schedule = guided, reduce(total: +), name = "guided-bar", progress = "skew/guided"; for i in 0..n {
                total += item(i);
            });
            total
        });
        let drawn = std::io::IsTerminal::is_terminal(&std::io::stderr());
        run.with_note(if drawn {
            "bar drawn on stderr".to_owned()
        } else {
            "stderr is no terminal: no bar".to_owned()
        })
    }

    pub fn steal(n: usize) -> Run {
        let run = Run::time(|| {
            let mut total = 0u64;
            par_bounded!(schedule = steal, reduce(total: +), name = "steal"; for i in 0..n {
                total += item(i);
            });
            total
        });
        run.with_note(super::support::batches_of("steal"))
    }

    pub fn rayon(n: usize) -> Run {
        Run::time(|| (0..n).into_par_iter().map(item).sum())
    }
}

// ---------------------------------------------------------------------------------
// sum: the performance contract's trivial loop.

mod sum {
    use super::support::Run;
    use bounded::par_bounded;
    use rayon::prelude::*;

    fn input(n: usize) -> Vec<u64> {
        (0..n as u64).collect()
    }

    pub fn sequential(n: usize) -> Run {
        let data = input(n);
        super::per_item(Run::time(|| data.iter().sum()), n)
    }

    pub fn rayon(n: usize) -> Run {
        let data = input(n);
        super::per_item(Run::time(|| data.par_iter().sum()), n)
    }

    pub fn bounded(n: usize) -> Run {
        let data = input(n);
        let run = Run::time(|| {
            let mut total = 0u64;
            par_bounded!(reduce(total: +); for x in &data {
                total += x;
            });
            total
        });
        super::per_item(run, n)
    }
}

// ---------------------------------------------------------------------------------
// memory: a producer faster than its consumers, with and without a bound.

mod memory {
    use super::support::{lazy_items, Item, Live, Run};
    use bounded::par_bounded;
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    use std::sync::{Arc, OnceLock};
    use std::thread;
    use threadpool::ThreadPool;

    /// Consuming an item costs more than producing it (~0.1 µs against ~0.02 µs), as
    /// when parsing, hashing or writing records read from a file or a socket.
    fn consume(item: &Item) -> u64 {
        item.digest()
    }

    pub fn unbounded_channel(n: usize) -> Run {
        let mut backlog = 0;
        let run = Run::time(|| {
            let (tx, rx) = crossbeam_channel::unbounded::<Item>();
            thread::scope(|s| {
                let workers: Vec<_> = (0..super::cpus())
                    .map(|_| {
                        let rx = rx.clone();
                        s.spawn(move || {
                            let _live = Live::enter();
                            rx.iter().map(|item| consume(&item)).sum::<u64>()
                        })
                    })
                    .collect();
                for id in 0..n as u64 {
                    tx.send(Item::new(id)).unwrap();
                    if id % 1024 == 0 {
                        backlog = backlog.max(tx.len());
                    }
                }
                drop(tx);
                workers.into_iter().map(|w| w.join().unwrap()).sum()
            })
        });
        run.with_note(format!(
            "queue peaked at {} items",
            super::fmt_items(backlog)
        ))
    }

    /// A long-lived pool, as a server would keep one: its workers start once per process.
    fn pool() -> &'static ThreadPool {
        static POOL: OnceLock<ThreadPool> = OnceLock::new();
        POOL.get_or_init(|| ThreadPool::new(super::cpus()))
    }

    pub fn threadpool(n: usize) -> Run {
        let pool = pool();
        Run::time(|| {
            let total = Arc::new(AtomicU64::new(0));
            for id in 0..n as u64 {
                let item = Item::new(id);
                let total = Arc::clone(&total);
                pool.execute(move || {
                    total.fetch_add(consume(&item), Relaxed);
                });
            }
            pool.join();
            total.load(Relaxed)
        })
    }

    pub fn pulled(n: usize) -> Run {
        let run = Run::time(|| {
            let mut total = 0u64;
            par_bounded!(reduce(total: +), name = "pulled"; for item in lazy_items(n as u64) {
                total += consume(&item);
            });
            total
        });
        run.with_note(super::support::batches_of("pulled"))
    }

    pub fn pulled_sized(n: usize) -> Run {
        let run = Run::time(|| {
            let mut total = 0u64;
            let items = (0..n as u64).map(Item::new);
            par_bounded!(reduce(total: +), name = "sized"; for item in items {
                total += consume(&item);
            });
            total
        });
        run.with_note(super::support::batches_of("sized"))
    }
}

// ---------------------------------------------------------------------------------
// right-sizing: one downstream, every way of choosing the bound. The seeds' table, on
// the simulated downstream of `bounded::sim`.

mod right_sizing {
    use super::support::Run;
    use super::{own_threads, Variant};
    use bounded::sim::Downstream;
    use bounded::{bounded, CancelToken};
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    use std::sync::{Mutex, OnceLock};
    use std::time::{Duration, Instant};

    /// C = 50 requests/s and L = 200 ms, time-scaled ×10 so a row takes about a second:
    /// C = 500/s, L = 20 ms (C·L = 10 either way). Past 2·C·L in flight it answers
    /// `Overloaded`. Each row is measured once per process (not `--reps` times): the
    /// downstream is simulated, and five runs of the slow rows would take half a minute.
    pub const ABOUT: &str = "C = 50/s, L = 200 ms (run x10 faster: 500/s, 20 ms), refusing past 20 in flight: each bound, N items after a 0.4 s warm-up, one run";
    const CAPACITY: f64 = 500.0;
    const LATENCY: Duration = Duration::from_millis(20);
    const HARD_LIMIT: usize = 20;
    const WARM_UP: Duration = Duration::from_millis(400);

    /// The row's one measured run, handed to every repetition.
    fn once(measure: impl FnOnce() -> Run) -> Run {
        static RUN: OnceLock<Run> = OnceLock::new();
        let run = RUN.get_or_init(measure);
        Run {
            wall: run.wall,
            answer: run.answer,
            p99: run.p99,
            note: run.note.clone(),
        }
    }

    /// One row per way of choosing the bound; a new way is one more line.
    pub const VARIANTS: &[Variant] = &[
        own_threads("1", "limit = 1", |n| fixed(1, n)),
        own_threads("4", "limit = 4", |n| fixed(4, n)),
        own_threads("8", "limit = 8", |n| fixed(8, n)),
        own_threads("10", "limit = 10 (= C·L, told)", |n| fixed(10, n)),
        own_threads("16", "limit = 16", |n| fixed(16, n)),
        own_threads("32", "limit = 32", |n| fixed(32, n)),
        own_threads("64", "limit = 64", |n| fixed(64, n)),
        own_threads("adaptive", "limit = adaptive(max = 64)", adaptive),
        own_threads("rate", "rate = 50 / s (x10), limit = 64", rated),
    ];

    fn downstream() -> Downstream {
        Downstream::builder(CAPACITY, LATENCY)
            .jitter(LATENCY / 20)
            .hard_limit(HARD_LIMIT)
            .seed(50)
            .build()
    }

    /// What one row measures after the warm-up: the downstream's latency of each
    /// answered item, the errors, and when the measured part started and ended.
    struct Tally {
        started: Instant,
        want: u64,
        served: AtomicU64,
        errors: AtomicU64,
        latencies: Mutex<Vec<Duration>>,
        window: OnceLock<Instant>,
        ended: OnceLock<Instant>,
        stop: CancelToken,
    }

    impl Tally {
        fn new(want: usize) -> Self {
            Tally {
                started: Instant::now(),
                want: want as u64,
                served: AtomicU64::new(0),
                errors: AtomicU64::new(0),
                latencies: Mutex::new(Vec::with_capacity(want)),
                window: OnceLock::new(),
                ended: OnceLock::new(),
                stop: CancelToken::new(),
            }
        }

        /// One request's answer; `Err` goes on as the body's error.
        fn answer(
            &self,
            answer: Result<Duration, bounded::Overloaded>,
        ) -> Result<(), bounded::Overloaded> {
            let now = Instant::now();
            if now - self.started < WARM_UP {
                return answer.map(|_| ());
            }
            self.window.get_or_init(|| now);
            match answer {
                Ok(took) => {
                    self.latencies.lock().unwrap().push(took);
                    if self.served.fetch_add(1, Relaxed) + 1 == self.want {
                        let _ = self.ended.set(now);
                        self.stop.cancel();
                    }
                    Ok(())
                }
                Err(e) => {
                    self.errors.fetch_add(1, Relaxed);
                    Err(e)
                }
            }
        }

        fn run(self, limit: String) -> Run {
            let start = *self.window.get().expect("items after the warm-up");
            let end = *self.ended.get().unwrap_or(&Instant::now());
            let mut l = self.latencies.into_inner().unwrap();
            l.sort_unstable();
            let at = |q: f64| l[((l.len() as f64 * q).ceil() as usize).clamp(1, l.len()) - 1];
            let (p50, p99) = (at(0.5), at(0.99));
            let errors = self.errors.load(Relaxed);
            Run {
                wall: end - start,
                answer: self.want,
                p99: Some(p99),
                note: format!(
                    "p50 {}, {errors} errors, {limit}",
                    super::support::fmt_duration(p50)
                ),
            }
        }
    }

    #[bounded(backend = pool, limit = limit, batch = 1, keep_going, cancel = tally.stop)]
    fn fixed_loop(
        limit: usize,
        down: &Downstream,
        tally: &Tally,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        for _ in 0u64.. {
            tally.answer(down.call())?;
        }
        Ok(())
    }

    fn fixed(limit: usize, n: usize) -> Run {
        once(|| {
            let (down, tally) = (downstream(), Tally::new(n));
            let _ = fixed_loop(limit, &down, &tally);
            tally.run(format!("{limit} in flight"))
        })
    }

    #[bounded(backend = pool, limit = adaptive(max = 64), batch = 1, keep_going,
              cancel = tally.stop, name = "right-sizing-adaptive")]
    fn adaptive_loop(
        down: &Downstream,
        tally: &Tally,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        for _ in 0u64.. {
            tally.answer(down.call())?;
        }
        Ok(())
    }

    fn adaptive(n: usize) -> Run {
        once(|| adaptive_once(n))
    }

    /// The downstream's published rate, C, as the bound: `limit` only caps the threads.
    /// `burst = 5` lets a lane that woke late catch up within the window bound.
    #[bounded(backend = pool, limit = 64, rate = 500 / s, burst = 5, batch = 1, keep_going,
              cancel = tally.stop)]
    fn rated_loop(
        down: &Downstream,
        tally: &Tally,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        for _ in 0u64.. {
            tally.answer(down.call())?;
        }
        Ok(())
    }

    fn rated(n: usize) -> Run {
        once(|| {
            let (down, tally) = (downstream(), Tally::new(n));
            let _ = rated_loop(&down, &tally);
            tally.run("500 starts/s".to_string())
        })
    }

    fn adaptive_once(n: usize) -> Run {
        let (down, tally) = (downstream(), Tally::new(n));
        let _ = adaptive_loop(&down, &tally);
        let run = bounded::stats::last_run("right-sizing-adaptive").expect("the loop ran");
        // The limit in force when the measured part began, and every one after it.
        let first = run
            .limits
            .iter()
            .rposition(|(t, _)| *t < WARM_UP)
            .unwrap_or(0);
        let mut sorted: Vec<usize> = run.limits[first..].iter().map(|(_, l)| *l).collect();
        sorted.sort_unstable();
        let limit = match (sorted.first(), sorted.last()) {
            (Some(lo), Some(hi)) if lo == hi => format!("limit {lo}"),
            (Some(lo), Some(hi)) => format!("limit {lo}-{hi}, median {}", sorted[sorted.len() / 2]),
            _ => String::new(),
        };
        tally.run(limit)
    }
}

// ---------------------------------------------------------------------------------
// io-fanout: blocking calls to a downstream of finite capacity (`bounded::sim`: 2,000
// requests/s, 10 ms, refusing past 200 in flight). A thread per call is Go's `go
// call()` with no bound: most calls are refused, and the ones let in queue behind each
// other. The pool backend keeps C·L = 20 in flight: no refusal, latency at its floor.

mod io_fanout {
    use super::support::{Latencies, Live, Run};
    use bounded::bounded;
    use bounded::sim::Downstream;
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    use std::thread;
    use std::time::Duration;

    fn downstream() -> Downstream {
        Downstream::builder(2000.0, Duration::from_millis(10))
            .jitter(Duration::from_millis(1))
            .hard_limit(200)
            .seed(10)
            .build()
    }

    /// Calls that were refused, and the latency of those answered.
    fn note(errors: &AtomicU64, what: &str) -> String {
        format!("{} refused (Overloaded); {what}", errors.load(Relaxed))
    }

    pub fn thread_per_call(n: usize) -> Run {
        let (down, latencies, errors) = (downstream(), Latencies::new(n), AtomicU64::new(0));
        let run = Run::time(|| {
            thread::scope(|s| {
                for i in 0..n {
                    let (down, latencies, errors) = (&down, &latencies, &errors);
                    s.spawn(move || {
                        let _live = Live::enter();
                        match down.call() {
                            Ok(took) => latencies.record(i, took),
                            Err(_) => {
                                errors.fetch_add(1, Relaxed);
                            }
                        }
                    });
                }
            });
            n as u64
        });
        run.with_p99(latencies.p99())
            .with_note(note(&errors, "p99 of the answered"))
    }

    #[bounded(backend = pool, limit = 20, batch = 1, keep_going)]
    fn call_all(
        n: usize,
        down: &Downstream,
        latencies: &Latencies,
    ) -> Result<(), bounded::Overloaded> {
        for i in 0..n {
            latencies.record(i, down.call()?);
        }
        Ok(())
    }

    pub fn bounded_pool(n: usize) -> Run {
        let (down, latencies) = (downstream(), Latencies::new(n));
        let run = Run::time(|| {
            let refused = call_all(n, &down, &latencies).is_err();
            assert!(!refused, "a bound of C·L is never refused");
            n as u64
        });
        let errors = AtomicU64::new(down.stats().refused);
        run.with_p99(latencies.p99())
            .with_note(note(&errors, "at most 20 calls in flight"))
    }
}

// ---------------------------------------------------------------------------------
// async: awaiting calls to a downstream of finite capacity (`bounded::sim`: 10,000
// requests/s, 5 ms, refusing past 200 in flight). A task per call floods it; a
// semaphore by hand or the async loop keep C·L = 50 in flight.

mod async_fanout {
    use super::support::{Latencies, Run};
    use bounded::bounded;
    use bounded::sim::Downstream;
    use std::sync::Arc;
    use std::time::Duration;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(super::cpus())
            .enable_time()
            .build()
            .expect("a tokio runtime")
    }

    fn downstream() -> Downstream {
        Downstream::builder(10_000.0, Duration::from_millis(5))
            .jitter(Duration::from_micros(500))
            .hard_limit(200)
            .seed(20)
            .build()
    }

    fn finish(run: Run, down: &Downstream, latencies: &Latencies, what: &str) -> Run {
        let refused = down.stats().refused;
        run.with_p99(latencies.p99())
            .with_note(format!("{refused} refused (Overloaded); {what}"))
    }

    pub fn spawn_per_call(n: usize) -> Run {
        let rt = runtime();
        let (down, latencies) = (downstream(), Arc::new(Latencies::new(n)));
        let run = Run::time(|| {
            rt.block_on(async {
                let tasks: Vec<_> = (0..n)
                    .map(|i| {
                        let (down, latencies) = (down.clone(), latencies.clone());
                        tokio::spawn(async move {
                            if let Ok(took) = down.call_async().await {
                                latencies.record(i, took);
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.expect("the task finished");
                }
                n as u64
            })
        });
        finish(run, &down, &latencies, "p99 of the answered")
    }

    pub fn join_set(n: usize) -> Run {
        let rt = runtime();
        let (down, latencies) = (downstream(), Arc::new(Latencies::new(n)));
        let run = Run::time(|| {
            rt.block_on(async {
                let permits = Arc::new(tokio::sync::Semaphore::new(50));
                let mut set = tokio::task::JoinSet::new();
                for i in 0..n {
                    let permit = permits.clone().acquire_owned().await.expect("open");
                    let (down, latencies) = (down.clone(), latencies.clone());
                    set.spawn(async move {
                        if let Ok(took) = down.call_async().await {
                            latencies.record(i, took);
                        }
                        drop(permit);
                    });
                }
                while let Some(r) = set.join_next().await {
                    r.expect("the task finished");
                }
                n as u64
            })
        });
        finish(run, &down, &latencies, "50 in flight")
    }

    #[bounded(limit = 50, batch = 1, keep_going)]
    async fn call_all(
        n: usize,
        down: &Downstream,
        latencies: &Latencies,
    ) -> Result<(), bounded::Overloaded> {
        for i in 0..n {
            latencies.record(i, down.call_async().await?);
        }
        Ok(())
    }

    pub fn bounded(n: usize) -> Run {
        let rt = runtime();
        let (down, latencies) = (downstream(), Latencies::new(n));
        let run = Run::time(|| {
            let refused = rt.block_on(call_all(n, &down, &latencies)).is_err();
            assert!(!refused, "a bound of C·L is never refused");
            n as u64
        });
        finish(run, &down, &latencies, "at most 50 calls in flight")
    }
}

// ---------------------------------------------------------------------------------
// The parent: runs every row in a child and prints the table.

struct Options {
    scenarios: Vec<&'static Scenario>,
    items: Option<usize>,
    reps: usize,
}

const USAGE: &str = "\
usage: cargo run --release --example showcase -- [--scenario NAME[,NAME...]] [--items N] [--reps N]

  --scenario NAME   run only these scenarios (repeatable, or comma-separated)
  --items N         input size for the selected scenarios (default: per scenario)
  --reps N          timed repetitions per row; the median is shown (default 5)
  --help            this text";

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        scenarios: Vec::new(),
        items: None,
        reps: 5,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--scenario" | "-s" => {
                for name in value("--scenario")?.split(',') {
                    let scenario = SCENARIOS
                        .iter()
                        .find(|s| s.name == name)
                        .ok_or_else(|| format!("unknown scenario `{name}`"))?;
                    options.scenarios.push(scenario);
                }
            }
            "--items" | "-n" => options.items = Some(support::parse_count(&value("--items")?)?),
            "--reps" => options.reps = support::parse_count(&value("--reps")?)?.max(1),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if options.scenarios.is_empty() {
        options.scenarios = SCENARIOS.iter().collect();
    }
    Ok(options)
}

fn help() -> String {
    let mut text = String::from(USAGE);
    text.push_str("\n\nscenarios:\n");
    for s in SCENARIOS {
        text.push_str(&format!("  {:<9} {}\n", s.name, s.about));
    }
    text
}

/// A printed row, kept so later rows can be compared with it.
struct Done {
    key: &'static str,
    wall: Duration,
    answer: u64,
}

const HEADER: [&str; 9] = [
    "scenario",
    "variant",
    "wall",
    "peak MiB",
    "threads",
    "items/s",
    "p99/item",
    "time vs ref",
    "note",
];
const WIDTHS: [usize; 9] = [9, 38, 9, 8, 7, 9, 8, 17, 0];

fn print_row(cells: [&str; 9]) {
    let mut line = String::from("|");
    for (cell, width) in cells.iter().zip(WIDTHS) {
        line.push_str(&format!(" {cell:<width$} |"));
    }
    println!("{line}");
}

fn print_header() {
    print_row(HEADER);
    let rule: Vec<String> = WIDTHS.iter().map(|w| "-".repeat((*w).max(4))).collect();
    let rule: Vec<&str> = rule.iter().map(String::as_str).collect();
    print_row(rule.try_into().expect("nine columns"));
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        return child(&args[1..]);
    }
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{}", help());
        return ExitCode::SUCCESS;
    }
    let options = match parse_args(&args) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("showcase: {e}\n\n{}", help());
            return ExitCode::FAILURE;
        }
    };

    let started = std::time::Instant::now();
    println!(
        "bounded showcase: {} CPUs available, each row in its own process, median of {} run(s)\n",
        cpus(),
        options.reps
    );
    if let Some(busy) = support::other_runnable().filter(|n| *n >= 0.5) {
        println!(
            "note: other processes keep ~{busy:.1} CPUs busy right now; times will be noisy.\n"
        );
    }
    print_header();
    let mut all_ran = true;
    for scenario in &options.scenarios {
        let items = options.items.unwrap_or(scenario.items);
        match run_scenario(scenario, items, options.reps) {
            Ok(ran) => all_ran &= ran,
            Err(wrong_answer) => {
                eprintln!("showcase: {wrong_answer}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!(
        "\ntotal {:.1} s. time vs ref: this row's wall time / the named row's (< 1 is faster). \
         Peak MiB: VmHWM of the row's process; threads: most alive at once.",
        started.elapsed().as_secs_f64()
    );
    println!(
        "select with --scenario NAME[,NAME] (one of: {}), size with --items N; --help describes each.",
        SCENARIOS.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
    );
    if all_ran {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Runs and prints every row of a scenario. `Ok(false)` when a row's process failed (the
/// row says why); `Err` when a row's answer differs from its reference row's.
fn run_scenario(scenario: &Scenario, items: usize, reps: usize) -> Result<bool, String> {
    let mut done: Vec<Done> = Vec::new();
    let mut all_ran = true;
    for variant in scenario.variants {
        let report = match variant.kind {
            Kind::Measured { .. } => support::run_child_drawing(
                &[
                    "--child".to_owned(),
                    scenario.name.to_owned(),
                    variant.key.to_owned(),
                    items.to_string(),
                    reps.to_string(),
                ],
                variant.draws,
            ),
            Kind::IdealOf(base) => {
                let base = done.iter().find(|d| d.key == base).expect("base row first");
                Ok(Report {
                    wall: base.wall / cpus() as u32,
                    answer: base.answer,
                    peak_rss_kib: None,
                    peak_threads: None,
                    p99: None,
                    note: format!("{} / {} CPUs", fmt_duration(base.wall), cpus()),
                })
            }
        };
        let report = match report {
            Ok(report) => report,
            Err(why) => {
                all_ran = false;
                let mut cells = ["-"; 9];
                let note = format!("failed: {why}");
                (cells[0], cells[1], cells[8]) = (scenario.name, variant.label, &note);
                print_row(cells);
                continue;
            }
        };
        let reference = variant.vs.and_then(|k| done.iter().find(|d| d.key == k));
        if let Some(r) = reference.filter(|r| r.answer != report.answer) {
            return Err(format!(
                "wrong answer in `{}`: `{}` computed {}, but `{}` computed {}",
                scenario.name, variant.label, report.answer, r.key, r.answer
            ));
        }
        let ratio = match (variant.vs, reference) {
            (None, _) => "ref".to_owned(),
            (Some(k), Some(r)) => format!(
                "{:.2}x {k}",
                report.wall.as_secs_f64() / r.wall.as_secs_f64().max(1e-12)
            ),
            (Some(_), None) => "-".to_owned(),
        };
        let measured = matches!(variant.kind, Kind::Measured { .. });
        let unless_derived = |s: String| if measured { s } else { "-".to_owned() };
        print_row([
            scenario.name,
            variant.label,
            &fmt_duration(report.wall),
            &unless_derived(fmt_mib(report.peak_rss_kib)),
            &unless_derived(fmt_count(report.peak_threads)),
            &fmt_rate(items as f64 / report.wall.as_secs_f64().max(1e-12)),
            &report.p99.map_or("-".to_owned(), fmt_duration),
            &ratio,
            &report.note,
        ]);
        done.push(Done {
            key: variant.key,
            wall: report.wall,
            answer: report.answer,
        });
    }
    Ok(all_ran)
}

/// `--child SCENARIO VARIANT ITEMS REPS`: run one row and print its report.
fn child(args: &[String]) -> ExitCode {
    let [scenario, variant, items, reps] = args else {
        eprintln!("showcase: --child needs SCENARIO VARIANT ITEMS REPS");
        return ExitCode::FAILURE;
    };
    let run = SCENARIOS
        .iter()
        .find(|s| s.name == scenario)
        .and_then(|s| s.variants.iter().find(|v| v.key == variant))
        .and_then(|v| match v.kind {
            Kind::Measured { run, rayon } => Some((run, rayon)),
            Kind::IdealOf(_) => None,
        });
    let (Some((run, rayon)), Ok(items), Ok(reps)) = (run, items.parse(), reps.parse()) else {
        eprintln!("showcase: no row `{variant}` in `{scenario}`");
        return ExitCode::FAILURE;
    };
    if rayon {
        support::start_counted_rayon_pool();
    }
    Report::measure(reps, || run(items)).emit();
    ExitCode::SUCCESS
}
