//! The loop semantics of the reference chapter on the rayon and serial backends: `?`
//! keeps its sequential meaning and fails fast (or, with `keep_going`, runs everything
//! and reports the first failing item in input order), `continue` skips, panics reach the
//! caller with their payload and leave the pool usable, `if`, `backend = serial`,
//! `#[serial]` and per-loop overrides decide where and how loops run, `with` state is per
//! worker, the attribute works on generic functions and methods and under a renamed crate
//! path, and runtime zeros are rejected with a message naming the option and the loop.

mod common;

use bounded::{bounded, par_bounded};
use common::{tid, wide_pool, Gauge};
use std::collections::HashSet;
use std::fmt::Write as _;
use std::num::ParseIntError;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Mutex;
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

#[derive(Debug, PartialEq)]
enum AppError {
    Parse(String),
    Rejected(u32),
}

impl From<ParseIntError> for AppError {
    fn from(e: ParseIntError) -> Self {
        AppError::Parse(e.to_string())
    }
}

/// A lower-level error the loop bodies raise; `?` converts it.
#[derive(Debug)]
struct Oversized(u32);

impl From<Oversized> for AppError {
    fn from(e: Oversized) -> Self {
        AppError::Rejected(e.0)
    }
}

fn at_most(x: u32, max: u32) -> Result<u32, Oversized> {
    if x > max {
        Err(Oversized(x))
    } else {
        Ok(x)
    }
}

fn strings(xs: impl IntoIterator<Item = u32>) -> Vec<String> {
    xs.into_iter().map(|x| x.to_string()).collect()
}

// ------------------------------------------------------------------ `?` in every position

#[bounded(limit = 4, batch = 8, reduce(sum: +))]
fn parse_sum(xs: &[String]) -> Result<u64, AppError> {
    let mut sum = 0;
    for x in xs {
        sum += x.parse::<u64>()?;
    }
    Ok(sum)
}

#[test]
fn question_mark_returns_the_error_converted_with_from() {
    wide_pool();
    let good = strings(0..500);
    assert_eq!(parse_sum(&good), Ok((0..500).sum()));

    let mut bad = good.clone();
    bad[321] = "x321".into();
    let expected = "x321".parse::<u64>().unwrap_err().to_string();
    assert_eq!(parse_sum(&bad), Err(AppError::Parse(expected)));
}

mod aliased {
    use bounded::bounded;

    #[derive(Debug, PartialEq)]
    pub struct Invalid(pub u32);

    pub type Result<T> = std::result::Result<T, Invalid>;

    fn check(x: u32) -> Result<u32> {
        if x % 1000 == 999 {
            Err(Invalid(x))
        } else {
            Ok(x)
        }
    }

    #[bounded(limit = 3, batch = 16, reduce(count: +))]
    pub fn count_valid(xs: &[u32]) -> Result<usize> {
        let mut count = 0;
        for x in xs {
            check(*x)?;
            count += 1;
        }
        Ok(count)
    }
}

#[test]
fn question_mark_works_through_a_result_alias() {
    wide_pool();
    let xs: Vec<u32> = (0..999).collect();
    assert_eq!(aliased::count_valid(&xs), Ok(999));
    let xs: Vec<u32> = (0..1000).collect();
    assert_eq!(aliased::count_valid(&xs), Err(aliased::Invalid(999)));
}

struct Limits {
    max: u32,
    factor: u64,
    calls: usize,
    checked: AtomicUsize,
}

impl Limits {
    #[bounded(limit = 3, batch = 4)]
    fn check(&self, xs: &[u32]) -> Result<(), AppError> {
        for x in xs {
            if *x > self.max {
                Err(AppError::Rejected(*x))?;
            }
        }
        Ok(())
    }

    #[bounded(limit = 2, batch = 5, reduce(total: +))]
    fn scaled_total(&mut self, xs: &[u32]) -> Result<u64, AppError> {
        let mut total = 0;
        for x in xs {
            if *x > self.max {
                Err(AppError::Rejected(*x))?;
            }
            total += u64::from(*x) * self.factor;
        }
        self.calls += 1;
        Ok(total)
    }

    #[bounded(limit = 3, batch = 5, reduce(total: +))]
    fn checked_total(&self, xs: &[u32]) -> Result<u64, AppError> {
        let mut total = 0u64;
        for x in xs {
            self.checked.fetch_add(1, SeqCst);
            total += u64::from(at_most(*x, self.max)?);
        }
        Ok(total)
    }
}

#[test]
fn question_mark_works_in_methods() {
    wide_pool();
    let mut limits = Limits {
        max: 100,
        factor: 3,
        calls: 0,
        checked: AtomicUsize::new(0),
    };
    let xs: Vec<u32> = (0..=100).collect();
    assert_eq!(limits.check(&xs), Ok(()));
    assert_eq!(limits.scaled_total(&xs), Ok(3 * 5050));
    assert_eq!(limits.calls, 1);
    assert_eq!(limits.checked_total(&xs), Ok(5050));
    assert_eq!(limits.checked.load(SeqCst), 101, "every item checked once");

    let ys: Vec<u32> = (0..=101).collect();
    assert_eq!(limits.check(&ys), Err(AppError::Rejected(101)));
    assert_eq!(limits.scaled_total(&ys), Err(AppError::Rejected(101)));
    // The error left the method at the loop, before the line after it.
    assert_eq!(limits.calls, 1);

    // One item too big, far into the input: that is the error, converted from `Oversized`.
    let mut zs: Vec<u32> = (0..2000).map(|x| x % 100).collect();
    zs[1500] = 777;
    assert_eq!(limits.checked_total(&zs), Err(AppError::Rejected(777)));
}

#[test]
fn question_mark_returns_from_the_enclosing_closure() {
    wide_pool();
    let largest = |xs: &[u32]| -> Result<u32, String> {
        let mut m = 0;
        par_bounded!(limit = 2, batch = 3, reduce(m: max); for x in xs {
            if *x == 13 {
                Err(format!("unlucky {x}"))?;
            }
            m = m.max(*x);
        });
        Ok(m)
    };
    let xs: Vec<u32> = (0..13).chain(14..200).collect();
    assert_eq!(largest(&xs), Ok(199));
    let xs: Vec<u32> = (0..200).collect();
    assert_eq!(largest(&xs), Err("unlucky 13".to_owned()));

    // The closure goes on after a loop that succeeded; `?` converts with `From`.
    let xs: Vec<u32> = (0..3000).collect();
    let total_below = |max: u32| -> Result<u64, AppError> {
        let mut total = 0u64;
        par_bounded!(limit = 3, batch = 16, reduce(total: +); for x in &xs {
            total += u64::from(at_most(*x, max)?);
        });
        Ok(total + 1)
    };
    let all = (0..3000u64).sum::<u64>() + 1;
    assert_eq!(total_below(5000), Ok(all));
    assert_eq!(total_below(2999), Ok(all));
    // Item 2999 alone is too big: with one failing item the error is exact.
    assert_eq!(total_below(2998), Err(AppError::Rejected(2999)));
    // Several failures: fail-fast reports one of them.
    match total_below(1000) {
        Err(AppError::Rejected(x)) => assert!(x > 1000, "{x}"),
        other => panic!("expected Rejected, got {other:?}"),
    }
}

#[test]
fn question_mark_in_the_collect_form() {
    wide_pool();
    let parse_all = |lines: &[String]| -> Result<Vec<u64>, AppError> {
        let parsed: Vec<u64> =
            par_bounded!(limit = 3, batch = 4; for line in lines => line.parse::<u64>()? * 2);
        Ok(parsed)
    };
    let good = strings(0..500);
    assert_eq!(
        parse_all(&good),
        Ok((0..500).map(|x| x * 2).collect::<Vec<_>>())
    );
    let mut bad = good.clone();
    bad[444] = "-".into();
    let message = "-".parse::<u64>().unwrap_err().to_string();
    assert_eq!(parse_all(&bad), Err(AppError::Parse(message)));
}

/// The inner loop of [`nested_parse`], in a function of its own.
fn parse_row(row: &[String]) -> Result<u64, AppError> {
    let mut row_sum = 0;
    par_bounded!(limit = 2, batch = 2, reduce(row_sum: +); for cell in row {
        row_sum += cell.parse::<u64>()?;
    });
    Ok(row_sum)
}

#[bounded(limit = 2, batch = 1, reduce(total: +))]
fn nested_parse(rows: &[Vec<String>]) -> Result<u64, AppError> {
    let mut total = 0;
    for row in rows {
        total += parse_row(row)?;
    }
    Ok(total)
}

#[test]
fn an_error_in_a_nested_loop_leaves_the_function() {
    wide_pool();
    let mut rows: Vec<Vec<String>> = (0..6).map(|r| strings(r * 10..r * 10 + 10)).collect();
    assert_eq!(nested_parse(&rows), Ok((0..60).sum()));
    rows[4][7] = "forty-seven".into();
    let expected = "forty-seven".parse::<u64>().unwrap_err().to_string();
    assert_eq!(nested_parse(&rows), Err(AppError::Parse(expected)));

    // The inner loop written inside the outer body, its `?` converting with `From`.
    let rows: Vec<Vec<u32>> = (0..20u32)
        .map(|r| (0..50).map(|c| r * 50 + c).collect())
        .collect();
    assert_eq!(nested_totals(&rows, 1000), Ok((0..1000u64).sum()));
    assert_eq!(nested_totals(&rows, 998), Err(AppError::Rejected(999)));
}

#[bounded(limit = 2, batch = 1, reduce(total: +))]
fn nested_totals(rows: &[Vec<u32>], max: u32) -> Result<u64, AppError> {
    let mut total = 0u64;
    for row in rows {
        let mut row_total = 0u64;
        par_bounded!(limit = 2, batch = 4, reduce(row_total: +); for x in row {
            row_total += u64::from(at_most(*x, max)?);
        });
        total += row_total;
    }
    Ok(total)
}

#[bounded(limit = 3, batch = 4, reduce(sum: +))]
fn parse_boxed(xs: &[&str]) -> Result<u64, Box<dyn std::error::Error + Send + Sync>> {
    let mut sum = 0;
    for x in xs {
        let n: u64 = x.parse()?;
        if n == 0 {
            Err("zero is not allowed")?;
        }
        sum += n;
    }
    Ok(sum)
}

#[test]
fn question_mark_converts_into_a_boxed_error() {
    wide_pool();
    let xs: Vec<String> = strings(1..300);
    let refs: Vec<&str> = xs.iter().map(String::as_str).collect();
    assert_eq!(parse_boxed(&refs).unwrap(), (1..300).sum());
    let mut bad = refs.clone();
    bad[250] = "0";
    assert_eq!(
        parse_boxed(&bad).unwrap_err().to_string(),
        "zero is not allowed"
    );
    bad[250] = "-";
    let err = parse_boxed(&bad).unwrap_err();
    assert_eq!(err.to_string(), "-".parse::<u64>().unwrap_err().to_string());
    // The original error is inside the box, not just its message.
    assert!(err.downcast_ref::<ParseIntError>().is_some(), "{err}");
}

#[test]
fn collecting_results_gives_the_first_error_in_input_order() {
    wide_pool();
    let mut xs = strings(0..1000);
    let all: Result<Vec<u32>, ParseIntError> =
        par_bounded!(limit = 4, batch = 16; for x in &xs => x.parse::<u32>());
    assert_eq!(all, Ok((0..1000).collect()));
    xs[900] = "nine hundred".into();
    xs[300] = "-300".into();
    let all: Result<Vec<u32>, ParseIntError> =
        par_bounded!(limit = 4, batch = 16; for x in &xs => x.parse::<u32>());
    let sequential: Result<Vec<u32>, ParseIntError> = xs.iter().map(|x| x.parse()).collect();
    assert_eq!(all, sequential);
    assert_eq!(all.unwrap_err(), "-300".parse::<u32>().unwrap_err());
}

// ------------------------------------------------------------------ fail-fast

/// One item of a loop under test: fails with its own value, or succeeds.
type Item<'a> = &'a (dyn Fn(u32) -> Result<(), u32> + Sync);

/// Runs `run` with an item that fails at every value in `fail` and naps otherwise;
/// returns how many items started, and what `run` returned.
///
/// With `others > 0` the failure is staged: a failing item waits until `others` items
/// have started, and items that start before the failure wait for it. So exactly
/// `others` items are running when the error happens, and any further start is one
/// that fail-fast should have prevented.
fn started_until_error<T>(
    run: impl FnOnce(Item) -> Result<T, u32>,
    fail: &[u32],
    nap: Duration,
    others: usize,
) -> (usize, Result<T, u32>) {
    let started = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let deadline = Instant::now() + Duration::from_secs(3);
    let item = |x: u32| {
        started.fetch_add(1, SeqCst);
        if fail.contains(&x) {
            while started.load(SeqCst) < others && Instant::now() < deadline {
                thread::yield_now();
            }
            failed.store(true, SeqCst);
            return Err(x);
        }
        while others > 0 && !failed.load(SeqCst) && Instant::now() < deadline {
            thread::yield_now();
        }
        thread::sleep(nap);
        Ok(())
    };
    let result = run(&item);
    (started.load(SeqCst), result)
}

#[test]
fn fail_fast_starts_no_item_after_the_error_on_one_lane() {
    wide_pool();
    let xs: Vec<u32> = (0..10_000).collect();
    for batch in [1usize, 7, 100] {
        let (started, result) = started_until_error(
            |item| {
                par_bounded!(limit = 1, batch = batch; for x in &xs { item(*x)?; });
                Ok(())
            },
            &[100, 101, 5000],
            Duration::ZERO,
            0,
        );
        // One lane runs items in order: the first failure is item 100, the 101st.
        assert_eq!(result, Err(100), "batch {batch}");
        assert_eq!(started, 101, "batch {batch}");
    }
    // A literal `limit = 1` in `#[bounded]`, failing at the first, second or a later item.
    for k in [0u32, 1, 57, 4321] {
        let started = AtomicUsize::new(0);
        assert_eq!(
            serial_until_error(&xs, k, &started),
            Err(AppError::Rejected(k))
        );
        assert_eq!(started.load(SeqCst), k as usize + 1, "fails at {k}");
    }
}

#[bounded(limit = 1, batch = 1)]
fn serial_until_error(xs: &[u32], fail_at: u32, started: &AtomicUsize) -> Result<(), AppError> {
    for x in xs {
        started.fetch_add(1, SeqCst);
        if *x == fail_at {
            Err(Oversized(*x))?;
        }
    }
    Ok(())
}

macro_rules! fail_fast_runners {
    ($($schedule:tt => $name:ident;)*) => {
        $(
            fn $name(
                xs: &[u32],
                limit: usize,
                batch: usize,
                item: Item,
            ) -> Result<(), u32> {
                par_bounded!(limit = limit, batch = batch, schedule = $schedule; for x in xs {
                    item(*x)?;
                });
                Ok(())
            }
        )*

        type FailFastRunner = fn(&[u32], usize, usize, Item) -> Result<(), u32>;

        const FAIL_FAST: &[(&str, FailFastRunner)] = &[$((stringify!($schedule), $name)),*];
    };
}

fail_fast_runners! {
    dynamic => fail_fast_dynamic;
    static => fail_fast_static;
    guided => fail_fast_guided;
    steal => fail_fast_steal;
}

#[test]
fn fail_fast_stops_every_lane_of_every_schedule() {
    wide_pool();
    let xs: Vec<u32> = (0..2000).collect();
    for (schedule, run) in FAIL_FAST {
        // Small batches: lanes stop claiming. One batch per lane: lanes stop mid-batch.
        for batch in [1usize, 500] {
            let (started, result) = started_until_error(
                |item| run(&xs, 4, batch, item),
                &[0],
                Duration::from_millis(1),
                4,
            );
            assert_eq!(result, Err(0), "{schedule}, batch {batch}");
            // The failing item fails while all 4 lanes are busy. Without fail-fast every
            // item would start (2000); with only a check between batches the 3 other
            // batches of 500 would run to their end.
            assert!(
                started <= 200,
                "{schedule}, batch {batch}: {started} items started, only 4 were running at the error"
            );
        }
    }
}

#[test]
fn fail_fast_reports_one_of_the_failing_items() {
    wide_pool();
    let xs: Vec<u32> = (0..3000).collect();
    let fail: Vec<u32> = (0..3000).filter(|x| x % 97 == 50).collect();
    for (schedule, run) in FAIL_FAST {
        for (limit, batch) in [(1, 5), (3, 1), (4, 64)] {
            let (started, result) = started_until_error(
                |item| run(&xs, limit, batch, item),
                &fail,
                Duration::ZERO,
                0,
            );
            let err = result.expect_err("some items fail");
            assert!(fail.contains(&err), "{schedule}: {err} did not fail");
            if limit == 1 {
                assert_eq!((err, started), (50, 51), "{schedule}, one lane");
            }
        }
    }
}

#[test]
fn items_already_running_finish_before_the_error_or_panic_is_returned() {
    wide_pool();
    for panics in [false, true] {
        let (started, finished) = (AtomicBool::new(false), AtomicBool::new(false));
        let xs = [0u32, 1];
        let result = catch_unwind(AssertUnwindSafe(|| -> Result<(), String> {
            par_bounded!(limit = 2, batch = 1; for x in &xs {
                if *x == 1 {
                    started.store(true, SeqCst);
                    thread::sleep(Duration::from_millis(30));
                    finished.store(true, SeqCst);
                } else {
                    let deadline = Instant::now() + Duration::from_secs(3);
                    while !started.load(SeqCst) && Instant::now() < deadline {
                        thread::yield_now();
                    }
                    if panics {
                        panic!("item 0 fails");
                    }
                    Err("item 0 fails".to_owned())?;
                }
            });
            Ok(())
        }));
        match result {
            Ok(r) => {
                assert!(!panics);
                assert_eq!(r, Err("item 0 fails".to_owned()));
            }
            Err(payload) => {
                assert!(panics);
                assert_eq!(payload.downcast_ref::<&str>(), Some(&"item 0 fails"));
            }
        }
        assert!(started.load(SeqCst), "both items ran at once");
        assert!(
            finished.load(SeqCst),
            "the running item was abandoned (panic: {panics})"
        );
    }
}

// ------------------------------------------------------------------ keep_going

macro_rules! keep_going_runners {
    ($($schedule:tt => $name:ident;)*) => {
        $(
            #[bounded(limit = limit, batch = batch, schedule = $schedule, keep_going, reduce(ok: +))]
            fn $name(
                xs: &[u32],
                limit: usize,
                batch: usize,
                item: Item,
            ) -> Result<usize, u32> {
                let mut ok = 0;
                for x in xs {
                    item(*x)?;
                    ok += 1;
                }
                Ok(ok)
            }
        )*

        type KeepGoingRunner = fn(&[u32], usize, usize, Item) -> Result<usize, u32>;

        const KEEP_GOING: &[(&str, KeepGoingRunner)] = &[$((stringify!($schedule), $name)),*];
    };
}

keep_going_runners! {
    dynamic => keep_going_dynamic;
    static => keep_going_static;
    guided => keep_going_guided;
    steal => keep_going_steal;
}

#[test]
fn keep_going_runs_every_item_and_reports_the_first_failure_in_input_order() {
    wide_pool();
    let xs: Vec<u32> = (0..3000).collect();
    for (schedule, run) in KEEP_GOING {
        for (limit, batch) in [(1, 1), (2, 1), (3, 7), (4, 250), (5, 3000)] {
            for fail in [vec![2999], vec![17, 18, 1500, 2999], vec![1400, 3, 2000]] {
                let (started, result) = started_until_error(
                    |item| run(&xs, limit, batch, item),
                    &fail,
                    Duration::ZERO,
                    0,
                );
                let first = *fail.iter().min().unwrap();
                let context = format!("{schedule}, limit {limit}, batch {batch}, fail {fail:?}");
                assert_eq!(started, xs.len(), "{context}");
                assert_eq!(result, Err(first), "{context}");
            }
            let (started, result) =
                started_until_error(|item| run(&xs, limit, batch, item), &[], Duration::ZERO, 0);
            assert_eq!((started, result), (3000, Ok(3000)), "{schedule}");
        }
    }
}

#[test]
fn keep_going_with_continue_and_par_bounded() {
    wide_pool();
    let xs: Vec<u32> = (0..1000).collect();
    let visited = AtomicUsize::new(0);
    let run = || -> Result<u64, u32> {
        let mut sum = 0u64;
        par_bounded!(limit = 3, batch = 10, keep_going, reduce(sum: +); for x in &xs {
            visited.fetch_add(1, SeqCst);
            if x % 2 == 0 {
                continue;
            }
            if x % 250 == 249 {
                Err(*x)?;
            }
            sum += u64::from(*x);
        });
        Ok(sum)
    };
    assert_eq!(run(), Err(249));
    assert_eq!(visited.load(SeqCst), 1000);
}

#[test]
fn keep_going_converts_errors_with_from() {
    wide_pool();
    let xs: Vec<u32> = (0..2000)
        .map(|x| if x % 250 == 249 { 10_000 + x } else { x % 7 })
        .collect();
    let ran = AtomicUsize::new(0);
    let result = (|| -> Result<u64, AppError> {
        let mut total = 0u64;
        par_bounded!(limit = 4, batch = 6, keep_going, reduce(total: +); for x in &xs {
            ran.fetch_add(1, SeqCst);
            total += u64::from(at_most(*x, 100)?);
        });
        Ok(total)
    })();
    assert_eq!(result, Err(AppError::Rejected(10_249)));
    assert_eq!(ran.load(SeqCst), 2000);
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

// ------------------------------------------------------------------ continue

#[bounded(limit = 3, batch = 16, reduce(sum: +, skipped: +))]
fn sum_not_multiple_of_three(xs: &[u64]) -> (u64, usize) {
    let mut sum = 0;
    let mut skipped = 0;
    for x in xs {
        if x % 3 == 0 {
            skipped += 1;
            continue;
        }
        sum += x;
    }
    (sum, skipped)
}

#[test]
fn continue_skips_the_rest_of_the_item() {
    wide_pool();
    let xs: Vec<u64> = (0..1000).collect();
    let expected: u64 = xs.iter().filter(|x| *x % 3 != 0).sum();
    assert_eq!(sum_not_multiple_of_three(&xs), (expected, 334));

    // The same in `par_bounded!`.
    let (mut total, mut skipped) = (0u64, 0usize);
    par_bounded!(limit = 4, batch = 13, reduce(total: +, skipped: +); for x in &xs {
        if x % 3 != 0 {
            skipped += 1;
            continue;
        }
        total += x;
    });
    assert_eq!(total, xs.iter().filter(|x| *x % 3 == 0).sum::<u64>());
    assert_eq!(skipped, 666);

    // In a fallible, keep-going body, an item that continues before its `?` never fails.
    let result = (|| -> Result<u64, u64> {
        let mut kept = 0u64;
        par_bounded!(limit = 2, batch = 7, keep_going, reduce(kept: +); for x in &xs {
            if *x >= 100 {
                continue;
            }
            if *x == 999 {
                Err(*x)?;
            }
            kept += 1;
        });
        Ok(kept)
    })();
    assert_eq!(result, Ok(100));
}

/// `continue` and `break` of a sequential loop inside the body keep their meaning there.
#[bounded(limit = 3, batch = 2, reduce(n: +))]
fn inner_loop_control(xs: &[u32]) -> u32 {
    let mut n = 0;
    for _x in xs {
        for y in 0..5u32 {
            if y == 1 {
                continue;
            }
            if y == 3 {
                break;
            }
            n += 1;
        }
        n += 100;
    }
    n
}

#[bounded(limit = 3, batch = 2, keep_going, reduce(n: +))]
fn inner_loop_control_keep_going(xs: &[u32]) -> Result<u32, u32> {
    let mut n = 0;
    for x in xs {
        if *x == 7 {
            Err(*x)?;
        }
        for y in 0..5u32 {
            if y == 1 {
                continue;
            }
            if y == 3 {
                break;
            }
            n += 1;
        }
        n += 100;
    }
    Ok(n)
}

#[test]
fn continue_and_break_of_inner_loops_stay_inner() {
    wide_pool();
    let xs: Vec<u32> = (0..7).collect();
    assert_eq!(inner_loop_control(&xs), 7 * 102);
    assert_eq!(inner_loop_control_keep_going(&xs), Ok(7 * 102));
    let xs: Vec<u32> = (0..20).collect();
    assert_eq!(inner_loop_control_keep_going(&xs), Err(7));
}

// ------------------------------------------------------------------ panics

#[derive(Debug, PartialEq)]
struct Crash {
    item: u32,
}

fn panicking_loop(xs: &[u32], limit: usize, batch: usize, at: u32, how: u8) {
    par_bounded!(limit = limit, batch = batch; for x in xs {
        if *x == at {
            match how {
                0 => panic!("boom at {x}"),
                1 => panic!("static boom"),
                _ => std::panic::panic_any(Crash { item: *x }),
            }
        }
        std::hint::black_box(x);
    });
}

#[test]
fn a_panic_reaches_the_caller_with_its_payload() {
    wide_pool();
    let xs: Vec<u32> = (0..1000).collect();
    for (limit, batch) in [(1, 1), (1, 1000), (4, 1), (4, 50)] {
        let context = format!("limit {limit}, batch {batch}");
        let payload =
            catch_unwind(|| panicking_loop(&xs, limit, batch, 737, 0)).expect_err(&context);
        assert_eq!(
            payload.downcast_ref::<String>().map(String::as_str),
            Some("boom at 737"),
            "{context}"
        );

        let payload = catch_unwind(|| panicking_loop(&xs, limit, batch, 5, 1)).expect_err(&context);
        assert_eq!(
            payload.downcast_ref::<&str>(),
            Some(&"static boom"),
            "{context}"
        );

        let payload =
            catch_unwind(|| panicking_loop(&xs, limit, batch, 999, 2)).expect_err(&context);
        assert_eq!(
            payload.downcast::<Crash>().ok().map(|b| *b),
            Some(Crash { item: 999 }),
            "{context}"
        );
    }
}

#[test]
fn a_panic_starts_no_item_after_it_on_one_lane() {
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

#[bounded(limit = 4, batch = 1)]
fn panic_in_attribute_fn(xs: &[u32], at: u32) {
    for x in xs {
        assert_ne!(*x, at, "item {at} is not allowed");
    }
}

#[test]
fn the_pool_stays_usable_after_panics() {
    wide_pool();
    let threads = rayon::current_num_threads();
    let xs: Vec<u32> = (0..200).collect();
    for round in 0..20 {
        let payload = catch_unwind(|| panic_in_attribute_fn(&xs, round * 7)).unwrap_err();
        let message = payload.downcast_ref::<String>().unwrap();
        assert!(message.contains(&format!("item {} is not allowed", round * 7)));
    }
    assert_eq!(rayon::current_num_threads(), threads);
    // Every worker is still there: a loop reaches its limit of 4 overlapping bodies.
    let gauge = Gauge::new(4);
    par_bounded!(limit = 4, batch = 1; for _x in &xs { gauge.body(); });
    gauge.assert_bounded(4, "after panics");
    assert_eq!(gauge.peak(), 4);
}

#[test]
fn a_panic_wins_over_errors_under_keep_going() {
    wide_pool();
    let xs: Vec<u32> = (0..100).collect();
    let ran = AtomicUsize::new(0);
    let payload = catch_unwind(AssertUnwindSafe(|| -> Result<(), u32> {
        par_bounded!(limit = 4, batch = 8, keep_going; for x in &xs {
            ran.fetch_add(1, SeqCst);
            if *x == 50 {
                panic!("panic at 50");
            }
            if *x == 10 {
                Err(*x)?;
            }
        });
        Ok(())
    }))
    .expect_err("the panic is re-raised");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"panic at 50"));
    assert!(ran.load(SeqCst) <= 100);
}

// ------------------------------------------------------------------ where loops run

fn threads_of(run: impl FnOnce(&Mutex<Vec<(u32, ThreadId)>>)) -> (Vec<u32>, HashSet<ThreadId>) {
    let seen = Mutex::new(Vec::new());
    run(&seen);
    let seen = seen.into_inner().unwrap();
    let order = seen.iter().map(|(x, _)| *x).collect();
    let threads = seen.iter().map(|(_, t)| *t).collect();
    (order, threads)
}

#[test]
fn if_false_runs_in_order_on_the_calling_thread() {
    wide_pool();
    let xs: Vec<u32> = (0..300).collect();
    let me = tid();
    for parallel in [false, xs.len() > 1000] {
        let (order, threads) = threads_of(|seen| {
            par_bounded!(limit = 4, batch = 1, if = parallel; for x in &xs {
                seen.lock().unwrap().push((*x, tid()));
            });
        });
        assert_eq!(threads, HashSet::from([me]));
        assert_eq!(order, xs);
    }
}

#[test]
fn if_true_runs_on_several_threads() {
    wide_pool();
    let xs: Vec<u32> = (0..40).collect();
    let gauge = Gauge::new(2);
    let (_, threads) = threads_of(|seen| {
        par_bounded!(limit = 4, batch = 1, if = xs.len() > 10; for x in &xs {
            gauge.body();
            seen.lock().unwrap().push((*x, tid()));
        });
    });
    assert!(threads.len() >= 2, "{threads:?}");
    gauge.assert_bounded(4, "if = true");
}

/// One loop site, its items trivial or a 4 ms sleep each: the same loop whose body got
/// slower between runs. Four batches of two: four lanes' worth.
fn small_or_slow(xs: &[u32], slow: bool) -> (Vec<u32>, HashSet<ThreadId>) {
    threads_of(|seen| {
        par_bounded!(limit = 4, batch = 2, name = "small-or-slow"; for x in xs {
            if slow {
                thread::sleep(Duration::from_millis(4));
            }
            seen.lock().unwrap().push((*x, tid()));
        });
    })
}

#[test]
fn a_small_run_starts_alone_and_brings_in_the_other_lanes_when_it_runs_long() {
    wide_pool();
    let xs: Vec<u32> = (0..8).collect();
    // The first run has no history, and spreads as any run does; its lanes contend
    // for the lock, so its items may look slower than they are, and the next run can
    // spread too. Within a few runs the site knows its items take nanoseconds: 8 of
    // them are a run that other threads could not speed up, and it runs on the calling
    // thread alone, where they stay quick.
    let alone = (0..10).any(|_| small_or_slow(&xs, false).1 == HashSet::from([tid()]));
    assert!(alone, "{:?}", bounded::stats::last_run("small-or-slow"));
    // A run preempted for longer than the lone lane waits brings in the others, as it
    // should: on a busy machine not every run stays alone, but most do.
    let mut stayed = 0;
    for _ in 0..20 {
        let (mut order, threads) = small_or_slow(&xs, false);
        order.sort_unstable();
        assert_eq!(order, xs);
        let run = bounded::stats::last_run("small-or-slow").unwrap();
        if threads == HashSet::from([tid()]) {
            stayed += 1;
            assert_eq!((run.lanes, run.peak_running), (1, 1), "{run:?}");
        }
    }
    assert!(stayed >= 10, "{stayed} of 20 runs stayed alone");
    // The body got slower: the run starts alone as predicted (so on this thread: a run
    // that spreads from its start runs no lane here), sees itself running long after
    // its first batch, and brings in the other lanes, which share the rest. What it
    // predicts is the latest run's pace, so that run must have been quick: one
    // preempted inside a body (as happens on a busy machine) predicts a slow run.
    let quick = (0..100).any(|_| {
        let (_, threads) = small_or_slow(&xs, false);
        let run = bounded::stats::last_run("small-or-slow").unwrap();
        threads == HashSet::from([tid()]) && run.busy < Duration::from_micros(5)
    });
    assert!(quick, "{:?}", bounded::stats::last_run("small-or-slow"));
    let started = Instant::now();
    let (mut order, threads) = small_or_slow(&xs, true);
    let took = started.elapsed();
    order.sort_unstable();
    assert_eq!(order, xs);
    assert!(
        threads.contains(&tid()) && threads.len() >= 2,
        "{threads:?}"
    );
    let run = bounded::stats::last_run("small-or-slow").unwrap();
    assert!(run.lanes >= 2 && run.peak_running <= 4, "{run:?}");
    // 32 ms alone; the lone first batch (8 ms), then three batches on three more lanes
    // (16 ms in all). Under the bound of 28 ms, more than one lane shared the rest; the
    // slack is for wake-ups a loaded machine delays.
    assert!(took < Duration::from_millis(28), "{took:?}, {run:?}");
    // And the next run, knowing the items are slow, spreads from its start.
    let (_, threads) = small_or_slow(&xs, true);
    assert!(
        threads.len() >= 2 && !threads.contains(&tid()),
        "{threads:?}"
    );
}

#[bounded(backend = serial, limit = 4, batch = 1)]
fn serial_backend(xs: &[u32], seen: &Mutex<Vec<(u32, ThreadId)>>) {
    for x in xs {
        seen.lock().unwrap().push((*x, tid()));
    }
}

#[test]
fn backend_serial_runs_in_order_on_the_calling_thread() {
    wide_pool();
    // Reversed, so sorted order would not pass for input order.
    let xs: Vec<u32> = (0..300).rev().collect();
    let me = tid();
    let (order, threads) = threads_of(|seen| serial_backend(&xs, seen));
    assert_eq!((order, threads), (xs.clone(), HashSet::from([me])));

    let (order, threads) = threads_of(|seen| {
        par_bounded!(backend = serial, limit = 8, batch = 1; for x in &xs {
            seen.lock().unwrap().push((*x, tid()));
        });
    });
    assert_eq!((order, threads), (xs.clone(), HashSet::from([me])));

    let (order, threads) = threads_of(|seen| {
        par_bounded!(backend = serial, limit = 8, batch = 2; for x in xs.iter().copied().filter(|_| true) {
            seen.lock().unwrap().push((x, tid()));
        });
    });
    assert_eq!((order, threads), (xs.clone(), HashSet::from([me])));
}

#[bounded(limit = 4, batch = 1)]
fn serial_then_parallel(xs: &[u32], seen: &Mutex<Vec<(u32, ThreadId)>>, gauge: &Gauge) {
    #[serial]
    for x in xs {
        seen.lock().unwrap().push((*x, tid()));
    }
    for _x in xs {
        gauge.body();
    }
}

#[test]
fn a_serial_loop_stays_sequential_next_to_a_parallel_one() {
    wide_pool();
    let xs: Vec<u32> = (0..100).collect();
    let gauge = Gauge::new(4);
    let (order, threads) = threads_of(|seen| serial_then_parallel(&xs, seen, &gauge));
    assert_eq!((order, threads), (xs, HashSet::from([tid()])));
    gauge.assert_bounded(4, "the parallel loop");
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
fn a_loop_option_overrides_the_function_option() {
    wide_pool();
    let xs: Vec<u32> = (0..60).collect();
    let (one, four) = (Gauge::new(1), Gauge::new(4));
    override_then_default(&xs, &one, &four);
    assert_eq!(one.peak(), 1);
    four.assert_bounded(4, "the loop without its own options");
    assert_eq!(four.peak(), 4);
}

fn counted<T>(calls: &AtomicUsize, value: T) -> T {
    calls.fetch_add(1, SeqCst);
    value
}

#[test]
fn option_expressions_are_evaluated_once_per_run() {
    wide_pool();
    let xs: Vec<u32> = (0..500).collect();
    let (limits, batches, ifs) = (
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    );
    for run in 1..=3 {
        let mut n = 0;
        par_bounded!(
            limit = counted(&limits, 3),
            batch = counted(&batches, 7),
            if = counted(&ifs, true),
            reduce(n: +);
            for _x in &xs { n += 1; }
        );
        assert_eq!(n, 500);
        let calls = (limits.load(SeqCst), batches.load(SeqCst), ifs.load(SeqCst));
        assert_eq!(calls, (run, run, run));
    }
}

// ------------------------------------------------------------------ with(...)

fn new_scratch(made: &AtomicUsize) -> String {
    made.fetch_add(1, SeqCst);
    String::with_capacity(32)
}

#[bounded(limit = limit, batch = 4, with(buf = new_scratch(made)), reduce(digits: +))]
fn count_digits(xs: &[u64], limit: usize, made: &AtomicUsize) -> usize {
    let mut digits = 0;
    for x in xs {
        buf.clear();
        write!(buf, "{x}").unwrap();
        digits += buf.len();
    }
    digits
}

#[test]
fn with_state_is_created_once_per_worker_not_per_item() {
    wide_pool();
    let xs: Vec<u64> = (0..5000).collect();
    let expected: usize = xs.iter().map(|x| x.to_string().len()).sum();
    for limit in [1, 2, 3, 6] {
        let made = AtomicUsize::new(0);
        assert_eq!(count_digits(&xs, limit, &made), expected, "limit {limit}");
        let made = made.load(SeqCst);
        assert!(
            (1..=limit).contains(&made),
            "limit {limit}: {made} states made"
        );
    }
    let made = AtomicUsize::new(0);
    assert_eq!(count_digits(&[], 4, &made), 0);
    assert_eq!(made.load(SeqCst), 0, "state made for an empty input");

    // The macro form, with two pieces of state.
    let made = AtomicUsize::new(0);
    let (mut longest, mut most_reused) = (0, 0);
    par_bounded!(limit = 3, batch = 1, with(buf = new_scratch(&made), seen = 0usize), reduce(longest: max, most_reused: max); for x in &xs {
        buf.clear();
        write!(buf, "{x}").unwrap();
        longest = longest.max(buf.len());
        *seen += 1;
        most_reused = most_reused.max(*seen);
    });
    assert_eq!(longest, 4);
    assert!(
        (1..=3).contains(&made.load(SeqCst)),
        "{}",
        made.load(SeqCst)
    );
    // Some worker's counter saw at least a third of the 5000 items: state persists.
    assert!(most_reused >= 5000 / 3, "{most_reused}");
}

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
fn with_state_is_dropped_once_per_worker_and_sees_every_item() {
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
        assert_eq!(dropped.load(SeqCst), made, "limit {limit}");
        assert_eq!(total.load(SeqCst), 10_000, "limit {limit}");
    }
}

// ------------------------------------------------------------------ generics, methods, paths

#[bounded(limit = 3, batch = 5, reduce(total: +))]
fn sum_as_u64<T>(xs: &[T]) -> u64
where
    T: Copy + Into<u64> + Sync,
{
    let mut total = 0;
    for x in xs {
        let x: u64 = (*x).into();
        total += x;
    }
    total
}

#[bounded(limit = 2, batch = 3, reduce(out: append))]
fn join_all<T: std::fmt::Display + Sync>(xs: &[T], sep: &str) -> String {
    let mut out = String::new();
    for x in xs {
        write!(out, "{x}{sep}").unwrap();
    }
    out
}

struct Scaler<T> {
    factor: T,
    seen: usize,
}

impl<T: Copy + Sync + std::ops::Mul<Output = T> + Default + std::ops::Add<Output = T> + Send>
    Scaler<T>
{
    #[bounded(limit = 3, batch = 2, reduce(total: +))]
    fn scaled_sum(&self, xs: &[T]) -> T {
        let mut total = T::default();
        for x in xs {
            total = total + *x * self.factor;
        }
        total
    }

    #[bounded(limit = 3, batch = 2)]
    fn scale_in_place(&mut self, xs: &mut [T]) {
        for x in xs {
            *x = *x * self.factor;
        }
        self.seen += 1;
    }
}

#[test]
fn generic_functions_and_methods() {
    wide_pool();
    assert_eq!(sum_as_u64(&[1u8, 2, 3, 250]), 256);
    let xs: Vec<u32> = (0..1000).collect();
    assert_eq!(sum_as_u64(&xs), 499_500);
    let words = ["a", "b", "c", "d", "e", "f", "g"];
    assert_eq!(join_all(&words, ","), "a,b,c,d,e,f,g,");
    assert_eq!(join_all(&xs[..12], ""), "01234567891011");

    let mut s = Scaler {
        factor: 3u64,
        seen: 0,
    };
    let ys: Vec<u64> = (0..101).collect();
    assert_eq!(s.scaled_sum(&ys), 3 * 5050);
    let mut zs = ys.clone();
    s.scale_in_place(&mut zs);
    assert_eq!(zs, ys.iter().map(|y| y * 3).collect::<Vec<_>>());
    assert_eq!(s.seen, 1);

    let f = Scaler {
        factor: 0.5f64,
        seen: 0,
    };
    assert_eq!(f.scaled_sum(&[1.0, 2.0, 3.0, 4.0]), 5.0);
    assert_eq!(sum_as_u64::<u64>(&[]), 0);

    // A method with two reductions reading several fields of `self`.
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
            if *q > 40 {
                q * 250 - q * 250 / 10
            } else {
                q * 250
            }
        })
        .sum();
    assert_eq!(cents, expected);
    assert_eq!(labels.len(), 1000);
    assert_eq!(labels[0], "boltx0");
    assert_eq!(labels[998], format!("washerx{}", 998 % 97));
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

mod renamed {
    pub use bounded as par;
}

/// The facade's items under another module, as a crate that re-exports them would offer.
mod facade {
    pub use ::bounded::*;
}

#[bounded(crate = ::bounded, limit = 2, reduce(n: +))]
fn count_with_crate_path(xs: &[u32]) -> usize {
    let mut n = 0;
    for _x in xs {
        n += 1;
    }
    n
}

#[test]
fn a_crate_path_can_be_given() {
    wide_pool();
    let xs: Vec<u32> = (0..777).collect();
    assert_eq!(count_with_crate_path(&xs), 777);
    let mut n = 0usize;
    par_bounded!(crate = renamed::par, limit = 3, reduce(n: +); for _x in &xs { n += 1; });
    assert_eq!(n, 777);
    let doubled: Vec<u32> = par_bounded!(crate = ::bounded, limit = 2; for x in &xs => x * 2);
    assert_eq!(doubled, xs.iter().map(|x| x * 2).collect::<Vec<_>>());
    let doubled: Vec<u32> = par_bounded!(crate = crate::facade, limit = 2; for x in &xs => x * 2);
    assert_eq!(doubled, xs.iter().map(|x| x * 2).collect::<Vec<_>>());
}

// ------------------------------------------------------------------ runtime zeros

#[test]
#[should_panic(expected = "`limit` must be at least 1")]
fn a_runtime_limit_of_zero_panics_naming_the_option() {
    let limit = std::hint::black_box(0);
    let xs = [1u32, 2, 3];
    par_bounded!(limit = limit; for x in &xs { std::hint::black_box(x); });
}

#[test]
#[should_panic(expected = "`batch` must be at least 1")]
fn a_runtime_batch_of_zero_panics_naming_the_option() {
    let batch = std::hint::black_box(0);
    let xs = [1u32, 2, 3];
    par_bounded!(limit = 2, batch = batch; for x in &xs { std::hint::black_box(x); });
}

#[test]
fn runtime_zeros_name_the_loop_location() {
    let zero = std::hint::black_box(0usize);
    let xs = [1u32, 2, 3];
    let line = line!() + 2;
    let payload = catch_unwind(|| {
        par_bounded!(limit = 2, batch = zero, name = "zero-batch"; for x in &xs {
            std::hint::black_box(x);
        });
    })
    .unwrap_err();
    let message = payload.downcast_ref::<String>().unwrap();
    assert!(message.contains("zero-batch"), "{message}");
    assert!(
        message.contains(&format!("behaviour.rs:{line}")),
        "{message}"
    );

    let payload = catch_unwind(|| {
        par_bounded!(limit = zero; for x in &xs { std::hint::black_box(x); });
    })
    .unwrap_err();
    let message = payload.downcast_ref::<String>().unwrap();
    assert!(
        message.contains("`limit`") && message.contains("behaviour.rs:"),
        "{message}"
    );

    // `#[bounded]` with runtime options; with both zero, `limit` is named.
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
        assert!(message.contains("behaviour.rs"), "{message}");
    }
    // An empty input is no excuse for a zero either.
    assert!(catch_unwind(|| with_runtime_options(&[], 0, 1)).is_err());
}

#[bounded(limit = limit, batch = batch)]
fn with_runtime_options(xs: &[u32], limit: usize, batch: usize) {
    for x in xs {
        std::hint::black_box(x);
    }
}

// ------------------------------------------------------------------ `?` inside macros

fn parse_grid(rows: &[Vec<String>]) -> Result<u64, std::num::ParseIntError> {
    let mut total = 0u64;
    par_bounded!(limit = 2, reduce(total: +); for row in rows {
        let mut row_total = 0u64;
        // The nested loop's `?` leaves the outer body too, as in the sequential code.
        par_bounded!(limit = 2, reduce(row_total: +); for cell in row {
            row_total += cell.parse::<u64>()?;
        });
        total += row_total;
    });
    Ok(total)
}

#[test]
fn a_question_mark_inside_a_macro_call_keeps_its_meaning() {
    let good: Vec<Vec<String>> = (0..20)
        .map(|r| (0..10).map(|c| (r * 10 + c).to_string()).collect())
        .collect();
    assert_eq!(parse_grid(&good), Ok((0..200).sum()));
    let mut bad = good.clone();
    bad[7][3] = "x".to_owned();
    assert!(parse_grid(&bad).is_err());

    let words = vec!["1".to_owned(), "2".to_owned(), "three".to_owned()];
    let r: Result<(), std::num::ParseIntError> = (|| {
        par_bounded!(limit = 2; for w in &words {
            std::hint::black_box(format!("{}", w.parse::<u32>()?));
        });
        Ok(())
    })();
    assert!(r.is_err());
}

// ------------------------------------------------------------------ a rayon pool of one's own

static CRUNCH: std::sync::LazyLock<rayon::ThreadPool> = std::sync::LazyLock::new(|| {
    rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .thread_name(|i| format!("crunch-{i}"))
        .build()
        .unwrap()
});

#[test]
fn backend_rayon_with_a_pool_runs_on_that_pool() {
    let names = std::sync::Mutex::new(std::collections::HashSet::new());
    let xs: Vec<u64> = (0..2000).collect();
    let mut total = 0u64;
    par_bounded!(backend = rayon, pool = CRUNCH, limit = 3, batch = 10, reduce(total: +); for x in &xs {
        names
            .lock()
            .unwrap()
            .insert(std::thread::current().name().unwrap_or("").to_owned());
        total += x;
    });
    assert_eq!(total, xs.iter().sum::<u64>());
    let names = names.into_inner().unwrap();
    assert!(names.iter().all(|n| n.starts_with("crunch-")), "{names:?}");
}
