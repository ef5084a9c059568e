//! `BOUNDED_SERIAL=1` runs every loop sequentially on the calling thread, in input order,
//! whatever its options say, like `OMP_NUM_THREADS=1`. The runtime reads the variable
//! once per process, so this file holds a single test that sets it before the first loop
//! runs.

mod common;

use bounded::{bounded, par_bounded};
use common::{par_with_schedule, tid, wide_pool, SCHEDULES};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Mutex;
use std::thread::{self, ThreadId};
use std::time::Duration;

/// Items and the threads that ran them, in the order they ran.
type Seen = Mutex<Vec<(u32, ThreadId)>>;

fn record(seen: &Seen, x: u32) {
    // Long enough that other lanes, if there were any, would take items meanwhile.
    thread::sleep(Duration::from_micros(100));
    seen.lock().unwrap().push((x, tid()));
}

/// Asserts that `seen` holds exactly `expected`, in order, all on this thread.
#[track_caller]
fn assert_sequential_here(seen: Seen, expected: impl IntoIterator<Item = u32>, what: &str) {
    let seen = seen.into_inner().unwrap();
    let me = tid();
    let off_thread = seen.iter().filter(|(_, t)| *t != me).count();
    assert_eq!(off_thread, 0, "{what}: items ran on other threads");
    let order: Vec<u32> = seen.iter().map(|(x, _)| *x).collect();
    assert_eq!(
        order,
        expected.into_iter().collect::<Vec<_>>(),
        "{what}: not in input order"
    );
}

#[bounded(limit = 8, batch = 1, schedule = steal, reduce(total: +))]
fn parallel_by_its_options(xs: &[u32], seen: &Seen) -> u64 {
    let mut total = 0;
    for x in xs {
        record(seen, *x);
        total += u64::from(*x);
    }
    total
}

#[bounded(limit = 8, batch = 3, schedule = steal, reduce(total: +, order: append))]
fn total_and_order(xs: Vec<u32>, seen: &Seen) -> (u64, Vec<u32>) {
    let mut total = 0;
    let mut order = Vec::new();
    for x in xs {
        record(seen, x);
        total += u64::from(x);
        order.push(x);
    }
    (total, order)
}

#[bounded(limit = 4, batch = 1, name = "serial-env-nested")]
fn nested(rows: &[Vec<u32>], seen: &Seen) {
    for row in rows {
        par_bounded!(limit = 4, batch = 1, if = true, backend = rayon; for x in row {
            record(seen, *x);
        });
    }
}

#[test]
fn bounded_serial_runs_every_loop_in_order_on_the_calling_thread() {
    // Edition 2021: `set_var` is safe here, and no other thread reads the environment yet.
    std::env::set_var("BOUNDED_SERIAL", "1");
    wide_pool();
    // Reversed, so sorted order would not pass for input order.
    let xs: Vec<u32> = (0..200).rev().collect();
    let sum: u64 = xs.iter().map(|x| u64::from(*x)).sum();

    let seen = Seen::default();
    assert_eq!(parallel_by_its_options(&xs, &seen), sum);
    assert_sequential_here(seen, xs.clone(), "#[bounded(limit = 8, schedule = steal)]");

    let seen = Seen::default();
    let (total, order) = total_and_order(xs.clone(), &seen);
    assert_eq!((total, &order), (sum, &xs));
    assert_sequential_here(seen, xs.clone(), "#[bounded] with reductions, owned input");

    for schedule in SCHEDULES {
        let seen = Seen::default();
        par_with_schedule!(schedule, limit = 8, batch = 1; for x in &xs {
            record(&seen, *x);
        });
        assert_sequential_here(seen, xs.clone(), &format!("par_bounded!, {schedule:?}"));
    }

    let seen = Seen::default();
    par_bounded!(limit = cpus * 4, batch = 1, schedule = static; for x in &xs {
        record(&seen, *x);
    });
    assert_sequential_here(seen, xs.clone(), "par_bounded!(limit = cpus * 4)");

    // `if = true` and an explicit rayon backend do not override the variable.
    let seen = Seen::default();
    par_bounded!(limit = 8, batch = 2, backend = rayon, if = true; for x in &xs {
        record(&seen, *x);
    });
    assert_sequential_here(seen, xs.clone(), "backend = rayon, if = true");

    // A pulled input, and a runtime limit.
    let limit = 4;
    let seen = Seen::default();
    par_bounded!(limit = limit, batch = 2; for x in xs.iter().map(|x| x + 1) {
        record(&seen, x);
    });
    assert_sequential_here(seen, xs.iter().map(|x| x + 1), "pulled input");

    // Nested loops stay on the calling thread too, and the outer one ran one at a time.
    let seen = Seen::default();
    let rows: Vec<Vec<u32>> = (0..4).map(|r| (r * 10..r * 10 + 5).collect()).collect();
    nested(&rows, &seen);
    assert_sequential_here(seen, rows.concat(), "nested loops");
    let stats = bounded::stats::loops();
    let outer = stats
        .iter()
        .find(|s| s.name == "serial-env-nested")
        .unwrap();
    assert_eq!(outer.peak_running, 1);

    // Fail-fast on one thread: the first failing item ends the loop, nothing after it
    // starts. Items below 180 fail; the first of them is the 21st item.
    let started = AtomicUsize::new(0);
    let result = (|| -> Result<(), u32> {
        par_bounded!(limit = 6, batch = 1; for x in &xs {
            started.fetch_add(1, SeqCst);
            if *x < 180 {
                Err(*x)?;
            }
        });
        Ok(())
    })();
    assert_eq!((result, started.load(SeqCst)), (Err(179), 21));

    // The collect form gives the sequential answer, computed in order on this thread.
    let seen = Seen::default();
    let squares: Vec<u64> = par_bounded!(limit = 4, batch = 3; for x in &xs => {
        record(&seen, *x);
        u64::from(*x).pow(2)
    });
    assert_eq!(
        squares,
        xs.iter().map(|x| u64::from(*x).pow(2)).collect::<Vec<_>>()
    );
    assert_sequential_here(seen, xs.clone(), "collect form");
}
