//! `BOUNDED_SERIAL=1` runs every loop sequentially on the calling thread, in input order,
//! whatever its options say. The runtime reads the variable once per process, so this
//! file holds a single test that sets it before the first loop runs.

mod common;

use bounded::{bounded, par_bounded};
use common::{tid, wide_pool};
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

#[track_caller]
fn assert_sequential_here(seen: Seen, expected: impl IntoIterator<Item = u32>, what: &str) {
    let seen = seen.into_inner().unwrap();
    let me = tid();
    assert!(
        seen.iter().all(|(_, t)| *t == me),
        "{what}: ran on another thread"
    );
    let order: Vec<u32> = seen.iter().map(|(x, _)| *x).collect();
    assert_eq!(
        order,
        expected.into_iter().collect::<Vec<_>>(),
        "{what}: out of order"
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
    std::env::set_var("BOUNDED_SERIAL", "1");
    wide_pool();
    let xs: Vec<u32> = (0..64).collect();

    let seen = Seen::default();
    assert_eq!(parallel_by_its_options(&xs, &seen), 63 * 64 / 2);
    assert_sequential_here(seen, 0..64, "#[bounded(limit = 8, schedule = steal)]");

    let seen = Seen::default();
    par_bounded!(limit = cpus * 4, batch = 1, schedule = static; for x in &xs {
        record(&seen, *x);
    });
    assert_sequential_here(seen, 0..64, "par_bounded!(limit = cpus * 4)");

    let seen = Seen::default();
    par_bounded!(limit = 4, batch = 2; for x in xs.iter().rev().copied() {
        record(&seen, x);
    });
    assert_sequential_here(seen, (0..64).rev(), "pulled input");

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

    // Fail-fast on one thread: the first failing item ends the loop, nothing after it starts.
    let started = AtomicUsize::new(0);
    let result = (|| -> Result<(), u32> {
        par_bounded!(limit = 6, batch = 1; for x in &xs {
            started.fetch_add(1, SeqCst);
            if *x >= 20 {
                Err(*x)?;
            }
        });
        Ok(())
    })();
    assert_eq!((result, started.load(SeqCst)), (Err(20), 21));

    // Reductions and the collect form still give the sequential answer.
    let squares: Vec<u64> =
        par_bounded!(limit = 4, batch = 3; for x in &xs => u64::from(*x).pow(2));
    assert_eq!(
        squares,
        xs.iter().map(|x| u64::from(*x).pow(2)).collect::<Vec<_>>()
    );
}
