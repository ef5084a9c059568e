//! Every kind of input a `for` loop takes: shared, mutable and owned slices and vectors,
//! integer ranges, maps, `Option`, channels, endless iterators and other `IntoIterator`s
//! give the sequential loop's result under every schedule; owned items are moved into
//! the body and each is dropped exactly once whether the loop succeeds, fails early,
//! is cancelled or panics; and a pulled input is read batch by batch, so an endless one
//! stops at an error and holds only a few batches.

mod common;

use bounded::config::Schedule;
use bounded::{bounded, par_bounded};
use common::{par_with_schedule, wide_pool, SCHEDULES};
use std::collections::{BTreeMap, BTreeSet, HashMap, LinkedList, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Limits, batch sizes and schedules the input tests go through. A batch of 1000 is one
/// batch for the shorter inputs and fewer batches than lanes for the longer ones.
fn shapes() -> Vec<(usize, usize, Schedule)> {
    let mut all = Vec::new();
    for limit in [1usize, 2, 4, 6] {
        for batch in [1usize, 7, 100, 1000] {
            for schedule in SCHEDULES {
                all.push((limit, batch, schedule));
            }
        }
    }
    all
}

// ------------------------------------------------------------------ borrowed inputs

#[bounded(limit = 3, batch = 11, reduce(total: +))]
fn slice_total(xs: &[u64]) -> u64 {
    let mut total = 0;
    for x in xs {
        total += x;
    }
    total
}

#[test]
fn shared_slices_vectors_and_arrays() {
    wide_pool();
    let xs: Vec<u64> = (0..1000).map(|x| x * x % 997).collect();
    let expected: u64 = xs.iter().sum();
    let slice: &[u64] = &xs;
    let boxed: Box<[u64]> = xs.clone().into_boxed_slice();
    let array: [u64; 64] = std::array::from_fn(|i| i as u64);

    assert_eq!(slice_total(&xs), expected);
    assert_eq!(slice_total(&xs[100..]), xs[100..].iter().sum::<u64>());
    assert_eq!(slice_total(&[]), 0);

    for (limit, batch, schedule) in shapes() {
        let context = format!("limit {limit}, batch {batch}, {schedule:?}");
        let (mut a, mut b, mut c, mut d, mut e, mut f) = (0, 0, 0, 0, 0, 0);
        let vec_ref: &Vec<u64> = &xs;
        par_with_schedule!(schedule, limit = limit, batch = batch, reduce(a: +); for x in slice { a += x; });
        par_with_schedule!(schedule, limit = limit, batch = batch, reduce(b: +); for x in vec_ref { b += x; });
        par_with_schedule!(schedule, limit = limit, batch = batch, reduce(c: +); for x in xs.iter() { c += x; });
        par_with_schedule!(schedule, limit = limit, batch = batch, reduce(d: +); for x in &boxed { d += x; });
        par_with_schedule!(schedule, limit = limit, batch = batch, reduce(e: +); for x in &array { e += x; });
        par_with_schedule!(schedule, limit = limit, batch = batch, reduce(f: +); for x in xs.as_slice() { f += x; });
        assert_eq!(
            (a, b, c, d, f),
            (expected, expected, expected, expected, expected),
            "{context}"
        );
        assert_eq!(e, 63 * 64 / 2, "{context}");

        let copied: Vec<u64> =
            par_with_schedule!(schedule, limit = limit, batch = batch; for x in &xs => *x);
        assert_eq!(copied, xs, "{context}");
    }

    let digits = [3u32, 1, 4, 1, 5, 9, 2, 6];
    let doubled: Vec<u32> = par_bounded!(limit = 2, batch = 3; for x in &digits => x * 2);
    assert_eq!(doubled, [6, 2, 8, 2, 10, 18, 4, 12]);
}

fn scramble(x: u64) -> u64 {
    x.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (x >> 7)
}

#[bounded(limit = 4, batch = 9)]
fn scramble_all(xs: &mut [u64]) {
    for x in xs {
        *x = scramble(*x);
    }
}

#[test]
fn mutable_slices_are_updated_in_place() {
    wide_pool();
    let original: Vec<u64> = (0..2000).collect();
    let expected: Vec<u64> = original.iter().map(|x| scramble(*x)).collect();

    let mut v = original.clone();
    scramble_all(&mut v);
    assert_eq!(v, expected, "#[bounded] over &mut [T]");

    for (limit, batch, schedule) in shapes() {
        let context = format!("limit {limit}, batch {batch}, {schedule:?}");
        let mut v = original.clone();
        par_with_schedule!(schedule, limit = limit, batch = batch; for x in &mut v { *x = scramble(*x); });
        assert_eq!(v, expected, "&mut Vec, {context}");

        let mut v = original.clone();
        let vec_mut: &mut Vec<u64> = &mut v;
        par_with_schedule!(schedule, limit = limit, batch = batch; for x in vec_mut { *x = scramble(*x); });
        assert_eq!(v, expected, "a &mut Vec<T> variable, {context}");

        // `&mut [T]`, a part of the vector only.
        let mut v = original.clone();
        let slice: &mut [u64] = &mut v[500..1500];
        par_with_schedule!(schedule, limit = limit, batch = batch; for x in slice { *x = scramble(*x); });
        assert_eq!(v[..500], original[..500], "{context}");
        assert_eq!(v[500..1500], expected[500..1500], "&mut [T], {context}");
        assert_eq!(v[1500..], original[1500..], "{context}");

        let mut v = original.clone();
        par_with_schedule!(schedule, limit = limit, batch = batch; for x in v.iter_mut() { *x = scramble(*x); });
        assert_eq!(v, expected, "iter_mut(), {context}");

        let mut v = original.clone();
        par_with_schedule!(schedule, limit = limit, batch = batch; for (i, x) in v.iter_mut().enumerate() {
            *x = scramble(*x) ^ i as u64;
        });
        let with_positions: Vec<u64> = expected
            .iter()
            .enumerate()
            .map(|(i, x)| x ^ i as u64)
            .collect();
        assert_eq!(v, with_positions, "iter_mut().enumerate(), {context}");
    }
    let mut array = [1u32; 100];
    par_bounded!(limit = 4, batch = 3; for x in &mut array { *x += 1; });
    assert_eq!(array, [2u32; 100]);
}

// ------------------------------------------------------------------ owned inputs

/// An item that counts its own drops in `drops[id]`, and is neither `Clone` nor `Copy`.
struct Tracked<'a> {
    id: usize,
    drops: &'a [AtomicUsize],
}

impl Drop for Tracked<'_> {
    fn drop(&mut self) {
        self.drops[self.id].fetch_add(1, SeqCst);
    }
}

fn drop_counters(n: usize) -> Vec<AtomicUsize> {
    (0..n).map(|_| AtomicUsize::new(0)).collect()
}

fn tracked(drops: &[AtomicUsize]) -> Vec<Tracked<'_>> {
    (0..drops.len()).map(|id| Tracked { id, drops }).collect()
}

/// Takes an item by value: the body really owns it.
fn consume(item: Tracked<'_>) -> usize {
    item.id
}

/// Every item made was dropped exactly once; items never made were never dropped.
#[track_caller]
fn assert_dropped_once(drops: &[AtomicUsize], made: usize, context: &str) {
    for (id, d) in drops.iter().enumerate() {
        let expected = usize::from(id < made);
        assert_eq!(
            d.load(SeqCst),
            expected,
            "{context}: item {id} dropped {} times",
            d.load(SeqCst)
        );
    }
}

#[test]
fn owned_vectors_give_their_items_in_input_order() {
    wide_pool();
    let words: Vec<String> = (0..2000).map(|i| format!("w{i}")).collect();
    for (limit, batch, schedule) in shapes() {
        let context = format!("limit {limit}, batch {batch}, {schedule:?}");
        let mut joined = Vec::new();
        par_with_schedule!(schedule, limit = limit, batch = batch, reduce(joined: append); for w in words.clone() {
            joined.push(w);
        });
        assert_eq!(joined, words, "{context}");

        let lengths: Vec<usize> = par_with_schedule!(schedule, limit = limit, batch = batch;
            for w in words.clone().into_iter() => w.len());
        assert_eq!(
            lengths,
            words.iter().map(String::len).collect::<Vec<_>>(),
            "{context}"
        );
    }
}

#[test]
fn owned_items_are_moved_into_the_body_and_dropped_once() {
    wide_pool();
    for (limit, batch, schedule) in shapes() {
        let context = format!("limit {limit}, batch {batch}, {schedule:?}");
        let drops = drop_counters(1000);
        let mut ids = Vec::new();
        par_with_schedule!(schedule, limit = limit, batch = batch, reduce(ids: append); for item in tracked(&drops) {
            ids.push(consume(item));
        });
        assert_eq!(ids, (0..1000).collect::<Vec<_>>(), "{context}");
        assert_dropped_once(&drops, 1000, &context);

        // Items the body never touches are dropped too.
        let drops = drop_counters(1000);
        par_with_schedule!(schedule, limit = limit, batch = batch; for item in tracked(&drops) {
            if item.id % 2 == 0 {
                continue;
            }
            consume(item);
        });
        assert_dropped_once(&drops, 1000, &format!("{context}, continue"));

        // Moved into a reduction, dropped with it, once.
        let drops = drop_counters(1000);
        let mut kept = Vec::new();
        par_with_schedule!(schedule, limit = limit, batch = batch, reduce(kept: append); for item in tracked(&drops) {
            if item.id % 2 == 0 {
                kept.push(item);
            }
        });
        assert!(
            kept.iter().map(|t| t.id).eq((0..1000).step_by(2)),
            "{context}"
        );
        drop(kept);
        assert_dropped_once(&drops, 1000, &format!("{context}, moved into append"));

        // Moved into the collected result, dropped with it.
        let drops = drop_counters(500);
        let kept: Vec<Tracked<'_>> = par_with_schedule!(schedule, limit = limit, batch = batch; for item in tracked(&drops) => item);
        assert!(kept.iter().map(|t| t.id).eq(0..500), "{context}");
        assert!(
            drops.iter().all(|d| d.load(SeqCst) == 0),
            "{context}: dropped early"
        );
        drop(kept);
        assert_dropped_once(&drops, 500, &format!("{context}, collected"));
    }
}

fn fail_at(item: Tracked<'_>, at: usize) -> Result<usize, String> {
    if item.id == at {
        return Err(format!("item {at}"));
    }
    Ok(consume(item))
}

#[test]
fn owned_items_are_dropped_once_when_the_loop_fails_early() {
    wide_pool();
    for (limit, batch, schedule) in shapes() {
        let context = format!("limit {limit}, batch {batch}, {schedule:?}");
        let drops = drop_counters(3000);
        let started = AtomicUsize::new(0);
        let result = (|| -> Result<(), String> {
            par_with_schedule!(schedule, limit = limit, batch = batch; for item in tracked(&drops) {
                started.fetch_add(1, SeqCst);
                fail_at(item, 100)?;
            });
            Ok(())
        })();
        assert_eq!(result, Err("item 100".to_owned()), "{context}");
        assert!(
            started.load(SeqCst) < 3000,
            "{context}: the loop did not stop"
        );
        assert_dropped_once(&drops, 3000, &format!("{context}, vec"));

        // The same through `vec::IntoIter`, `.enumerate()` and a pulled iterator.
        let drops = drop_counters(3000);
        let result = (|| -> Result<(), String> {
            par_with_schedule!(schedule, limit = limit, batch = batch; for (i, item) in tracked(&drops).into_iter().enumerate() {
                assert_eq!(i, item.id);
                fail_at(item, 2500)?;
            });
            Ok(())
        })();
        assert_eq!(result, Err("item 2500".to_owned()), "{context}");
        assert_dropped_once(&drops, 3000, &format!("{context}, into_iter().enumerate()"));

        let drops = drop_counters(3000);
        let result = (|| -> Result<(), String> {
            par_with_schedule!(schedule, limit = limit, batch = batch; for item in tracked(&drops).into_iter().filter(|_| true) {
                fail_at(item, 7)?;
            });
            Ok(())
        })();
        assert_eq!(result, Err("item 7".to_owned()), "{context}");
        assert_dropped_once(&drops, 3000, &format!("{context}, pulled"));

        // keep_going runs every item and still drops each once; the first failure in
        // input order is the one reported.
        let drops = drop_counters(3000);
        let result = (|| -> Result<(), String> {
            par_with_schedule!(schedule, limit = limit, batch = batch, keep_going; for (i, item) in tracked(&drops).into_iter().enumerate() {
                if i % 1000 == 999 {
                    fail_at(item, i)?;
                }
            });
            Ok(())
        })();
        assert_eq!(result, Err("item 999".to_owned()), "{context}");
        assert_dropped_once(&drops, 3000, &format!("{context}, keep_going"));
    }
}

#[test]
fn owned_items_are_dropped_once_when_a_body_panics() {
    wide_pool();
    for (limit, batch, schedule) in shapes() {
        let context = format!("limit {limit}, batch {batch}, {schedule:?}");
        let drops = drop_counters(3000);
        let payload = catch_unwind(AssertUnwindSafe(|| {
            par_with_schedule!(schedule, limit = limit, batch = batch; for item in tracked(&drops) {
                if item.id == 1234 {
                    panic!("item 1234");
                }
                consume(item);
            });
        }))
        .expect_err(&context);
        assert_eq!(
            payload.downcast_ref::<&str>(),
            Some(&"item 1234"),
            "{context}"
        );
        assert_dropped_once(&drops, 3000, &format!("{context}, vec"));

        let drops = drop_counters(3000);
        let payload = catch_unwind(AssertUnwindSafe(|| {
            par_with_schedule!(schedule, limit = limit, batch = batch; for item in tracked(&drops).into_iter().filter(|t| t.id < usize::MAX) {
                if item.id == 12 {
                    panic!("item 12");
                }
                consume(item);
            });
        }))
        .expect_err(&context);
        assert_eq!(
            payload.downcast_ref::<&str>(),
            Some(&"item 12"),
            "{context}"
        );
        assert_dropped_once(&drops, 3000, &format!("{context}, pulled"));
    }
}

/// Makes owned items on demand, up to `drops.len()`, counting how many it made.
fn maker<'a>(
    drops: &'a [AtomicUsize],
    made: &'a AtomicUsize,
) -> impl Iterator<Item = Tracked<'a>> + Send + 'a {
    std::iter::from_fn(move || {
        let id = made.load(SeqCst);
        (id < drops.len()).then(|| {
            made.store(id + 1, SeqCst);
            Tracked { id, drops }
        })
    })
}

#[derive(Debug, PartialEq)]
struct Failed(usize);

const N: usize = 600;
const FAIL_AT: usize = 250;

#[test]
fn pulled_owned_items_are_dropped_once_however_the_loop_ends() {
    wide_pool();
    for limit in [1usize, 2, 4] {
        for batch in [1usize, 7, 100] {
            let what = format!("limit {limit}, batch {batch}");

            let (drops, made) = (drop_counters(N), AtomicUsize::new(0));
            let mut count = 0usize;
            par_bounded!(limit = limit, batch = batch, reduce(count: +); for t in maker(&drops, &made) {
                count += usize::from(t.id < N);
            });
            assert_eq!(count, N);
            assert_dropped_once(&drops, made.load(SeqCst), &what);
            assert_eq!(made.load(SeqCst), N);

            let (drops, made) = (drop_counters(N), AtomicUsize::new(0));
            let result = (|| -> Result<(), Failed> {
                par_bounded!(limit = limit, batch = batch; for t in maker(&drops, &made) {
                    if t.id >= FAIL_AT {
                        Err(Failed(t.id))?;
                    }
                });
                Ok(())
            })();
            assert!(matches!(result, Err(Failed(id)) if id >= FAIL_AT), "{what}");
            assert_dropped_once(&drops, made.load(SeqCst), &format!("`?`: {what}"));

            let (drops, made) = (drop_counters(N), AtomicUsize::new(0));
            let caught = catch_unwind(AssertUnwindSafe(|| {
                par_bounded!(limit = limit, batch = batch; for t in maker(&drops, &made) {
                    if t.id == FAIL_AT {
                        panic!("item {}", t.id);
                    }
                });
            }));
            assert!(caught.is_err(), "{what}");
            assert_dropped_once(&drops, made.load(SeqCst), &format!("panic: {what}"));
        }
    }
}

#[derive(Debug, PartialEq)]
struct Stopped;

impl From<bounded::Cancelled> for Stopped {
    fn from(_: bounded::Cancelled) -> Self {
        Stopped
    }
}

/// Owned items, a cancel token, and a body that panics at `FAIL_AT`.
fn panic_with_token(limit: usize, batch: usize) -> Vec<AtomicUsize> {
    let token = bounded::CancelToken::new();
    let drops = drop_counters(N);
    let items = tracked(&drops);
    let caught = catch_unwind(AssertUnwindSafe(|| -> Result<(), Stopped> {
        par_bounded!(limit = limit, batch = batch, cancel = token; for t in items {
            if t.id == FAIL_AT {
                panic!("item {}", t.id);
            }
        });
        Ok(())
    }));
    assert!(caught.is_err());
    drops
}

#[test]
fn owned_items_are_dropped_once_when_a_cancellable_loop_stops() {
    wide_pool();
    for (limit, batch) in [(1usize, 5usize), (1, 1), (3, 5), (3, 1)] {
        let what = format!("limit {limit}, batch {batch}");
        let token = bounded::CancelToken::new();
        let drops = drop_counters(N);
        let items = tracked(&drops);
        let result = (|| -> Result<(), Stopped> {
            par_bounded!(limit = limit, batch = batch, cancel = token; for t in items {
                if t.id == FAIL_AT {
                    token.cancel();
                }
            });
            Ok(())
        })();
        assert_eq!(result, Err(Stopped), "{what}");
        assert_dropped_once(&drops, N, &format!("cancelled: {what}"));
    }
    // A panic on several lanes.
    for batch in [1usize, 5] {
        let drops = panic_with_token(3, batch);
        assert_dropped_once(&drops, N, &format!("panic with a token, batch {batch}"));
    }
}

/// The items not dropped exactly once.
fn misdropped(drops: &[AtomicUsize]) -> Vec<usize> {
    (0..drops.len())
        .filter(|id| drops[*id].load(SeqCst) != 1)
        .collect()
}

#[test]
fn owned_items_are_dropped_once_when_a_cancellable_loop_panics_on_one_lane() {
    wide_pool();
    let mut leaks = Vec::new();
    for batch in [1usize, 5] {
        let drops = panic_with_token(1, batch);
        leaks.push((
            format!("cancel, limit 1, batch {batch}"),
            misdropped(&drops),
        ));
    }
    // The same with a deadline, and with `if = false` on several lanes.
    let drops = drop_counters(N);
    let items = tracked(&drops);
    let caught = catch_unwind(AssertUnwindSafe(|| -> Result<(), Stopped> {
        par_bounded!(limit = 4, batch = 5, timeout = 60s, if = false; for t in items {
            if t.id == FAIL_AT {
                panic!("item {}", t.id);
            }
        });
        Ok(())
    }));
    assert!(caught.is_err());
    leaks.push(("timeout, if = false".into(), misdropped(&drops)));
    let report: Vec<String> = leaks
        .iter()
        .filter(|(_, ids)| !ids.is_empty())
        .map(|(what, ids)| {
            format!(
                "{what}: {} items not dropped exactly once, from {:?}",
                ids.len(),
                ids[0]
            )
        })
        .collect();
    assert!(report.is_empty(), "{report:#?}");
}

#[test]
fn a_panicking_input_reaches_the_caller_and_drops_every_item_once() {
    wide_pool();
    for (limit, batch) in [(1, 1), (1, 16), (3, 1), (3, 8), (5, 100)] {
        let context = format!("limit {limit}, batch {batch}");
        // Every item made up front; the iterator over them breaks at 500.
        let drops = drop_counters(2000);
        let ran = AtomicUsize::new(0);
        let input = tracked(&drops).into_iter().inspect(|t| {
            if t.id == 500 {
                panic!("the input broke at 500");
            }
        });
        let payload = catch_unwind(AssertUnwindSafe(|| {
            par_bounded!(limit = limit, batch = batch; for item in input {
                ran.fetch_add(1, SeqCst);
                consume(item);
            });
        }))
        .expect_err(&context);
        assert_eq!(
            payload.downcast_ref::<&str>(),
            Some(&"the input broke at 500"),
            "{context}"
        );
        assert!(ran.load(SeqCst) <= 500, "{context}");
        assert_dropped_once(&drops, 2000, &context);

        // Items made on demand; the iterator panics with a custom payload instead of
        // handing out item `FAIL_AT`.
        let (drops, made) = (drop_counters(N), AtomicUsize::new(0));
        let mut items = maker(&drops, &made);
        let exploding = std::iter::from_fn(move || {
            let item = items.next()?;
            if item.id == FAIL_AT {
                std::panic::panic_any(item.id);
            }
            Some(item)
        });
        let caught = catch_unwind(AssertUnwindSafe(|| {
            par_bounded!(limit = limit, batch = batch; for t in exploding {
                std::hint::black_box(&t);
            });
        }));
        let payload = caught.expect_err("the iterator's panic reaches the caller");
        assert_eq!(payload.downcast_ref::<usize>(), Some(&FAIL_AT), "{context}");
        assert_dropped_once(
            &drops,
            made.load(SeqCst),
            &format!("{context}, made on demand"),
        );
    }
}

// ------------------------------------------------------------------ ranges

#[test]
fn ranges_of_every_shape() {
    wide_pool();
    let n = 10_000usize;
    let mut collected: Vec<usize> = par_bounded!(limit = 4, batch = 64; for i in 0..n => i);
    assert_eq!(collected, (0..n).collect::<Vec<_>>());
    collected = par_bounded!(limit = 4, batch = 64; for i in 0..=n => i);
    assert_eq!(collected, (0..=n).collect::<Vec<_>>());

    let signed: Vec<i64> = par_bounded!(limit = 3, batch = 5; for i in -500i64..500 => i * 2);
    assert_eq!(signed, (-500i64..500).map(|i| i * 2).collect::<Vec<_>>());
    let small: Vec<u8> = par_bounded!(limit = 3, batch = 5; for i in 10u8..=254 => i);
    assert_eq!(small, (10u8..=254).collect::<Vec<_>>());
    let low: Vec<i8> = par_bounded!(limit = 3, batch = 5; for i in i8::MIN..0 => i);
    assert_eq!(low, (i8::MIN..0).collect::<Vec<_>>());

    let stepped: Vec<usize> = par_bounded!(limit = 4, batch = 7; for i in (0..n).step_by(3) => i);
    assert_eq!(stepped, (0..n).step_by(3).collect::<Vec<_>>());
    let reversed: Vec<usize> = par_bounded!(limit = 4, batch = 7; for i in (0..n).rev() => i);
    assert_eq!(reversed, (0..n).rev().collect::<Vec<_>>());

    let mut sum = 0u128;
    par_bounded!(limit = 4, reduce(sum: +); for i in 0u128..100_000 { sum += i; });
    assert_eq!(sum, 99_999 * 100_000 / 2);
}

/// For one integer type: `a..b` and `a..=b` give the sequential items, in order, for
/// every shape.
macro_rules! range_checks {
    ($t:ty, $lo:expr, $hi:expr) => {{
        let (lo, hi): ($t, $t) = ($lo, $hi);
        for (limit, batch, schedule) in shapes() {
            let context = format!("{}, limit {limit}, batch {batch}, {schedule:?}", stringify!($t));
            let mut total = 0i128;
            par_with_schedule!(schedule, limit = limit, batch = batch, reduce(total: +); for i in lo..hi {
                total += i as i128;
            });
            assert_eq!(total, (lo..hi).map(|i| i as i128).sum::<i128>(), "{context}");

            let mut total = 0i128;
            par_with_schedule!(schedule, limit = limit, batch = batch, reduce(total: +); for i in lo..=hi {
                total += i as i128;
            });
            assert_eq!(total, (lo..=hi).map(|i| i as i128).sum::<i128>(), "{context}");

            let items: Vec<$t> = par_with_schedule!(schedule, limit = limit, batch = batch; for i in lo..=hi => i);
            assert_eq!(items, (lo..=hi).collect::<Vec<$t>>(), "{context}");
        }
    }};
}

#[test]
fn integer_ranges_reach_the_type_limits() {
    wide_pool();
    range_checks!(u32, 0, 1500);
    range_checks!(u64, 0, 1500);
    range_checks!(i64, 0, 1500);
    range_checks!(usize, 0, 1500);
    range_checks!(i64, -700, 800);
    // Ranges that end at the type's largest or start at its smallest value.
    range_checks!(u8, 0, u8::MAX);
    range_checks!(i8, i8::MIN, i8::MAX);
    range_checks!(u32, u32::MAX - 300, u32::MAX);
    range_checks!(u64, u64::MAX - 300, u64::MAX);
    range_checks!(usize, usize::MAX - 300, usize::MAX);
    range_checks!(i64, i64::MIN, i64::MIN + 300);
    range_checks!(i64, i64::MAX - 300, i64::MAX);
    // `MAX..MAX` is empty, `MAX..=MAX` is the one item.
    range_checks!(usize, usize::MAX, usize::MAX);
}

#[test]
fn empty_and_reversed_ranges_run_nothing() {
    wide_pool();
    let ran = AtomicUsize::new(0);
    let (five, four) = (5u64, 4u64);
    par_bounded!(limit = 3; for _i in five..five {
        ran.fetch_add(1, SeqCst);
    });
    par_bounded!(limit = 3; for _i in five..=four {
        ran.fetch_add(1, SeqCst);
    });
    let (high, low) = (10i64, -10i64);
    par_bounded!(limit = 3; for _i in high..low {
        ran.fetch_add(1, SeqCst);
    });
    #[allow(clippy::reversed_empty_ranges)]
    let reversed = 10usize..3;
    par_bounded!(limit = 3; for _i in reversed {
        ran.fetch_add(1, SeqCst);
    });
    assert_eq!(ran.load(SeqCst), 0);

    // Literal bounds, in the collect form.
    #[allow(clippy::reversed_empty_ranges)]
    let empty: Vec<u32> = par_bounded!(limit = 3; for i in 5u32..3 => i);
    assert!(empty.is_empty());
    #[allow(clippy::reversed_empty_ranges)]
    let empty: Vec<u32> = par_bounded!(limit = 3; for i in 5u32..=3 => i);
    assert!(empty.is_empty());
}

#[bounded(limit = 4, batch = 50, reduce(squares: +))]
fn sum_of_squares(n: u64) -> u64 {
    let mut squares = 0;
    for i in 1..=n {
        squares += i * i;
    }
    squares
}

#[test]
fn ranges_in_bounded_functions() {
    wide_pool();
    for n in [0u64, 1, 2, 49, 50, 51, 10_000] {
        assert_eq!(sum_of_squares(n), n * (n + 1) * (2 * n + 1) / 6, "n = {n}");
    }
}

// ------------------------------------------------------------------ collections

#[test]
fn maps_sets_and_other_collections() {
    wide_pool();
    let map: HashMap<u32, u64> = (0..3000).map(|k| (k, u64::from(k) * 3)).collect();
    let (mut keys, mut values, mut pairs) = (0u64, 0u64, 0u64);
    par_bounded!(limit = 4, batch = 16, reduce(pairs: +); for (k, v) in &map {
        pairs += u64::from(*k) + v;
    });
    par_bounded!(limit = 4, batch = 16, reduce(keys: +); for k in map.keys() {
        keys += u64::from(*k);
    });
    par_bounded!(limit = 4, batch = 16, reduce(values: +); for v in map.values() {
        values += v;
    });
    let key_sum: u64 = (0..3000u64).sum();
    assert_eq!((keys, values, pairs), (key_sum, 3 * key_sum, 4 * key_sum));

    for (limit, batch, schedule) in shapes() {
        let context = format!("limit {limit}, batch {batch}, {schedule:?}");
        let (mut pairs, mut keys) = (0u64, 0u64);
        par_with_schedule!(schedule, limit = limit, batch = batch, reduce(pairs: +); for (k, v) in &map {
            pairs += u64::from(*k) * v;
        });
        assert_eq!(
            pairs,
            map.iter().map(|(k, v)| u64::from(*k) * v).sum::<u64>(),
            "{context}"
        );
        par_with_schedule!(schedule, limit = limit, batch = batch, reduce(keys: +); for k in map.keys() {
            keys += u64::from(*k);
        });
        assert_eq!(keys, key_sum, "{context}");
    }

    // By value, collected into another map.
    let halved: BTreeMap<u32, u64> =
        par_bounded!(limit = 3, batch = 64; for (k, v) in map.clone() => (k, v / 3));
    assert_eq!(halved.len(), 3000);
    assert!(halved.iter().all(|(k, v)| u64::from(*k) == *v));

    let mut owned = HashMap::new();
    par_bounded!(limit = 4, batch = 16, reduce(owned: extend); for (k, v) in map.clone() {
        owned.insert(v, k);
    });
    assert_eq!(owned.len(), 3000);
    assert!(owned.iter().all(|(v, k)| map[k] == *v));

    // Ordered collections keep their iteration order.
    let tree: BTreeMap<i32, char> = (-100..100)
        .map(|k| (k, if k < 0 { '-' } else { '+' }))
        .collect();
    let entries: Vec<(i32, char)> =
        par_bounded!(limit = 3, batch = 9; for (k, c) in &tree => (*k, *c));
    assert_eq!(entries, tree.into_iter().collect::<Vec<_>>());
    let set: BTreeSet<u32> = (0..500).map(|x| x * 7 % 1000).collect();
    let got: Vec<u32> = par_bounded!(limit = 3, batch = 9; for x in &set => *x);
    assert_eq!(got, set.iter().copied().collect::<Vec<_>>());
    let deque: VecDeque<u32> = (0..777).collect();
    let got: Vec<u32> = par_bounded!(limit = 3, batch = 9; for x in deque.clone() => x);
    assert_eq!(got, deque.iter().copied().collect::<Vec<_>>());
    let list: LinkedList<String> = (0..300).map(|x| x.to_string()).collect();
    let got: Vec<usize> = par_bounded!(limit = 3, batch = 9; for s in list => s.len());
    assert_eq!(got.iter().sum::<usize>(), 10 + 90 * 2 + 200 * 3);

    let chunks: Vec<u32> = (0..100).collect();
    let sums: Vec<u32> = par_bounded!(limit = 3; for c in chunks.chunks(7) => c.iter().sum());
    assert_eq!(
        sums,
        chunks
            .chunks(7)
            .map(|c| c.iter().sum())
            .collect::<Vec<u32>>()
    );
    let letters: String =
        par_bounded!(limit = 2, batch = 2; for c in "parallel".chars() => c.to_ascii_uppercase());
    assert_eq!(letters, "PARALLEL");
    let zipped: Vec<u32> =
        par_bounded!(limit = 3; for (a, b) in chunks.iter().zip(chunks.iter().rev()) => a + b);
    assert!(zipped.iter().all(|s| *s == 99));
    let by_value: Vec<u8> = par_bounded!(limit = 2, batch = 1; for b in [3u8, 1, 2] => b * 10);
    assert_eq!(by_value, [30, 10, 20]);
}

#[test]
fn options_are_inputs_of_zero_or_one_item() {
    wide_pool();
    let some: Vec<u32> = par_bounded!(limit = 4; for x in Some(5u32) => x + 1);
    assert_eq!(some, [6]);
    let none: Vec<u32> = par_bounded!(limit = 4; for x in None::<u32> => x + 1);
    assert!(none.is_empty());
    let empty: Vec<u32> = Vec::new();
    let mut ran = 0;
    par_bounded!(limit = 4, reduce(ran: +); for _x in &empty { ran += 1; });
    assert_eq!(ran, 0);

    // By value and by reference, into a reduction.
    let (some, none) = (Some(41u32), None::<u32>);
    let mut seen = Vec::new();
    par_bounded!(limit = 2, reduce(seen: append); for x in some {
        seen.push(x + 1);
    });
    par_bounded!(limit = 2, reduce(seen: append); for x in none {
        seen.push(x);
    });
    par_bounded!(limit = 2, reduce(seen: append); for x in &some {
        seen.push(*x);
    });
    assert_eq!(seen, [42, 41]);
}

#[test]
fn other_iterators_are_pulled_in_input_order() {
    wide_pool();
    let xs: Vec<u32> = (0..3000).collect();
    let expected: Vec<u32> = xs.iter().filter(|x| *x % 3 == 0).map(|x| x * 2).collect();
    for (limit, batch, schedule) in shapes() {
        let mut kept = Vec::new();
        par_with_schedule!(schedule, limit = limit, batch = batch, reduce(kept: append);
        for x in xs.iter().filter(|x| *x % 3 == 0).map(|x| x * 2) {
            kept.push(x);
        });
        assert_eq!(kept, expected, "limit {limit}, batch {batch}, {schedule:?}");
    }
}

// ------------------------------------------------------------------ pulled inputs

/// Counts how many items were taken from an endless input, and how far ahead of the
/// finished items the taking got.
#[derive(Default)]
struct Tap {
    pulled: AtomicUsize,
    done: AtomicUsize,
    ahead: AtomicUsize,
}

impl Tap {
    /// An endless input of 0, 1, 2, …; panics if it is drained far beyond `tripwire`,
    /// so that a loop that reads the whole input fails instead of running for ever.
    fn endless(&self, tripwire: usize) -> impl Iterator<Item = usize> + Send + '_ {
        let mut next = 0;
        std::iter::from_fn(move || {
            let pulled = self.pulled.fetch_add(1, SeqCst) + 1;
            assert!(
                pulled <= tripwire,
                "the endless input was read without bound"
            );
            self.ahead
                .fetch_max(pulled - self.done.load(SeqCst).min(pulled), SeqCst);
            next += 1;
            Some(next - 1)
        })
    }

    fn finish(&self) {
        self.done.fetch_add(1, SeqCst);
    }
}

#[test]
fn an_endless_input_stops_at_an_error_and_reads_only_a_few_batches() {
    wide_pool();
    let k = 5000;
    for (limit, batch) in [(1, 1), (1, 32), (2, 1), (4, 16), (6, 100)] {
        let context = format!("limit {limit}, batch {batch}");
        let tap = Tap::default();
        let slack = 2 * limit * batch;
        let input = tap.endless(100 * (k + slack));
        let result = (|| -> Result<(), usize> {
            par_bounded!(limit = limit, batch = batch; for i in input {
                if i >= k {
                    Err(i)?;
                }
                tap.finish();
            });
            Ok(())
        })();
        let failed = result.expect_err(&context);
        assert!(failed >= k, "{context}: {failed}");
        let (pulled, done) = (tap.pulled.load(SeqCst), tap.done.load(SeqCst));
        // One lane runs every item before `k`; with more, a later item's error may stop
        // a lane before its earlier items, so only the one lane's count is exact.
        assert!(done <= k, "{context}: {done} items ran");
        if limit == 1 {
            assert_eq!((failed, done), (k, k), "{context}");
        }
        // Beyond the failing item, at most about one batch per lane was read.
        assert!(pulled <= k + slack, "{context}: {pulled} items read");
    }
}

#[test]
fn an_endless_input_with_auto_batches_is_pulled_in_bounded_steps() {
    wide_pool();
    let k = 3_000usize;
    let pulled = AtomicUsize::new(0);
    let endless = (0usize..).inspect(|_| {
        pulled.fetch_add(1, SeqCst);
    });
    let result = (|| -> Result<(), usize> {
        par_bounded!(limit = 3; for i in endless {
            if i >= k {
                Err(i)?;
            }
        });
        Ok(())
    })();
    assert!(result.unwrap_err() >= k);
    // `batch = auto` on an input of unknown length still takes finite batches.
    assert!(pulled.load(SeqCst) < k + 100_000, "{}", pulled.load(SeqCst));
}

#[test]
fn a_long_pulled_input_holds_at_most_a_batch_per_lane() {
    wide_pool();
    let n = 50_000;
    for (limit, batch) in [(1, 8), (2, 1), (4, 16), (5, 64)] {
        let context = format!("limit {limit}, batch {batch}");
        let tap = Tap::default();
        let mut sum = 0usize;
        par_bounded!(limit = limit, batch = batch, reduce(sum: +); for i in tap.endless(usize::MAX).take(n) {
            sum += i;
            tap.finish();
        });
        assert_eq!(sum, n * (n - 1) / 2, "{context}");
        let ahead = tap.ahead.load(SeqCst);
        // Each lane holds at most one batch; the counters race by at most a few items.
        assert!(
            ahead <= limit * batch + limit,
            "{context}: {ahead} items held"
        );
    }
}

#[test]
fn channel_receivers_are_consumed_while_the_producer_runs() {
    wide_pool();
    let n = 20_000u64;
    let expected = n * (n - 1) / 2;

    let (tx, rx) = mpsc::channel();
    let producer = thread::spawn(move || (0..n).for_each(|i| tx.send(i).unwrap()));
    let mut sum = 0;
    par_bounded!(limit = 4, batch = 32, reduce(sum: +); for x in rx { sum += x; });
    producer.join().unwrap();
    assert_eq!(sum, expected);

    let (tx, rx) = crossbeam_channel::bounded(8);
    let producer = thread::spawn(move || (0..n).for_each(|i| tx.send(i).unwrap()));
    let mut order = Vec::new();
    par_bounded!(limit = 3, batch = 5, reduce(order: append); for x in rx { order.push(x); });
    producer.join().unwrap();
    assert_eq!(order, (0..n).collect::<Vec<_>>());

    for (limit, batch) in [(1usize, 1usize), (3, 1), (3, 16), (4, 100)] {
        let (tx, rx) = mpsc::channel::<u64>();
        let producer = thread::spawn(move || (0..4000u64).for_each(|i| tx.send(i).unwrap()));
        let mut total = 0u64;
        par_bounded!(limit = limit, batch = batch, reduce(total: +); for x in rx {
            total += x;
        });
        producer.join().unwrap();
        assert_eq!(
            total,
            (0..4000u64).sum::<u64>(),
            "limit {limit}, batch {batch}"
        );

        // The collect form keeps the order the items arrived in.
        let (tx, rx) = mpsc::sync_channel::<u64>(8);
        let producer = thread::spawn(move || (0..2000u64).for_each(|i| tx.send(i * 2).unwrap()));
        let got: Vec<u64> = par_bounded!(limit = limit, batch = batch; for x in rx => x + 1);
        producer.join().unwrap();
        assert_eq!(
            got,
            (0..2000u64).map(|i| i * 2 + 1).collect::<Vec<_>>(),
            "limit {limit}, batch {batch}"
        );
    }

    // The producer sends the second half only once the loop has finished items of the
    // first: a loop that read its whole input before starting would never see it.
    let done = AtomicUsize::new(0);
    let (tx, rx) = mpsc::sync_channel(4);
    let mut count = 0;
    thread::scope(|s| {
        let done = &done;
        let producer = s.spawn(move || {
            (0..100).for_each(|i| tx.send(i).unwrap());
            let deadline = Instant::now() + Duration::from_secs(10);
            while done.load(SeqCst) < 50 && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(1));
            }
            let streamed = done.load(SeqCst) >= 50;
            (100..200).for_each(|i| tx.send(i).unwrap());
            streamed
        });
        par_bounded!(limit = 2, batch = 4, reduce(count: +); for _x in rx {
            done.fetch_add(1, SeqCst);
            count += 1;
        });
        assert!(
            producer.join().unwrap(),
            "the loop waited for the whole input"
        );
    });
    assert_eq!(count, 200);
}
