//! The bound holds: no more than `limit` bodies of one loop run at once, for every way of
//! writing the limit, every batch size and schedule, both macro forms, indexed and pulled
//! inputs, and nested loops (each level keeps its own bound and nothing deadlocks, even
//! inside a saturated rayon pool). Bodies wait for each other until the limit is reached,
//! so a loop that ignored its `limit` on the 16-thread pool these tests use would be
//! caught, and one that never ran two bodies at once would be caught as well. The loop's
//! counters (runs, items, batches, failures, panics) are exact.

mod common;

use bounded::{available_cpus, bounded, par_bounded};
use common::{tid, wide_pool, Gauge};
use rayon::prelude::*;
use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::Mutex;

/// A loop over `items` with runtime `limit` and `batch`, whose bodies report to `gauge`.
type Runner = fn(&[u32], usize, usize, &Gauge);

macro_rules! runners {
    ($($schedule:tt => $attr_fn:ident, $macro_fn:ident;)*) => {
        $(
            #[bounded(limit = limit, batch = batch, schedule = $schedule)]
            fn $attr_fn(items: &[u32], limit: usize, batch: usize, gauge: &Gauge) {
                for _item in items {
                    gauge.body();
                }
            }

            fn $macro_fn(items: &[u32], limit: usize, batch: usize, gauge: &Gauge) {
                par_bounded!(limit = limit, batch = batch, schedule = $schedule; for _item in items {
                    gauge.body();
                });
            }
        )*

        /// Every schedule in both forms, with a label for messages.
        const RUNNERS: &[(&str, Runner)] = &[
            $(
                (concat!("#[bounded], schedule = ", stringify!($schedule)), $attr_fn),
                (concat!("par_bounded!, schedule = ", stringify!($schedule)), $macro_fn),
            )*
        ];
    };
}

runners! {
    dynamic => attr_dynamic, macro_dynamic;
    static => attr_static, macro_static;
    guided => attr_guided, macro_guided;
    steal => attr_steal, macro_steal;
}

#[test]
fn every_limit_batch_and_schedule_keeps_the_bound() {
    wide_pool();
    let items: Vec<u32> = (0..60).collect();
    for limit in [1, 2, 3, 5] {
        for batch in [1, 7] {
            for (label, run) in RUNNERS {
                // 60 items in batches of 7 are 9 batches: enough for 5 lanes.
                let gauge = Gauge::new(limit);
                run(&items, limit, batch, &gauge);
                let context = format!("{label}, limit {limit}, batch {batch}");
                gauge.assert_bounded(limit, &context);
                assert_eq!(gauge.ran(), items.len(), "{context}: items run");
            }
        }
    }
}

/// `#[bounded]` functions with literal options, one per limit and schedule.
macro_rules! literal_attr_fns {
    ($($name:ident: $limit:tt, $schedule:tt;)*) => {
        $(
            #[bounded(limit = $limit, schedule = $schedule, batch = 1)]
            fn $name(items: &[u32], gauge: &Gauge) {
                for _item in items {
                    gauge.body();
                }
            }
        )*

        const LITERAL_ATTR_FNS: &[(usize, &str, fn(&[u32], &Gauge))] = &[
            $(($limit, stringify!($schedule), $name),)*
        ];
    };
}

literal_attr_fns! {
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
fn literal_limits_keep_the_bound_under_every_schedule() {
    wide_pool();
    let items: Vec<u32> = (0..24).collect();
    let par_runs: [Literal; 12] = [
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
    let attr_runs = LITERAL_ATTR_FNS
        .iter()
        .map(|(l, s, f)| ("#[bounded]", *l, *s, *f));
    let par_runs = par_runs
        .into_iter()
        .map(|(l, s, f)| ("par_bounded!", l, s, f));
    for (form, limit, schedule, run) in attr_runs.chain(par_runs) {
        let gauge = Gauge::new(limit);
        run(&items, &gauge);
        let context = format!("{form} limit {limit}, {schedule}");
        gauge.assert_bounded(limit, &context);
        assert_eq!(gauge.ran(), items.len(), "{context}: items run");
    }
}

#[bounded(limit = 3, batch = 7)]
fn literal_limit_three(items: &[u32], gauge: &Gauge) {
    for _item in items {
        gauge.body();
    }
}

#[test]
fn literal_limits_keep_the_bound() {
    wide_pool();
    let items: Vec<u32> = (0..60).collect();

    let gauge = Gauge::new(3);
    literal_limit_three(&items, &gauge);
    gauge.assert_bounded(3, "#[bounded(limit = 3, batch = 7)]");

    let gauge = Gauge::new(2);
    par_bounded!(limit = 2; for _item in &items { gauge.body(); });
    gauge.assert_bounded(2, "par_bounded!(limit = 2), batch auto");

    let gauge = Gauge::new(1);
    par_bounded!(limit = 1, batch = 1; for _item in &items { gauge.body(); });
    gauge.assert_bounded(1, "par_bounded!(limit = 1)");
}

#[test]
fn runtime_expression_limits_keep_the_bound() {
    wide_pool();
    let items: Vec<u32> = (0..60).collect();
    let config = (2usize, 2usize);
    let pick = |n: usize| n + 1;

    let gauge = Gauge::new(4);
    par_bounded!(limit = config.0 * config.1, batch = 1; for _item in &items { gauge.body(); });
    gauge.assert_bounded(4, "limit = config.0 * config.1");

    let gauge = Gauge::new(3);
    par_bounded!(limit = pick(2), batch = config.0 + 1; for _item in &items { gauge.body(); });
    gauge.assert_bounded(3, "limit = pick(2), batch = config.0 + 1");
}

#[bounded(limit = cpus, batch = 1)]
fn on_every_cpu(items: &[u32], gauge: &Gauge) {
    for _item in items {
        gauge.body();
    }
}

/// `cpus` is the available parallelism, not the width of the pool the loop runs on: on a
/// machine with fewer than 16 CPUs, a `cpus` that meant the 16-thread pool would break
/// the bound.
#[test]
fn cpus_limits_keep_the_bound() {
    wide_pool();
    let cpus = available_cpus();
    let items: Vec<u32> = (0..80).collect();

    let gauge = Gauge::new(cpus);
    on_every_cpu(&items, &gauge);
    gauge.assert_bounded(cpus, "#[bounded(limit = cpus)]");

    let gauge = Gauge::new(cpus);
    par_bounded!(limit = cpus, batch = 1; for _item in &items { gauge.body(); });
    gauge.assert_bounded(cpus, "limit = cpus");

    let gauge = Gauge::new(2 * cpus);
    par_bounded!(limit = cpus * 2, batch = 1; for _item in &items { gauge.body(); });
    gauge.assert_bounded(2 * cpus, "limit = cpus * 2");

    // No `limit` at all means `cpus`.
    let gauge = Gauge::new(cpus);
    par_bounded!(batch = 1; for _item in &items { gauge.body(); });
    gauge.assert_bounded(cpus, "default limit");
}

#[test]
fn littles_law_limits_keep_the_bound() {
    wide_pool();
    let items: Vec<u32> = (0..60).collect();
    // 20 items/s that take 100 ms each: 2 in flight.
    let gauge = Gauge::new(2);
    par_bounded!(limit = little(rate = 20, latency = 100ms), batch = 1; for _item in &items {
        gauge.body();
    });
    gauge.assert_bounded(2, "limit = little(rate = 20, latency = 100ms)");
    assert_eq!(gauge.peak(), 2);

    // 25 items/s that take 0.1 s each: 2.5, rounded up to 3.
    let gauge = Gauge::new(3);
    par_bounded!(limit = little(rate = 25, latency = 100ms), batch = 1; for _item in &items {
        gauge.body();
    });
    gauge.assert_bounded(3, "limit = little(rate = 25, latency = 100ms)");
    assert_eq!(gauge.peak(), 3);
}

#[test]
fn auto_batches_keep_the_bound() {
    wide_pool();
    for n in [10usize, 60, 500] {
        let items: Vec<u32> = (0..n as u32).collect();
        let gauge = Gauge::new(3);
        par_bounded!(limit = 3, batch = auto; for _item in &items { gauge.body(); });
        gauge.assert_bounded(3, &format!("batch = auto over {n} items"));

        // `auto` may choose a single batch for a short input: no overlap to wait for.
        let gauge = Gauge::new(1);
        auto_batch_three(&items, &gauge);
        assert_eq!(gauge.ran(), n, "#[bounded(batch = auto)] over {n} items");
        assert!(
            gauge.peak() <= 3,
            "#[bounded(batch = auto)]: {}",
            gauge.peak()
        );
    }
}

#[bounded(limit = 3, batch = auto)]
fn auto_batch_three(items: &[u32], gauge: &Gauge) {
    for _item in items {
        gauge.body();
    }
}

#[test]
fn pulled_and_mutable_inputs_keep_the_bound() {
    wide_pool();
    let items: Vec<u32> = (0..60).collect();
    for limit in [1, 2, 3] {
        let gauge = Gauge::new(limit);
        par_bounded!(limit = limit, batch = 1; for _item in items.iter().filter(|_| true) {
            gauge.body();
        });
        gauge.assert_bounded(limit, &format!("filtered iterator, limit {limit}"));

        let gauge = Gauge::new(limit);
        par_bounded!(limit = limit, batch = 2; for _item in 0..60u32 { gauge.body(); });
        gauge.assert_bounded(limit, &format!("range, limit {limit}"));

        let mut owned = items.clone();
        let gauge = Gauge::new(limit);
        par_bounded!(limit = limit, batch = 3; for x in &mut owned {
            gauge.body();
            *x += 1;
        });
        gauge.assert_bounded(limit, &format!("&mut Vec, limit {limit}"));
        assert!(owned.iter().zip(&items).all(|(a, b)| *a == b + 1));
    }
}

/// Three levels of loops, each limited to 2: every run of a level is checked for its own
/// bound from inside the level above, and the grand total must come out right.
#[bounded(limit = 2, batch = 1, reduce(total: +))]
fn nested_total(grid: &[Vec<Vec<u64>>], outer: &Gauge, all_inner: &Gauge) -> u64 {
    let mut total = 0;
    for plane in grid {
        let _outer = outer.enter();
        let middle = Gauge::new(2);
        let mut plane_sum = 0;
        par_bounded!(limit = 2, batch = 1, reduce(plane_sum: +); for row in plane {
            let _middle = middle.enter();
            let inner = Gauge::new(2);
            let mut row_sum = 0;
            par_bounded!(limit = 2, batch = 1, reduce(row_sum: +); for x in row {
                let _all = all_inner.enter();
                inner.body();
                row_sum += x;
            });
            inner.assert_bounded(2, "innermost loop");
            plane_sum += row_sum;
        });
        assert!(
            middle.peak() <= 2,
            "middle loop ran {} at once",
            middle.peak()
        );
        total += plane_sum;
    }
    total
}

#[test]
fn three_nested_levels_each_keep_their_bound() {
    wide_pool();
    let grid: Vec<Vec<Vec<u64>>> = (0..5u64)
        .map(|p| {
            (0..4u64)
                .map(|r| (0..6u64).map(|x| p * 100 + r * 10 + x).collect())
                .collect()
        })
        .collect();
    let expected: u64 = grid.iter().flatten().flatten().sum();
    for _ in 0..3 {
        let (outer, all_inner) = (Gauge::new(1), Gauge::new(1));
        assert_eq!(nested_total(&grid, &outer, &all_inner), expected);
        outer.assert_bounded(2, "outermost loop");
        // Two outer items, each with two middle items, each with two inner bodies.
        assert!(
            all_inner.peak() <= 8,
            "{} innermost bodies",
            all_inner.peak()
        );
    }
}

#[test]
fn a_loop_inside_rayon_par_iter_terminates_and_keeps_its_bound() {
    wide_pool();
    let items: Vec<u64> = (0..40).collect();
    let sums: Vec<u64> = (0..8u64)
        .into_par_iter()
        .map(|k| {
            let gauge = Gauge::new(2);
            let mut sum = 0;
            par_bounded!(limit = 2, batch = 1, reduce(sum: +); for x in &items {
                gauge.body();
                sum += x * k;
            });
            gauge.assert_bounded(2, "loop inside par_iter");
            sum
        })
        .collect();
    let expected: Vec<u64> = (0..8u64).map(|k| items.iter().sum::<u64>() * k).collect();
    assert_eq!(sums, expected);
}

#[test]
fn a_loop_inside_rayon_scope_terminates_and_keeps_its_bound() {
    wide_pool();
    let items: Vec<u64> = (0..40).collect();
    let sums = Mutex::new(Vec::new());
    rayon::scope(|s| {
        for k in 0..6u64 {
            let (items, sums) = (&items, &sums);
            s.spawn(move |_| {
                let gauge = Gauge::new(3);
                let mut sum = 0;
                par_bounded!(limit = 3, batch = 2, reduce(sum: +); for x in items {
                    gauge.body();
                    sum += x + k;
                });
                gauge.assert_bounded(3, "loop inside rayon::scope");
                sums.lock().unwrap().push((k, sum));
            });
        }
    });
    let mut sums = sums.into_inner().unwrap();
    sums.sort_unstable();
    let base: u64 = items.iter().sum();
    let expected: Vec<(u64, u64)> = (0..6u64).map(|k| (k, base + 40 * k)).collect();
    assert_eq!(sums, expected);
}

/// More outer tasks than the pool has threads, each running a loop of its own: every
/// worker may be busy with an outer task, and the loops must still finish.
#[test]
fn loops_inside_a_saturated_rayon_pool_finish() {
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
fn a_loop_inside_install_runs_on_that_pool() {
    wide_pool();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .thread_name(|i| format!("installed-{i}"))
        .build()
        .unwrap();
    let items: Vec<u32> = (0..60).collect();
    let names = Mutex::new(HashSet::new());
    let gauge = Gauge::new(3);
    pool.install(|| {
        par_bounded!(limit = 8, batch = 1; for _item in &items {
            gauge.body();
            names.lock().unwrap().insert(std::thread::current().name().map(str::to_owned));
        });
    });
    // The installed pool has 3 threads, so 3 is the most a limit of 8 can reach.
    gauge.assert_bounded(3, "loop inside install");
    let names = names.into_inner().unwrap();
    assert!(
        names
            .iter()
            .all(|n| n.as_deref().is_some_and(|n| n.starts_with("installed-"))),
        "{names:?}"
    );
}

#[test]
fn named_loop_stats_count_runs_items_and_batches() {
    wide_pool();
    let items: Vec<u32> = (0..1000).collect();
    let threads = Mutex::new(HashSet::new());
    let done = AtomicUsize::new(0);
    for _ in 0..2 {
        par_bounded!(limit = 3, batch = 10, name = "bound-stats"; for _item in &items {
            threads.lock().unwrap().insert(tid());
            done.fetch_add(1, SeqCst);
        });
    }
    assert_eq!(done.load(SeqCst), 2000);
    let all = bounded::stats::loops();
    let stats = all
        .iter()
        .find(|s| s.name == "bound-stats")
        .expect("the named loop is listed");
    assert_eq!(stats.runs, 2);
    assert_eq!(stats.items, 2000);
    assert_eq!(stats.batches, 200);
    assert_eq!((stats.failed, stats.panicked), (0, 0));
    assert!(
        (1..=3).contains(&stats.peak_running),
        "peak {}",
        stats.peak_running
    );
    assert!(
        stats.location.file.ends_with("bound.rs"),
        "{:?}",
        stats.location
    );

    // The peak is a real measurement: sleepy bodies that wait for each other reach it.
    let gauge = Gauge::new(3);
    par_bounded!(limit = 3, batch = 1, name = "bound-stats-peak"; for _item in &items[..30] {
        gauge.body();
    });
    gauge.assert_bounded(3, "bound-stats-peak");
    let all = bounded::stats::loops();
    let stats = all.iter().find(|s| s.name == "bound-stats-peak").unwrap();
    assert!(
        (gauge.peak()..=3).contains(&stats.peak_running),
        "stats peak {}, measured {}",
        stats.peak_running,
        gauge.peak()
    );
    assert_eq!((stats.runs, stats.items, stats.batches), (1, 30, 30));
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
                    // The panicking run has no error: fail-fast lets an error at item 10
                    // stop the run before a lane that claimed item 5's batch starts it.
                    if *x == 10 && panic_at == u32::MAX {
                        Err(*x)?;
                    }
                    if *x == panic_at {
                        panic!("item {x}");
                    }
                });
                Ok(())
            }))
        };
        // An error, then a panic in a run that fails nowhere else.
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
    let stats = failing_runs!("bound-failures-lanes", 3);
    assert_eq!(stats.runs, 2);
    assert!(stats.failed >= 1, "{stats:?}");
    assert_eq!(stats.panicked, 1, "{stats:?}");
}

#[test]
fn stats_count_panicked_batches_on_one_lane() {
    wide_pool();
    let stats = failing_runs!("bound-failures-one-lane", 1);
    assert_eq!(stats.runs, 2);
    assert!(stats.failed >= 1, "{stats:?}");
    assert_eq!(stats.panicked, 1, "{stats:?}");
}

#[test]
fn a_sized_iterator_starts_no_more_lanes_than_it_has_batches() {
    let mut total = 0u64;
    // A huge limit over ten items: ten lanes at most, not a hundred thousand.
    par_bounded!(limit = 100_000, batch = 1, reduce(total: +), name = "tiny-sized"; for x in (0..10u64).map(|x| x * 2) {
        total += x;
    });
    assert_eq!(total, 90);
    let stats = bounded::stats::loops()
        .into_iter()
        .find(|s| s.name == "tiny-sized")
        .unwrap();
    assert!(stats.peak_running <= 10, "{stats:?}");
    assert_eq!(stats.items, 10);
}
