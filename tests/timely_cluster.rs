//! `backend = timely` across local processes on loopback: every operator and input kind
//! gives the sequential answer on every process of 1, 2 and 3 processes × 1 and 2
//! workers, every process runs items, and errors, panics, a missing peer and a
//! mismatched loop are reported on every process within the connect timeout.
//!
//! Each test is its own cluster: `Launch::run` re-runs this binary with the test's
//! name, and the members run the rest of the test. Each test has its own base port, and
//! the launch's deadline is the watchdog: a member still running then is killed and the
//! test fails.

use std::collections::{BTreeMap, BTreeSet};
use std::num::Wrapping;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use bounded::cluster::{Launch, Member, Role};
use bounded::par_bounded;
use serde::{Deserialize, Serialize};

/// The watchdog of every launch.
const DEADLINE: Duration = Duration::from_secs(120);

/// Runs the rest of the test on `processes` × `workers` local processes: `Some` in a
/// member, `None` in the launcher once every member has passed.
fn members(processes: usize, workers: usize, port: u16) -> Option<Member> {
    launch(
        Launch::new(processes)
            .workers(workers)
            .port(port)
            .connect_timeout(Duration::from_secs(20)),
    )
}

fn launch(launch: Launch) -> Option<Member> {
    match launch.deadline(DEADLINE).run() {
        Role::Member(m) => Some(m),
        Role::Launcher(done) => {
            for (p, m) in done.members.iter().enumerate() {
                assert!(
                    m.status.is_some_and(|s| s.success()),
                    "process {p} failed ({:?}):\n--- stdout\n{}\n--- stderr\n{}",
                    m.status,
                    m.stdout,
                    m.stderr
                );
                assert!(
                    m.stdout.contains("test result: ok. 1 passed"),
                    "process {p} ran no test:\n{}",
                    m.stdout
                );
            }
            None
        }
    }
}

/// An item's value, whatever the input hands out.
trait Value {
    fn value(self) -> u64;
}
impl Value for u64 {
    fn value(self) -> u64 {
        self
    }
}
impl Value for &u64 {
    fn value(self) -> u64 {
        *self
    }
}

#[derive(Debug, PartialEq, Clone)]
struct Numbers {
    sum: u64,
    product: Wrapping<u64>,
    and: u64,
    or: u64,
    xor: u64,
    all: bool,
    any: bool,
    low: u64,
    high: u64,
    folded: u64,
}

#[derive(Debug, PartialEq, Clone)]
struct Ordered {
    order: Vec<u64>,
    counts: BTreeMap<u64, u64>,
    latest: BTreeMap<u64, u64>,
    last: u64,
    collected: Vec<u64>,
}

fn concat_max(a: u64, b: u64) -> u64 {
    a.max(b).wrapping_mul(1) // associative: a fold of `max`
}

fn numbers_sequentially(xs: impl Iterator<Item = u64>) -> Numbers {
    let mut n = Numbers {
        sum: 0,
        product: Wrapping(1),
        and: u64::MAX,
        or: 0,
        xor: 0,
        all: true,
        any: false,
        low: u64::MAX,
        high: 0,
        folded: 0,
    };
    for x in xs {
        n.sum += x * x;
        n.product *= Wrapping(x | 1);
        n.and &= x | 0x0f0f;
        n.or |= x & 0xf0;
        n.xor ^= x;
        n.all = n.all && x % 11 != 3;
        n.any = n.any || x % 1009 == 7;
        n.low = n.low.min(x + 5);
        n.high = n.high.max(x);
        n.folded = concat_max(n.folded, x % 97);
    }
    n
}

fn ordered_sequentially(xs: impl Iterator<Item = u64>) -> Ordered {
    let mut o = Ordered {
        order: Vec::new(),
        counts: BTreeMap::new(),
        latest: BTreeMap::new(),
        last: 0,
        collected: Vec::new(),
    };
    for x in xs {
        if x % 3 == 0 {
            o.order.push(x);
        }
        *o.counts.entry(x % 7).or_insert(0) += 1;
        o.latest.insert(x % 5, x);
        o.last = x;
        o.collected.push(x * 2);
    }
    o
}

/// Every operator over one input expression, as `par_bounded!` loops on timely.
macro_rules! every_operator {
    ($input:expr, $batch:expr) => {{
        let (mut sum, mut product) = (0u64, Wrapping(1u64));
        let (mut and, mut or, mut xor) = (u64::MAX, 0u64, 0u64);
        let (mut all, mut any, mut low, mut high, mut folded) =
            (true, false, u64::MAX, 0u64, 0u64);
        let mut seen = BTreeSet::new();
        par_bounded!(backend = timely, limit = 2, batch = $batch,
            reduce(sum: +, product: *, and: &, or: |, xor: ^, all: &&, any: ||, low: min, high: max, folded: concat_max, seen: merge);
            for x in $input {
                let x = x.value();
                sum += x * x;
                product *= Wrapping(x | 1);
                and &= x | 0x0f0f;
                or |= x & 0xf0;
                xor ^= x;
                all = all && x % 11 != 3;
                any = any || x % 1009 == 7;
                low = low.min(x + 5);
                high = high.max(x);
                folded = concat_max(folded, x % 97);
                seen.insert(std::process::id());
            });
        let numbers = Numbers { sum, product, and, or, xor, all, any, low, high, folded };

        let (mut order, mut counts, mut latest, mut last) =
            (Vec::new(), BTreeMap::new(), BTreeMap::new(), 0u64);
        par_bounded!(backend = timely, limit = 2, batch = $batch,
            reduce(order: append, counts: merge, latest: extend, last: last);
            for x in $input {
                let x = x.value();
                if x % 3 == 0 {
                    order.push(x);
                }
                *counts.entry(x % 7).or_insert(0u64) += 1;
                latest.insert(x % 5, x);
                last = x;
            });
        let collected: Vec<u64> =
            par_bounded!(backend = timely, limit = 2, batch = $batch; for x in $input => x.value() * 2);
        (numbers, Ordered { order, counts, latest, last, collected }, seen)
    }};
}

/// Every input kind: a range, a slice, an owned `Vec`, and a pulled iterator (read on
/// process 0 and sent round-robin); each gives the sequential answer on every process,
/// and every process ran items of each.
fn every_operator_and_input(processes: usize) {
    const N: u64 = 3000;
    let expected = (numbers_sequentially(0..N), ordered_sequentially(0..N));
    let xs: Vec<u64> = (0..N).collect();

    let got = every_operator!(0..N, 64);
    assert_eq!((&got.0, &got.1), (&expected.0, &expected.1), "range");
    assert_eq!(
        got.2.len(),
        processes,
        "every process ran items of the range"
    );

    let got = every_operator!(&xs, 64);
    assert_eq!((&got.0, &got.1), (&expected.0, &expected.1), "slice");
    assert_eq!(
        got.2.len(),
        processes,
        "every process ran items of the slice"
    );

    let got = every_operator!(xs.clone(), 64);
    assert_eq!((&got.0, &got.1), (&expected.0, &expected.1), "owned");
    assert_eq!(
        got.2.len(),
        processes,
        "every process ran items of the vector"
    );

    let got = every_operator!((0..N).filter(|_| true), 16);
    assert_eq!((&got.0, &got.1), (&expected.0, &expected.1), "pulled");
    assert_eq!(
        got.2.len(),
        processes,
        "every process ran items of the pulled input"
    );

    // `batch = auto`, and `if = false` (each process alone, sequentially).
    let mut total = 0u64;
    par_bounded!(backend = timely, reduce(total: +); for x in 0..N { total += x * x; });
    assert_eq!(total, expected.0.sum);
    let mut local = 0u64;
    par_bounded!(backend = timely, if = false, reduce(local: +); for x in &xs { local += x * x; });
    assert_eq!(local, expected.0.sum);
}

#[test]
fn one_process_one_worker() {
    let Some(_m) = members(1, 1, 23100) else {
        return;
    };
    every_operator_and_input(1);
}

#[test]
fn one_process_two_workers() {
    let Some(_m) = members(1, 2, 23110) else {
        return;
    };
    every_operator_and_input(1);
}

#[test]
fn two_processes_one_worker() {
    let Some(_m) = members(2, 1, 23120) else {
        return;
    };
    every_operator_and_input(2);
}

#[test]
fn two_processes_two_workers() {
    let Some(_m) = members(2, 2, 23130) else {
        return;
    };
    every_operator_and_input(2);
}

#[test]
fn three_processes_one_worker() {
    let Some(_m) = members(3, 1, 23140) else {
        return;
    };
    every_operator_and_input(3);
}

#[test]
fn three_processes_two_workers() {
    let Some(_m) = members(3, 2, 23150) else {
        return;
    };
    every_operator_and_input(3);
}

/// Owned items that count their drops: every process drops each of its copies once,
/// whether the item ran here, ran elsewhere, or never ran after an error.
static MADE: AtomicUsize = AtomicUsize::new(0);
static DROPPED: AtomicUsize = AtomicUsize::new(0);

#[derive(Debug, Serialize, Deserialize)]
struct Counted(String);

impl Counted {
    fn new(s: String) -> Self {
        MADE.fetch_add(1, SeqCst);
        Counted(s)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, SeqCst);
    }
}

/// `?` gives the error of the first failing item in input order on every process,
/// under fail-fast and `keep_going`, for an indexed and a pulled input; owned items are
/// dropped once each; `break` ends the loop at the first breaking item in input order.
#[test]
fn errors_and_breaks_are_the_first_in_input_order_everywhere() {
    let Some(_m) = members(3, 2, 23160) else {
        return;
    };
    fn fail_at(xs: Vec<Counted>, bad: &[usize], keep_going: bool) -> Result<u64, String> {
        let mut total = 0u64;
        if keep_going {
            par_bounded!(backend = timely, limit = 2, batch = 7, keep_going, reduce(total: +); for c in xs {
                let i: usize = c.0.parse().map_err(|_| "parse".to_string())?;
                if bad.contains(&i) {
                    Err(format!("item {i}"))?;
                }
                total += i as u64;
            });
        } else {
            par_bounded!(backend = timely, limit = 2, batch = 7, reduce(total: +); for c in xs {
                let i: usize = c.0.parse().map_err(|_| "parse".to_string())?;
                if bad.contains(&i) {
                    Err(format!("item {i}"))?;
                }
                total += i as u64;
            });
        }
        Ok(total)
    }
    let make = |n: usize| {
        (0..n)
            .map(|i| Counted::new(i.to_string()))
            .collect::<Vec<_>>()
    };
    for keep_going in [false, true] {
        // The later error is in process 0's part, the earlier in process 2's: no, the
        // earlier one comes first whichever process ran it.
        assert_eq!(
            fail_at(make(900), &[850, 400, 100], keep_going),
            Err("item 100".into())
        );
        assert_eq!(
            fail_at(make(900), &[899], keep_going),
            Err("item 899".into())
        );
        assert_eq!(fail_at(make(900), &[], keep_going), Ok((0..900).sum()));
    }
    assert_eq!(
        MADE.load(SeqCst),
        DROPPED.load(SeqCst),
        "every owned item dropped once"
    );

    // Pulled: read on process 0, errors still placed by input order.
    let pulled = |bad: u64| -> Result<u64, String> {
        let mut total = 0u64;
        par_bounded!(backend = timely, limit = 2, batch = 5, reduce(total: +); for x in (0..600u64).step_by(1) {
            if x == bad || x == bad + 250 {
                Err(format!("item {x}"))?;
            }
            total += x;
        });
        Ok(total)
    };
    assert_eq!(pulled(123), Err("item 123".into()));
    assert_eq!(pulled(10_000), Ok((0..600).sum()));

    // `break`: the sum of the items before the first one whose square exceeds 10^5
    // (which lies in some process's part), and that item, as `last`.
    let mut before = 0u64;
    let mut found = 0u64;
    par_bounded!(backend = timely, limit = 2, batch = 3, reduce(before: +, found: last); for x in 0..1000u64 {
        if x * x > 100_000 && x % 2 == 1 {
            found = x;
            break;
        }
        before += x;
    });
    assert_eq!((found, before), (317, (0..317).sum()));
}

/// A panic on one process is re-raised on every process with its message.
#[test]
fn a_panic_is_raised_on_every_process() {
    let Some(_m) = members(2, 1, 23170) else {
        return;
    };
    let result = catch_unwind(AssertUnwindSafe(|| {
        let mut total = 0u64;
        par_bounded!(backend = timely, limit = 2, batch = 10, reduce(total: +); for x in 0..1000u64 {
            if x == 777 {
                panic!("boom at {x}");
            }
            total += x;
        });
        total
    }));
    let payload = result.expect_err("the loop panics on every process");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()));
    assert_eq!(message.as_deref(), Some("boom at 777"));
    // The cluster is still usable: a panic is the body's, not the cluster's.
    let mut total = 0u64;
    par_bounded!(backend = timely, reduce(total: +); for x in 0..10u64 { total += x; });
    assert_eq!(total, 45);
}

fn message_of(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// A process that never comes: the others fail within the connect timeout, naming
/// the loop and the missing process.
#[test]
fn a_missing_process_is_reported_within_the_timeout() {
    let Some(_m) = launch(
        Launch::new(2)
            .port(23180)
            .only(&[0])
            .connect_timeout(Duration::from_secs(2)),
    ) else {
        return;
    };
    let started = Instant::now();
    let result = catch_unwind(|| {
        let mut total = 0u64;
        par_bounded!(backend = timely, name = "lonely", reduce(total: +); for x in 0..100u64 { total += x; });
        total
    });
    let message = message_of(result.expect_err("no cluster without process 1"));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(message.contains("lonely"), "{message}");
    assert!(message.contains("process 1"), "{message}");
    // Later loops fail at once with the same cause.
    let again = catch_unwind(|| {
        par_bounded!(backend = timely; for x in 0..10u64 { std::hint::black_box(x); });
    });
    assert!(message_of(again.expect_err("still no cluster")).contains("process 1"));
}

/// Processes that reach different loops fail, each naming both loops.
#[test]
fn a_process_at_another_loop_is_reported() {
    let Some(m) = launch(
        Launch::new(3)
            .port(23190)
            .connect_timeout(Duration::from_secs(3)),
    ) else {
        return;
    };
    // Every process runs one loop together first.
    let mut total = 0u64;
    par_bounded!(backend = timely, reduce(total: +); for x in 0..100u64 { total += x; });
    assert_eq!(total, 4950);
    let started = Instant::now();
    let result = catch_unwind(|| {
        if m.process == 2 {
            par_bounded!(backend = timely, name = "other"; for x in 0..10u64 { std::hint::black_box(x); });
        } else {
            par_bounded!(backend = timely, name = "this"; for x in 0..10u64 { std::hint::black_box(x); });
        }
    });
    let message = message_of(result.expect_err("the loops do not match"));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(message.contains("different loops"), "{message}");
    assert!(
        message.contains("`other") && message.contains("`this"),
        "{message}"
    );
    std::mem::forget(m); // the cluster is broken: no collective end
}

/// A process that exits between two loops: the others fail at the next loop, naming
/// it, within the connect timeout.
#[test]
fn a_process_that_dies_is_reported() {
    let launch = Launch::new(2)
        .port(23210)
        .connect_timeout(Duration::from_secs(3))
        .deadline(DEADLINE);
    let m = match launch.run() {
        Role::Member(m) => m,
        Role::Launcher(done) => {
            let survivor = &done.members[0];
            assert!(
                survivor.status.is_some_and(|s| s.success()),
                "process 0: {:?}\n{}\n{}",
                survivor.status,
                survivor.stdout,
                survivor.stderr
            );
            assert_eq!(done.members[1].status.and_then(|s| s.code()), Some(7));
            return;
        }
    };
    let mut total = 0u64;
    par_bounded!(backend = timely, reduce(total: +); for x in 0..100u64 { total += x; });
    assert_eq!(total, 4950);
    if m.process == 1 {
        std::process::exit(7);
    }
    let started = Instant::now();
    let result = catch_unwind(|| {
        par_bounded!(backend = timely, name = "after"; for x in 0..10u64 { std::hint::black_box(x); });
    });
    let message = message_of(result.expect_err("process 1 is gone"));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        message.contains("after") && message.contains("process 1"),
        "{message}"
    );
    std::mem::forget(m);
}

/// `run_local` from inside `cargo test` starts members of this very test.
#[test]
fn run_local_starts_members_of_this_test() {
    let Some(m) = members(2, 1, 23200) else {
        return;
    };
    assert!(m.process < 2);
    assert_eq!(std::env::var("BOUNDED_PROCESSES").as_deref(), Ok("2"));
    let mut seen = BTreeSet::new();
    par_bounded!(backend = timely, batch = 1, reduce(seen: merge); for x in 0..8u64 {
        std::hint::black_box(x);
        seen.insert(std::process::id());
    });
    assert_eq!(seen.len(), 2);
}
