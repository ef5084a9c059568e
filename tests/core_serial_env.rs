//! `BOUNDED_SERIAL=1` runs every loop sequentially on the calling thread, in input order,
//! like `OMP_NUM_THREADS=1`. The variable is read once per process, so this file holds a
//! single test that sets it before any loop runs.

use bounded::{bounded, par_bounded};
use std::sync::Mutex;
use std::thread::{self, ThreadId};

type Seen = Mutex<Vec<(u32, ThreadId)>>;

fn record(seen: &Seen, x: u32) {
    seen.lock().unwrap().push((x, thread::current().id()));
}

#[bounded(limit = 8, batch = 1)]
fn visit_all(xs: &[u32], seen: &Seen) {
    for x in xs {
        record(seen, *x);
    }
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

/// Asserts that `seen` holds exactly `expected`, in order, all on this thread.
#[track_caller]
fn assert_serial(seen: Seen, expected: &[u32], what: &str) {
    let seen = seen.into_inner().unwrap();
    let me = thread::current().id();
    let off_thread = seen.iter().filter(|(_, t)| *t != me).count();
    assert_eq!(off_thread, 0, "{what}: items ran on other threads");
    let order: Vec<u32> = seen.into_iter().map(|(x, _)| x).collect();
    assert_eq!(order, expected, "{what}: not in input order");
}

#[test]
fn bounded_serial_runs_every_loop_on_the_calling_thread_in_order() {
    // Edition 2021: `set_var` is safe here, and no other thread reads the environment yet.
    std::env::set_var("BOUNDED_SERIAL", "1");

    // Reversed, so sorted order would not pass for input order.
    let xs: Vec<u32> = (0..500).rev().collect();

    let seen = Seen::default();
    visit_all(&xs, &seen);
    assert_serial(seen, &xs, "#[bounded(limit = 8, batch = 1)]");

    let seen = Seen::default();
    let (total, order) = total_and_order(xs.clone(), &seen);
    assert_eq!(total, xs.iter().map(|x| u64::from(*x)).sum::<u64>());
    assert_eq!(order, xs);
    assert_serial(seen, &xs, "#[bounded] with reductions, owned input");

    for which in 0..4 {
        let seen = Seen::default();
        match which {
            0 => par_bounded!(limit = 8, batch = 1, schedule = dynamic; for x in &xs {
                record(&seen, *x);
            }),
            1 => par_bounded!(limit = 8, batch = 1, schedule = static; for x in &xs {
                record(&seen, *x);
            }),
            2 => par_bounded!(limit = 8, batch = 1, schedule = guided; for x in &xs {
                record(&seen, *x);
            }),
            _ => par_bounded!(limit = 8, batch = 1, schedule = steal; for x in &xs {
                record(&seen, *x);
            }),
        }
        assert_serial(seen, &xs, &format!("par_bounded! schedule #{which}"));
    }

    // `if = true` and an explicit rayon backend do not override the variable.
    let seen = Seen::default();
    par_bounded!(limit = 8, batch = 2, backend = rayon, if = true; for x in &xs {
        record(&seen, *x);
    });
    assert_serial(seen, &xs, "backend = rayon, if = true");

    // A pulled input, and a runtime limit.
    let limit = 8;
    let seen = Seen::default();
    par_bounded!(limit = limit, batch = 4; for x in xs.iter().map(|x| x + 1) {
        record(&seen, x);
    });
    let plus_one: Vec<u32> = xs.iter().map(|x| x + 1).collect();
    assert_serial(seen, &plus_one, "pulled input");

    // The collect form.
    let seen = Seen::default();
    let doubled: Vec<u32> = par_bounded!(limit = 8, batch = 1; for x in &xs => {
        record(&seen, *x);
        x * 2
    });
    assert_eq!(doubled, xs.iter().map(|x| x * 2).collect::<Vec<_>>());
    assert_serial(seen, &xs, "collect form");

    // Nested loops stay on the calling thread too.
    let seen = Seen::default();
    par_bounded!(limit = 8, batch = 1; for x in &xs[..20] {
        par_bounded!(limit = 8, batch = 1; for y in 0..3u32 {
            record(&seen, x * 10 + y);
        });
    });
    let nested: Vec<u32> = xs[..20]
        .iter()
        .flat_map(|x| (0..3).map(move |y| x * 10 + y))
        .collect();
    assert_serial(seen, &nested, "nested loops");
}
