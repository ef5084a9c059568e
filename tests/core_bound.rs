//! The bound of the rayon backend: at most `limit` bodies of a loop run at once, for
//! literal, runtime and `cpus` limits, every schedule and batch size, in `#[bounded]`
//! functions and `par_bounded!`; nested loops finish; the loop's counters are exact.
//!
//! rayon's global pool is made 16 threads wide first, so a loop that ignored its limit
//! would run more bodies at once than it may. Bodies of a loop allowed two or more wait
//! (up to a deadline) until two of them overlap, so overlap is certain, not lucky.

use bounded::{available_cpus, bounded, par_bounded};
use rayon::prelude::*;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::Once;
use std::thread;
use std::time::{Duration, Instant};

/// Makes rayon's global pool wider than any limit used here. Every test calls it first.
fn wide_pool() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Fails only if another test already built it, 16 wide as well.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(16)
            .build_global();
    });
}

/// Counts bodies running at once and remembers the most seen.
struct Gauge {
    running: AtomicUsize,
    peak: AtomicUsize,
    ran: AtomicUsize,
    /// Bodies wait until this many overlap, or the deadline passes.
    want: usize,
    deadline: Instant,
}

impl Gauge {
    /// A gauge for a loop allowed `limit` bodies at once.
    fn new(limit: usize) -> Self {
        Gauge {
            running: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            ran: AtomicUsize::new(0),
            want: limit.min(2),
            // Only a loop that never overlaps its bodies ever waits this long.
            deadline: Instant::now() + Duration::from_secs(3),
        }
    }

    fn enter(&self) -> impl Drop + '_ {
        let now = self.running.fetch_add(1, SeqCst) + 1;
        self.peak.fetch_max(now, SeqCst);
        self.ran.fetch_add(1, SeqCst);
        struct Leave<'a>(&'a AtomicUsize);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, SeqCst);
            }
        }
        Leave(&self.running)
    }

    /// One body: waits for a partner if the loop may overlap, then sleeps ~1 ms.
    fn body(&self) {
        let _running = self.enter();
        while self.peak() < self.want && Instant::now() < self.deadline {
            thread::sleep(Duration::from_micros(50));
        }
        thread::sleep(Duration::from_millis(1));
    }

    fn peak(&self) -> usize {
        self.peak.load(SeqCst)
    }

    /// The bound held, every item ran once, and a loop allowed two bodies ran two.
    #[track_caller]
    fn check(&self, limit: usize, items: usize, what: &str) {
        let peak = self.peak();
        assert_eq!(self.ran.load(SeqCst), items, "{what}: items run");
        assert!(
            peak <= limit,
            "{what}: {peak} bodies at once, limit {limit}"
        );
        if limit >= 2 {
            assert!(peak >= 2, "{what}: bodies never overlapped (limit {limit})");
        }
    }
}

const ITEMS: usize = 24;

fn items() -> Vec<u32> {
    (0..ITEMS as u32).collect()
}

/// `#[bounded]` functions with literal options, one per limit and schedule.
macro_rules! attr_fns {
    ($($name:ident: $limit:tt, $schedule:tt;)*) => {
        $(
            #[bounded(limit = $limit, schedule = $schedule, batch = 1)]
            fn $name(items: &[u32], gauge: &Gauge) {
                for _item in items {
                    gauge.body();
                }
            }
        )*

        const ATTR_FNS: &[(&str, usize, fn(&[u32], &Gauge))] = &[
            $((stringify!($schedule), $limit, $name),)*
        ];
    };
}

attr_fns! {
    attr_1_dynamic: 1, dynamic;
    attr_2_dynamic: 2, dynamic;
    attr_3_dynamic: 3, dynamic;
    attr_1_static: 1, static;
    attr_2_static: 2, static;
    attr_3_static: 3, static;
    attr_1_guided: 1, guided;
    attr_2_guided: 2, guided;
    attr_3_guided: 3, guided;
    attr_1_steal: 1, steal;
    attr_2_steal: 2, steal;
    attr_3_steal: 3, steal;
}

#[test]
fn bounded_functions_keep_literal_limits_under_every_schedule() {
    wide_pool();
    let items = items();
    for (schedule, limit, run) in ATTR_FNS {
        let gauge = Gauge::new(*limit);
        run(&items, &gauge);
        gauge.check(
            *limit,
            ITEMS,
            &format!("#[bounded] limit {limit}, {schedule}"),
        );
    }
}

/// `par_bounded!` with a literal limit and schedule: `(limit, schedule, run)`.
macro_rules! par_literal {
    ($limit:tt, $schedule:tt) => {
        (
            $limit,
            stringify!($schedule),
            |items: &[u32], gauge: &Gauge| {
                par_bounded!(limit = $limit, schedule = $schedule, batch = 1; for _item in items {
                    gauge.body();
                });
            },
        )
    };
}

type Literal = (usize, &'static str, fn(&[u32], &Gauge));

#[test]
fn par_bounded_keeps_literal_limits_under_every_schedule() {
    wide_pool();
    let items = items();
    let runs: [Literal; 12] = [
        par_literal!(1, dynamic),
        par_literal!(2, dynamic),
        par_literal!(3, dynamic),
        par_literal!(1, static),
        par_literal!(2, static),
        par_literal!(3, static),
        par_literal!(1, guided),
        par_literal!(2, guided),
        par_literal!(3, guided),
        par_literal!(1, steal),
        par_literal!(2, steal),
        par_literal!(3, steal),
    ];
    for (limit, schedule, run) in runs {
        let gauge = Gauge::new(limit);
        run(&items, &gauge);
        gauge.check(
            limit,
            ITEMS,
            &format!("par_bounded! limit {limit}, {schedule}"),
        );
    }
}

/// `limit` and `batch` as runtime expressions, one function per schedule.
macro_rules! runtime_fns {
    ($($name:ident: $schedule:tt;)*) => {
        $(
            #[bounded(limit = limit, batch = batch, schedule = $schedule)]
            fn $name(items: &[u32], limit: usize, batch: usize, gauge: &Gauge) {
                for _item in items {
                    gauge.body();
                }
            }
        )*

        const RUNTIME_FNS: &[(&str, fn(&[u32], usize, usize, &Gauge))] = &[
            $((stringify!($schedule), $name),)*
        ];
    };
}

runtime_fns! {
    runtime_dynamic: dynamic;
    runtime_static: static;
    runtime_guided: guided;
    runtime_steal: steal;
}

#[test]
fn runtime_limits_and_batches_are_honoured() {
    wide_pool();
    let items = items();
    for (schedule, run) in RUNTIME_FNS {
        for limit in [1usize, 2, 3] {
            for batch in [1usize, 2] {
                let gauge = Gauge::new(limit);
                run(&items, limit, batch, &gauge);
                gauge.check(
                    limit,
                    ITEMS,
                    &format!("runtime limit {limit}, batch {batch}, {schedule}"),
                );
            }
        }
    }
    // An expression, not just a name.
    let base = 1usize;
    for extra in [0usize, 1, 2] {
        let gauge = Gauge::new(base + extra);
        par_bounded!(limit = base + extra, batch = 1; for _item in &items {
            gauge.body();
        });
        gauge.check(base + extra, ITEMS, "limit = base + extra");
    }
}

#[bounded(limit = cpus, batch = 1)]
fn on_every_cpu(items: &[u32], gauge: &Gauge) {
    for _item in items {
        gauge.body();
    }
}

#[test]
fn limit_cpus_is_the_available_parallelism_not_the_pool_width() {
    wide_pool();
    let cpus = available_cpus();
    assert!(
        cpus < 16,
        "the pool must be wider than the machine for this test"
    );
    let items = items();
    let gauge = Gauge::new(cpus);
    on_every_cpu(&items, &gauge);
    gauge.check(cpus, ITEMS, "#[bounded(limit = cpus)]");

    let gauge = Gauge::new(cpus * 2);
    par_bounded!(limit = cpus * 2, batch = 1; for _item in &items {
        gauge.body();
    });
    gauge.check(cpus * 2, ITEMS, "par_bounded!(limit = cpus * 2)");
}

#[test]
fn batch_sizes_keep_the_bound() {
    wide_pool();
    let items: Vec<u32> = (0..60).collect();

    let gauge = Gauge::new(3);
    par_bounded!(limit = 3, batch = 1; for _item in &items {
        gauge.body();
    });
    gauge.check(3, 60, "batch = 1");

    let gauge = Gauge::new(3);
    par_bounded!(limit = 3, batch = 7; for _item in &items {
        gauge.body();
    });
    gauge.check(3, 60, "batch = 7");

    // `auto` on 60 items may choose one batch per lane or fewer; the bound must hold.
    let gauge = Gauge::new(1);
    par_bounded!(limit = 3, batch = auto; for _item in &items {
        gauge.body();
    });
    let peak = gauge.peak();
    assert_eq!(gauge.ran.load(SeqCst), 60);
    assert!((1..=3).contains(&peak), "batch = auto: peak {peak}");
}

#[bounded(limit = 2, batch = 7)]
fn batch_seven(items: &[u32], gauge: &Gauge) {
    for _item in items {
        gauge.body();
    }
}

#[bounded(limit = 3, batch = auto)]
fn batch_auto(items: &[u32], gauge: &Gauge) {
    for _item in items {
        gauge.body();
    }
}

#[test]
fn bounded_functions_with_batches_keep_the_bound() {
    wide_pool();
    let items: Vec<u32> = (0..60).collect();
    let gauge = Gauge::new(2);
    batch_seven(&items, &gauge);
    gauge.check(2, 60, "#[bounded(batch = 7)]");

    let gauge = Gauge::new(1);
    batch_auto(&items, &gauge);
    assert_eq!(gauge.ran.load(SeqCst), 60);
    assert!(
        gauge.peak() <= 3,
        "#[bounded(batch = auto)]: {}",
        gauge.peak()
    );
}

/// Three levels: the function's loop, a `par_bounded!` in its body, and another in that.
#[bounded(limit = 2, batch = 1, reduce(total: +))]
fn cube_sum(cube: &[Vec<Vec<u64>>], outer: &Gauge) -> u64 {
    let mut total = 0;
    for plane in cube {
        let _running = outer.enter();
        let mut plane_total = 0u64;
        par_bounded!(limit = 2, batch = 1, reduce(plane_total: +); for row in plane {
            let mut row_total = 0u64;
            par_bounded!(limit = 2, batch = 3, reduce(row_total: +); for x in row {
                row_total += *x;
            });
            plane_total += row_total;
        });
        total += plane_total;
    }
    total
}

#[test]
fn three_nested_levels_finish_with_the_right_sum() {
    wide_pool();
    let cube: Vec<Vec<Vec<u64>>> = (0..6u64)
        .map(|p| {
            (0..5u64)
                .map(|r| (0..40u64).map(|x| p * 10_000 + r * 100 + x).collect())
                .collect()
        })
        .collect();
    let expected: u64 = cube.iter().flatten().flatten().sum();
    for _ in 0..5 {
        let outer = Gauge::new(1);
        assert_eq!(cube_sum(&cube, &outer), expected);
        assert!(outer.peak() <= 2, "outer level: peak {}", outer.peak());
    }
}

#[test]
fn a_loop_inside_rayon_par_iter_finishes() {
    wide_pool();
    let data: Vec<u64> = (1..=500).collect();
    let expected: u64 = data.iter().sum();
    let done = AtomicUsize::new(0);
    (0..32u64).into_par_iter().for_each(|i| {
        let mut sum = 0u64;
        par_bounded!(limit = 2, batch = 16, reduce(sum: +); for x in &data {
            sum += x * (i + 1);
        });
        assert_eq!(sum, expected * (i + 1));
        done.fetch_add(1, SeqCst);
    });
    assert_eq!(done.load(SeqCst), 32);
}

#[test]
fn a_loop_inside_rayon_scope_finishes() {
    wide_pool();
    let data: Vec<u64> = (1..=500).collect();
    let expected: u64 = data.iter().sum();
    let total = AtomicU64::new(0);
    rayon::scope(|s| {
        for _ in 0..16 {
            s.spawn(|_| {
                let mut sum = 0u64;
                par_bounded!(limit = 3, batch = 8, reduce(sum: +); for x in &data {
                    sum += x;
                });
                total.fetch_add(sum, SeqCst);
            });
        }
    });
    assert_eq!(total.load(SeqCst), expected * 16);
}

#[test]
fn stats_count_runs_items_and_batches_exactly() {
    wide_pool();
    let items: Vec<u32> = (0..1000).collect();
    let gauge = Gauge::new(3);
    for _ in 0..2 {
        par_bounded!(limit = 3, batch = 40, name = "core-bound-stats"; for _item in &items {
            let _running = gauge.enter();
            thread::sleep(Duration::from_micros(20));
        });
    }
    let stats = bounded::stats::loops()
        .into_iter()
        .find(|s| s.name == "core-bound-stats")
        .expect("the loop is registered under its name");
    assert_eq!(stats.runs, 2);
    assert_eq!(stats.items, 2000);
    assert_eq!(stats.batches, 2 * 25);
    assert_eq!(stats.failed, 0);
    assert_eq!(stats.panicked, 0);
    assert!(
        stats.peak_running >= 1 && stats.peak_running <= 3,
        "{stats:?}"
    );
    assert!(gauge.peak() <= 3);
    assert!(stats.location.file.ends_with("core_bound.rs"), "{stats:?}");
}

/// Runs the loop named `name` with `limit` twice, once failing at item 10 and once
/// panicking at item 5, and returns the loop's counters.
macro_rules! failing_runs {
    ($name:literal, $limit:expr) => {{
        let items: Vec<u32> = (0..40).collect();
        let limit: usize = $limit;
        let run = |panic_at: u32| {
            catch_unwind(AssertUnwindSafe(|| -> Result<(), u32> {
                par_bounded!(limit = limit, batch = 5, name = $name; for x in &items {
                    if *x == 10 {
                        Err(*x)?;
                    }
                    if *x == panic_at {
                        panic!("item {x}");
                    }
                });
                Ok(())
            }))
        };
        // An error, then a panic in a run that fails no earlier.
        assert_eq!(run(u32::MAX).expect("no panic"), Err(10));
        assert!(run(5).is_err(), "the panic reaches the caller");
        bounded::stats::loops()
            .into_iter()
            .find(|s| s.name == $name)
            .expect("the loop is registered")
    }};
}

#[test]
fn stats_count_failed_and_panicked_batches_on_several_lanes() {
    wide_pool();
    let stats = failing_runs!("core-bound-failures-lanes", 3);
    assert_eq!(stats.runs, 2);
    assert!(stats.failed >= 1, "{stats:?}");
    assert_eq!(stats.panicked, 1, "{stats:?}");
}

#[test]
fn stats_count_panicked_batches_on_one_lane() {
    wide_pool();
    let stats = failing_runs!("core-bound-failures-one-lane", 1);
    assert_eq!(stats.runs, 2);
    assert!(stats.failed >= 1, "{stats:?}");
    assert_eq!(stats.panicked, 1, "{stats:?}");
}
