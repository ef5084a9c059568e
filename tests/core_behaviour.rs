//! Loop semantics on the rayon and serial backends: `?` returns the function's error and
//! fails fast, `keep_going` runs everything and reports the first failure in input
//! order, `continue` skips, panics reach the caller with their payload, `if`,
//! `backend = serial`, `#[serial]` and per-loop overrides decide where loops run, `with`
//! state is per worker, generic functions, methods and `crate = PATH` work, and runtime
//! zeros are refused with a message naming the option.

use bounded::{bounded, par_bounded};
use std::panic::{catch_unwind, panic_any, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Mutex, Once};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

/// Makes rayon's global pool wider than any limit used here, so that bodies waiting for
/// a partner in one test cannot hold every worker another test needs. Every test calls
/// it first.
fn wide_pool() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Fails only if the pool was already built, 16 wide as well.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(16)
            .build_global();
    });
}

/// Counts bodies running at once; bodies may wait (up to a deadline) for a partner so
/// that overlap, where allowed, is certain.
struct Gauge {
    running: AtomicUsize,
    peak: AtomicUsize,
    want: usize,
    deadline: Instant,
}

impl Gauge {
    fn new(want: usize) -> Self {
        Gauge {
            running: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            want,
            deadline: Instant::now() + Duration::from_secs(3),
        }
    }

    fn enter(&self) -> impl Drop + '_ {
        let now = self.running.fetch_add(1, SeqCst) + 1;
        self.peak.fetch_max(now, SeqCst);
        struct Leave<'a>(&'a AtomicUsize);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, SeqCst);
            }
        }
        Leave(&self.running)
    }

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

    fn running(&self) -> usize {
        self.running.load(SeqCst)
    }
}

fn me() -> ThreadId {
    thread::current().id()
}

// ------------------------------------------------------------------------------ `?`

/// Code written against its own `Result` alias, as applications do.
mod app {
    use super::*;

    #[derive(Debug, PartialEq)]
    pub enum MyError {
        BadNumber(String),
        TooBig(u32),
    }

    impl From<std::num::ParseIntError> for MyError {
        fn from(e: std::num::ParseIntError) -> Self {
            MyError::BadNumber(e.to_string())
        }
    }

    /// A lower-level error the loop bodies raise; `?` converts it.
    #[derive(Debug)]
    pub struct Oversized(pub u32);

    impl From<Oversized> for MyError {
        fn from(e: Oversized) -> Self {
            MyError::TooBig(e.0)
        }
    }

    pub type Result<T> = std::result::Result<T, MyError>;

    pub fn at_most(x: u32, max: u32) -> std::result::Result<u32, Oversized> {
        if x > max {
            Err(Oversized(x))
        } else {
            Ok(x)
        }
    }

    #[bounded(limit = 4, batch = 8, reduce(total: +))]
    pub fn parse_total(lines: &[String]) -> Result<u64> {
        let mut total = 0;
        for line in lines {
            total += line.parse::<u64>()?;
        }
        Ok(total)
    }

    pub struct Checker {
        pub max: u32,
        pub checked: AtomicUsize,
    }

    impl Checker {
        #[bounded(limit = 3, batch = 5, reduce(total: +))]
        pub fn total(&self, xs: &[u32]) -> Result<u64> {
            let mut total = 0u64;
            for x in xs {
                self.checked.fetch_add(1, SeqCst);
                total += u64::from(at_most(*x, self.max)?);
            }
            Ok(total)
        }
    }

    #[bounded(limit = 1, batch = 1)]
    pub fn serial_until_error(xs: &[u32], fail_at: u32, started: &AtomicUsize) -> Result<()> {
        for x in xs {
            started.fetch_add(1, SeqCst);
            if *x == fail_at {
                Err(Oversized(*x))?;
            }
        }
        Ok(())
    }

    #[bounded(limit = 4, batch = 3, keep_going)]
    pub fn check_every(xs: &[u32], max: u32, ran: &AtomicUsize) -> Result<()> {
        for x in xs {
            ran.fetch_add(1, SeqCst);
            at_most(*x, max)?;
        }
        Ok(())
    }
}

use app::{Checker, MyError};

fn lines(n: u64) -> Vec<String> {
    (0..n).map(|i| i.to_string()).collect()
}

#[test]
fn question_mark_returns_the_functions_error_through_from() {
    wide_pool();
    let good = lines(1000);
    assert_eq!(app::parse_total(&good), Ok((0..1000).sum()));

    let mut bad = good.clone();
    bad[637] = "six hundred".into();
    let message = "six hundred".parse::<u64>().unwrap_err().to_string();
    assert_eq!(app::parse_total(&bad), Err(MyError::BadNumber(message)));
}

#[test]
fn question_mark_in_a_method_reading_self() {
    wide_pool();
    let checker = Checker {
        max: 500,
        checked: AtomicUsize::new(0),
    };
    let small: Vec<u32> = (0..=500).collect();
    assert_eq!(checker.total(&small), Ok((0..=500).sum()));
    assert_eq!(checker.checked.load(SeqCst), 501);

    // One item too big: that is the error, converted from `Oversized`.
    let mut xs: Vec<u32> = (0..2000).map(|x| x % 400).collect();
    xs[1500] = 777;
    assert_eq!(checker.total(&xs), Err(MyError::TooBig(777)));
}

#[test]
fn question_mark_in_a_closure_returns_from_the_closure() {
    wide_pool();
    let xs: Vec<u32> = (0..3000).collect();
    let total_below = |max: u32| -> app::Result<u64> {
        let mut total = 0u64;
        par_bounded!(limit = 3, batch = 16, reduce(total: +); for x in &xs {
            total += u64::from(app::at_most(*x, max)?);
        });
        Ok(total + 1)
    };
    assert_eq!(total_below(5000), Ok((0..3000u64).sum::<u64>() + 1));
    assert_eq!(total_below(2999), Ok((0..3000u64).sum::<u64>() + 1));
    // Items 2999 and above are too big; with one failing item the error is exact.
    let only_last = total_below(2998);
    assert_eq!(only_last, Err(MyError::TooBig(2999)));
    // Several failures: fail-fast reports one of them.
    match total_below(1000) {
        Err(MyError::TooBig(x)) => assert!(x > 1000, "{x}"),
        other => panic!("expected TooBig, got {other:?}"),
    }
}

#[test]
fn fail_fast_on_one_lane_starts_almost_nothing_after_the_error() {
    wide_pool();
    let n = 10_000u32;
    let xs: Vec<u32> = (0..n).collect();
    for k in [0u32, 1, 57, 4321] {
        let started = AtomicUsize::new(0);
        let result = app::serial_until_error(&xs, k, &started);
        assert_eq!(result, Err(MyError::TooBig(k)));
        let started = started.load(SeqCst);
        assert!(
            started < k as usize + 10,
            "k = {k}: {started} items started"
        );
    }

    // The same through `par_bounded!` with runtime options.
    let (limit, batch) = (1usize, 1usize);
    let started = AtomicUsize::new(0);
    let result = (|| -> app::Result<()> {
        par_bounded!(limit = limit, batch = batch; for x in &xs {
            started.fetch_add(1, SeqCst);
            app::at_most(*x, 99)?;
        });
        Ok(())
    })();
    assert_eq!(result, Err(MyError::TooBig(100)));
    assert!(started.load(SeqCst) < 110, "{}", started.load(SeqCst));
}

#[test]
fn fail_fast_on_several_lanes_skips_the_rest_and_waits_for_running_items() {
    wide_pool();
    let n = 10_000u32;
    let xs: Vec<u32> = (0..n).collect();
    let gauge = Gauge::new(1);
    let started = AtomicUsize::new(0);
    let result = (|| -> app::Result<()> {
        par_bounded!(limit = 4, batch = 1; for x in &xs {
            let _running = gauge.enter();
            started.fetch_add(1, SeqCst);
            app::at_most(*x, 50)?;
            thread::sleep(Duration::from_micros(20));
        });
        Ok(())
    })();
    assert!(
        matches!(result, Err(MyError::TooBig(x)) if x > 50),
        "{result:?}"
    );
    // Items already running have finished before the error is returned.
    assert_eq!(gauge.running(), 0);
    let started = started.load(SeqCst);
    assert!(
        started < n as usize,
        "every item started: fail-fast ignored"
    );
}

#[test]
fn keep_going_runs_everything_and_reports_the_first_failure_in_input_order() {
    wide_pool();
    let n = 10_000u32;
    let mut xs: Vec<u32> = (0..n).map(|x| x % 100).collect();
    // Failures far apart, in different batches and lanes; the earliest is at 2_222.
    for (at, value) in [(9_000, 900), (2_222, 222), (7_777, 777), (5_000, 500)] {
        xs[at] = value;
    }
    let ran = AtomicUsize::new(0);
    assert_eq!(app::check_every(&xs, 100, &ran), Err(MyError::TooBig(222)));
    assert_eq!(ran.load(SeqCst), n as usize);

    // `par_bounded!`, batch 1, failures whose values do not follow input order.
    let mut ys: Vec<u32> = vec![0; 3000];
    ys[2900] = 1;
    ys[1200] = 3;
    ys[1201] = 2;
    let ran = AtomicUsize::new(0);
    let result = (|| -> Result<(), u32> {
        par_bounded!(limit = 3, batch = 1, keep_going; for (i, y) in ys.iter().enumerate() {
            ran.fetch_add(1, SeqCst);
            if *y != 0 {
                Err(u32::try_from(i).unwrap() * 10 + *y)?;
            }
        });
        Ok(())
    })();
    assert_eq!(result, Err(12003));
    assert_eq!(ran.load(SeqCst), 3000);
}

#[test]
fn continue_skips_the_rest_of_the_item() {
    wide_pool();
    let xs: Vec<u64> = (0..5000).collect();
    let (mut total, mut skipped) = (0u64, 0usize);
    par_bounded!(limit = 4, batch = 13, reduce(total: +, skipped: +); for x in &xs {
        if x % 3 != 0 {
            skipped += 1;
            continue;
        }
        total += x;
    });
    assert_eq!(total, xs.iter().filter(|x| *x % 3 == 0).sum::<u64>());
    assert_eq!(skipped, xs.iter().filter(|x| *x % 3 != 0).count());

    // `continue` in a fallible, keep-going body: skipped items never fail.
    let result = (|| -> Result<u64, u64> {
        let mut kept = 0u64;
        par_bounded!(limit = 2, batch = 7, keep_going, reduce(kept: +); for x in &xs {
            if *x >= 100 {
                continue;
            }
            if *x == 4999 {
                Err(*x)?;
            }
            kept += 1;
        });
        Ok(kept)
    })();
    assert_eq!(result, Ok(100));
}

// ---------------------------------------------------------------------------- panics

#[derive(Debug, PartialEq)]
struct Crash {
    item: u32,
    why: &'static str,
}

#[bounded(limit = 3, batch = 2)]
fn crash_at(xs: &[u32], at: u32, gauge: &Gauge) {
    for x in xs {
        let _running = gauge.enter();
        if *x == at {
            panic_any(Crash {
                item: *x,
                why: "custom payload",
            });
        }
        thread::sleep(Duration::from_micros(50));
    }
}

#[test]
fn a_panic_reaches_the_caller_with_its_payload() {
    wide_pool();
    let xs: Vec<u32> = (0..500).collect();

    // A `String` payload from `panic!` with arguments.
    for limit in [1usize, 4] {
        let caught = catch_unwind(AssertUnwindSafe(|| {
            par_bounded!(limit = limit, batch = 4; for x in &xs {
                if *x == 321 {
                    panic!("item {x} is cursed");
                }
            });
        }));
        let payload = caught.expect_err("the panic must reach the caller");
        assert_eq!(
            payload.downcast_ref::<String>().map(String::as_str),
            Some("item 321 is cursed"),
            "limit {limit}"
        );
    }

    // A custom payload through `panic_any`, from a `#[bounded]` function.
    let gauge = Gauge::new(1);
    let caught = catch_unwind(AssertUnwindSafe(|| crash_at(&xs, 123, &gauge)));
    let payload = caught.expect_err("the panic must reach the caller");
    assert_eq!(
        payload.downcast_ref::<Crash>(),
        Some(&Crash {
            item: 123,
            why: "custom payload"
        })
    );
    // Items already running finished before the panic was re-raised.
    assert_eq!(gauge.running(), 0);

    // Loops keep working afterwards, on every path.
    for limit in [1usize, 4] {
        let mut total = 0u64;
        par_bounded!(limit = limit, batch = 4, reduce(total: +); for x in &xs {
            total += u64::from(*x);
        });
        assert_eq!(total, (0..500).sum::<u64>());
    }
    let gauge = Gauge::new(1);
    crash_at(&xs, u32::MAX, &gauge);
    assert!(gauge.peak() <= 3);
}

#[test]
fn a_panic_stops_dispatch_on_one_lane() {
    wide_pool();
    let xs: Vec<u32> = (0..10_000).collect();
    let started = AtomicUsize::new(0);
    let caught = catch_unwind(AssertUnwindSafe(|| {
        par_bounded!(limit = 1, batch = 1; for x in &xs {
            started.fetch_add(1, SeqCst);
            if *x == 40 {
                panic!("stop");
            }
        });
    }));
    assert!(caught.is_err());
    assert_eq!(started.load(SeqCst), 41);
}

// --------------------------------------------------------------- where loops run

fn record(seen: &Mutex<Vec<(u32, ThreadId)>>, x: u32) {
    seen.lock().unwrap().push((x, me()));
    thread::sleep(Duration::from_micros(100));
}

#[test]
fn if_false_runs_every_item_on_the_calling_thread_in_order() {
    wide_pool();
    let xs: Vec<u32> = (0..200).collect();
    for parallel in [false, true] {
        let seen = Mutex::new(Vec::new());
        par_bounded!(limit = 4, batch = 1, if = parallel; for x in &xs {
            record(&seen, *x);
        });
        let seen = seen.into_inner().unwrap();
        assert_eq!(seen.len(), 200);
        let on_caller = seen.iter().filter(|(_, t)| *t == me()).count();
        if parallel {
            // The lanes run on rayon's workers, never on a test thread.
            assert!(on_caller < 200, "if = true ran everything on the caller");
        } else {
            assert_eq!(on_caller, 200);
            let order: Vec<u32> = seen.iter().map(|(x, _)| *x).collect();
            assert_eq!(order, xs);
        }
    }
}

#[bounded(backend = serial, limit = 8, batch = 1)]
fn serial_backend(xs: &[u32], seen: &Mutex<Vec<(u32, ThreadId)>>) {
    for x in xs {
        record(seen, *x);
    }
}

#[test]
fn backend_serial_runs_on_the_calling_thread_in_input_order() {
    wide_pool();
    let xs: Vec<u32> = (0..300).rev().collect();
    let seen = Mutex::new(Vec::new());
    serial_backend(&xs, &seen);
    let seen = seen.into_inner().unwrap();
    assert!(seen.iter().all(|(_, t)| *t == me()));
    assert_eq!(seen.iter().map(|(x, _)| *x).collect::<Vec<_>>(), xs);

    let seen = Mutex::new(Vec::new());
    par_bounded!(backend = serial, limit = 8, batch = 1; for x in &xs {
        record(&seen, *x);
    });
    let seen = seen.into_inner().unwrap();
    assert!(seen.iter().all(|(_, t)| *t == me()));
    assert_eq!(seen.iter().map(|(x, _)| *x).collect::<Vec<_>>(), xs);
}

#[bounded(limit = 4, batch = 1)]
fn serial_then_parallel(xs: &[u32], seen: &Mutex<Vec<(u32, ThreadId)>>, gauge: &Gauge) {
    #[serial]
    for x in xs {
        record(seen, *x);
    }
    for _x in xs {
        gauge.body();
    }
}

#[test]
fn a_serial_loop_stays_sequential_beside_a_parallel_one() {
    wide_pool();
    let xs: Vec<u32> = (0..120).collect();
    let seen = Mutex::new(Vec::new());
    let gauge = Gauge::new(2);
    serial_then_parallel(&xs, &seen, &gauge);
    let seen = seen.into_inner().unwrap();
    assert!(seen.iter().all(|(_, t)| *t == me()));
    assert_eq!(seen.iter().map(|(x, _)| *x).collect::<Vec<_>>(), xs);
    let peak = gauge.peak();
    assert!((2..=4).contains(&peak), "the parallel loop's peak: {peak}");
}

#[bounded(limit = 4, batch = 1)]
fn override_then_default(xs: &[u32], one: &Gauge, four: &Gauge) {
    #[bounded(limit = 1)]
    for _x in xs {
        one.body();
    }
    for _x in xs {
        four.body();
    }
}

#[test]
fn a_loop_override_keeps_its_own_limit() {
    wide_pool();
    let xs: Vec<u32> = (0..60).collect();
    let one = Gauge::new(1);
    let four = Gauge::new(2);
    override_then_default(&xs, &one, &four);
    assert_eq!(one.peak(), 1);
    assert!((2..=4).contains(&four.peak()), "{}", four.peak());
}

// -------------------------------------------------------------------- `with` state

/// Per-worker state that reports how many items it saw when the worker is done.
struct Tally<'a> {
    items: usize,
    total: &'a AtomicUsize,
    dropped: &'a AtomicUsize,
}

impl Drop for Tally<'_> {
    fn drop(&mut self) {
        self.total.fetch_add(self.items, SeqCst);
        self.dropped.fetch_add(1, SeqCst);
    }
}

#[test]
fn with_state_is_made_at_most_limit_times() {
    wide_pool();
    let xs: Vec<u32> = (0..10_000).collect();
    for limit in [1usize, 3, 5] {
        let (made, total, dropped) = (
            AtomicUsize::new(0),
            AtomicUsize::new(0),
            AtomicUsize::new(0),
        );
        par_bounded!(limit = limit, batch = 7, with(tally = {
            made.fetch_add(1, SeqCst);
            Tally { items: 0, total: &total, dropped: &dropped }
        }); for _x in &xs {
            tally.items += 1;
        });
        let made = made.load(SeqCst);
        assert!((1..=limit).contains(&made), "limit {limit}: made {made}");
        // Every state was dropped, and together they saw every item once.
        assert_eq!(dropped.load(SeqCst), made);
        assert_eq!(total.load(SeqCst), 10_000);
    }
}

#[bounded(limit = 3, batch = 16, reduce(longest: max), with(text = String::new()))]
fn longest_rendering(xs: &[u64], made: &AtomicUsize) -> usize {
    let mut longest = 0;
    for x in xs {
        if text.capacity() == 0 {
            made.fetch_add(1, SeqCst);
        }
        text.clear();
        text.push_str(&format!("{x:x}-{x}"));
        longest = longest.max(text.len());
    }
    longest
}

#[test]
fn with_state_keeps_its_buffer_between_items() {
    wide_pool();
    let xs: Vec<u64> = (0..10_000).collect();
    let made = AtomicUsize::new(0);
    let expected = xs.iter().map(|x| format!("{x:x}-{x}").len()).max().unwrap();
    assert_eq!(longest_rendering(&xs, &made), expected);
    // A buffer allocates once per worker; per item it would allocate 10 000 times.
    assert!(made.load(SeqCst) <= 3, "{}", made.load(SeqCst));
}

// ----------------------------------------------------- generics, methods, crate path

#[bounded(limit = 3, batch = 10, reduce(total: +))]
fn total<T: Copy + Into<u64> + Send + Sync>(xs: &[T]) -> u64 {
    let mut total = 0u64;
    for x in xs {
        total += (*x).into();
    }
    total
}

#[test]
fn generic_functions() {
    wide_pool();
    let bytes: Vec<u8> = (0..=255).collect();
    let words: Vec<u16> = (0..5000).collect();
    let ints: Vec<u32> = (0..5000).map(|x| x * 1000).collect();
    assert_eq!(total(&bytes), (0..=255u64).sum());
    assert_eq!(total(&words), (0..5000u64).sum());
    assert_eq!(total(&ints), (0..5000u64).map(|x| x * 1000).sum());
    assert_eq!(total::<u64>(&[]), 0);
}

struct Pricing {
    unit_cents: u64,
    discount_over: u64,
    names: Vec<String>,
}

impl Pricing {
    #[bounded(limit = 2, batch = 9, reduce(cents: +, labels: append))]
    fn invoice(&self, quantities: &[u64]) -> (u64, Vec<String>) {
        let mut cents = 0;
        let mut labels = Vec::new();
        for (i, q) in quantities.iter().enumerate() {
            let mut price = q * self.unit_cents;
            if *q > self.discount_over {
                price -= price / 10;
            }
            cents += price;
            labels.push(format!("{}x{q}", self.names[i % self.names.len()]));
        }
        (cents, labels)
    }
}

#[test]
fn methods_read_self_fields() {
    wide_pool();
    let pricing = Pricing {
        unit_cents: 250,
        discount_over: 40,
        names: vec!["bolt".into(), "nut".into(), "washer".into()],
    };
    let quantities: Vec<u64> = (0..1000).map(|i| i % 97).collect();
    let (cents, labels) = pricing.invoice(&quantities);
    let expected: u64 = quantities
        .iter()
        .map(|q| {
            let p = q * 250;
            if *q > 40 {
                p - p / 10
            } else {
                p
            }
        })
        .sum();
    assert_eq!(cents, expected);
    assert_eq!(labels.len(), 1000);
    assert_eq!(labels[0], "boltx0");
    assert_eq!(labels[998], format!("washerx{}", 998 % 97));
}

/// The facade under another name, as a crate that re-exports it would offer it.
mod facade {
    pub use ::bounded::*;
}

#[bounded(crate = ::bounded, limit = 2, reduce(n: +))]
fn count_with_crate_path(xs: &[u32]) -> usize {
    let mut n = 0;
    for x in xs {
        if x % 2 == 0 {
            n += 1;
        }
    }
    n
}

#[test]
fn crate_path_works() {
    wide_pool();
    let xs: Vec<u32> = (0..1000).collect();
    assert_eq!(count_with_crate_path(&xs), 500);
    let mut total = 0u64;
    par_bounded!(crate = ::bounded, limit = 3, reduce(total: +); for x in &xs {
        total += u64::from(*x);
    });
    assert_eq!(total, 499_500);
    let doubled: Vec<u32> = par_bounded!(crate = crate::facade, limit = 2; for x in &xs => x * 2);
    assert_eq!(doubled, xs.iter().map(|x| x * 2).collect::<Vec<_>>());
}

// ---------------------------------------------------------------- runtime zeros

#[test]
#[should_panic(expected = "`limit` must be at least 1")]
fn a_runtime_limit_of_zero_panics() {
    wide_pool();
    let xs: Vec<u32> = (0..10).collect();
    let limit = xs.len() - 10;
    par_bounded!(limit = limit; for x in &xs {
        std::hint::black_box(x);
    });
}

#[test]
#[should_panic(expected = "`batch` must be at least 1")]
fn a_runtime_batch_of_zero_panics() {
    wide_pool();
    let xs: Vec<u32> = (0..10).collect();
    let batch = xs.len() - 10;
    par_bounded!(limit = 2, batch = batch; for x in &xs {
        std::hint::black_box(x);
    });
}

#[bounded(limit = limit, batch = batch)]
fn with_runtime_options(xs: &[u32], limit: usize, batch: usize) {
    for x in xs {
        std::hint::black_box(x);
    }
}

#[test]
fn runtime_zeros_name_the_option_and_the_location() {
    wide_pool();
    let xs: Vec<u32> = (0..10).collect();
    for (limit, batch, option) in [(0, 1, "`limit`"), (2, 0, "`batch`"), (0, 0, "`limit`")] {
        let payload = catch_unwind(|| with_runtime_options(&xs, limit, batch))
            .expect_err("a zero must panic");
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        assert!(
            message.contains(&format!("{option} must be at least 1")),
            "{message}"
        );
        assert!(message.contains("core_behaviour.rs"), "{message}");
    }
    // An empty input is no excuse for a zero either.
    let empty: Vec<u32> = Vec::new();
    assert!(catch_unwind(|| with_runtime_options(&empty, 0, 1)).is_err());
}

// ------------------------------------------------------------ more `?` positions

#[test]
fn question_mark_in_the_collect_form() {
    wide_pool();
    let parse_all = |lines: &[String]| -> app::Result<Vec<u64>> {
        let parsed: Vec<u64> =
            par_bounded!(limit = 3, batch = 4; for line in lines => line.parse::<u64>()? * 2);
        Ok(parsed)
    };
    let good = lines(500);
    assert_eq!(
        parse_all(&good),
        Ok((0..500).map(|x| x * 2).collect::<Vec<_>>())
    );
    let mut bad = good.clone();
    bad[444] = "-".into();
    let message = "-".parse::<u64>().unwrap_err().to_string();
    assert_eq!(parse_all(&bad), Err(MyError::BadNumber(message)));
}

#[test]
fn keep_going_converts_errors_with_from() {
    wide_pool();
    let xs: Vec<u32> = (0..2000)
        .map(|x| if x % 250 == 249 { 10_000 + x } else { x % 7 })
        .collect();
    let ran = AtomicUsize::new(0);
    let result = (|| -> app::Result<u64> {
        let mut total = 0u64;
        par_bounded!(limit = 4, batch = 6, keep_going, reduce(total: +); for x in &xs {
            ran.fetch_add(1, SeqCst);
            total += u64::from(app::at_most(*x, 100)?);
        });
        Ok(total)
    })();
    assert_eq!(result, Err(MyError::TooBig(10_249)));
    assert_eq!(ran.load(SeqCst), 2000);
}

#[bounded(limit = 3, batch = 2)]
fn boxed_errors(xs: &[&str]) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    for x in xs {
        let n: u32 = x.parse()?;
        if n > 100 {
            Err(format!("{n} is too large"))?;
        }
    }
    Ok(())
}

#[test]
fn question_mark_converts_into_a_boxed_error() {
    wide_pool();
    assert!(boxed_errors(&["1", "2", "3"]).is_ok());
    let err = boxed_errors(&["1", "2", "x", "4"]).unwrap_err();
    assert!(
        err.downcast_ref::<std::num::ParseIntError>().is_some(),
        "{err}"
    );
    let err = boxed_errors(&["1", "200", "3"]).unwrap_err();
    assert_eq!(err.to_string(), "200 is too large");
}

#[test]
fn a_panic_wins_over_errors_under_keep_going() {
    wide_pool();
    let xs: Vec<u32> = (0..1000).collect();
    let caught = catch_unwind(AssertUnwindSafe(|| {
        let _ = (|| -> Result<(), u32> {
            par_bounded!(limit = 3, batch = 5, keep_going; for x in &xs {
                if x % 100 == 1 {
                    Err(*x)?;
                }
                if *x == 777 {
                    panic_any(777u32);
                }
            });
            Ok(())
        })();
    }));
    assert_eq!(caught.unwrap_err().downcast_ref::<u32>(), Some(&777));
}

#[bounded(limit = 2, batch = 1, reduce(total: +))]
fn nested_totals(rows: &[Vec<u32>], max: u32) -> app::Result<u64> {
    let mut total = 0u64;
    for row in rows {
        let mut row_total = 0u64;
        par_bounded!(limit = 2, batch = 4, reduce(row_total: +); for x in row {
            row_total += u64::from(app::at_most(*x, max)?);
        });
        total += row_total;
    }
    Ok(total)
}

#[test]
fn an_error_in_an_inner_loop_leaves_the_function() {
    wide_pool();
    let rows: Vec<Vec<u32>> = (0..20u32)
        .map(|r| (0..50).map(|c| r * 50 + c).collect())
        .collect();
    assert_eq!(nested_totals(&rows, 1000), Ok((0..1000u64).sum()));
    assert_eq!(nested_totals(&rows, 998), Err(MyError::TooBig(999)));
}

/// Runs a `keep_going` loop whose items 50, 150, … fail, and reports
/// `(what, result, items run)` for each way of running it on one lane.
fn keep_going_on_one_lane() -> Vec<(&'static str, Result<(), Failure>, usize)> {
    let xs: Vec<u32> = (0..1000).collect();
    let mut outcomes = Vec::new();
    let fails = |x: u32| x % 100 == 50;

    let ran = AtomicUsize::new(0);
    let result = (|| -> Result<(), Failure> {
        par_bounded!(limit = 1, batch = 4, keep_going; for x in xs.iter().copied().filter(|_| true) {
            ran.fetch_add(1, SeqCst);
            if fails(x) {
                Err(Failure::Item(x))?;
            }
        });
        Ok(())
    })();
    outcomes.push(("limit = 1, pulled input", result, ran.load(SeqCst)));

    let ran = AtomicUsize::new(0);
    let result = (|| -> Result<(), Failure> {
        par_bounded!(backend = serial, batch = 4, keep_going; for x in xs.iter().copied().filter(|_| true) {
            ran.fetch_add(1, SeqCst);
            if fails(x) {
                Err(Failure::Item(x))?;
            }
        });
        Ok(())
    })();
    outcomes.push(("backend = serial, pulled input", result, ran.load(SeqCst)));

    let ran = AtomicUsize::new(0);
    let result = (|| -> Result<(), Failure> {
        par_bounded!(limit = 4, if = false, keep_going; for x in xs.iter().copied().filter(|_| true) {
            ran.fetch_add(1, SeqCst);
            if fails(x) {
                Err(Failure::Item(x))?;
            }
        });
        Ok(())
    })();
    outcomes.push((
        "if = false, pulled input, batch = auto",
        result,
        ran.load(SeqCst),
    ));

    let token = bounded::CancelToken::new();
    let ran = AtomicUsize::new(0);
    let result = (|| -> Result<(), Failure> {
        par_bounded!(limit = 1, batch = 4, keep_going, cancel = token; for x in &xs {
            ran.fetch_add(1, SeqCst);
            if fails(*x) {
                Err(Failure::Item(*x))?;
            }
        });
        Ok(())
    })();
    outcomes.push(("limit = 1, slice, cancel = token", result, ran.load(SeqCst)));
    outcomes
}

#[derive(Debug, PartialEq)]
enum Failure {
    Item(u32),
    Cancelled,
}

impl From<bounded::Cancelled> for Failure {
    fn from(_: bounded::Cancelled) -> Self {
        Failure::Cancelled
    }
}

#[test]
fn keep_going_on_one_lane_reports_the_first_failure() {
    wide_pool();
    for (what, result, _) in keep_going_on_one_lane() {
        assert_eq!(result, Err(Failure::Item(50)), "{what}");
    }
}

#[test]
fn keep_going_on_one_lane_runs_every_item() {
    wide_pool();
    let short: Vec<String> = keep_going_on_one_lane()
        .into_iter()
        .filter(|(_, _, ran)| *ran != 1000)
        .map(|(what, _, ran)| format!("{what}: {ran} of 1000 items ran"))
        .collect();
    assert!(short.is_empty(), "{short:#?}");
}
