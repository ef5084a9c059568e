//! Every kind of input a `for` loop takes: shared, mutable and owned slices and vectors,
//! ranges, maps, channels, endless iterators and other `IntoIterator`s give the
//! sequential loop's result; owned items are moved into the body and each is dropped
//! exactly once whether the loop succeeds, fails early or panics; and a pulled input is
//! read batch by batch, so an endless one stops at an error and holds only a few batches.

mod common;

use bounded::par_bounded;
use common::wide_pool;
use std::collections::{BTreeMap, BTreeSet, HashMap, LinkedList, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

// ------------------------------------------------------------------ borrowed inputs

#[test]
fn shared_slices_vectors_and_arrays() {
    wide_pool();
    let xs: Vec<u64> = (0..1000).map(|x| x * x % 997).collect();
    let expected: u64 = xs.iter().sum();
    let slice: &[u64] = &xs;
    let boxed: Box<[u64]> = xs.clone().into_boxed_slice();
    let array: [u64; 64] = std::array::from_fn(|i| i as u64);

    let (mut a, mut b, mut c, mut d, mut e) = (0, 0, 0, 0, 0);
    par_bounded!(limit = 3, batch = 7, reduce(a: +); for x in slice { a += x; });
    par_bounded!(limit = 3, batch = 7, reduce(b: +); for x in &xs { b += x; });
    par_bounded!(limit = 3, batch = 7, reduce(c: +); for x in xs.iter() { c += x; });
    par_bounded!(limit = 3, batch = 7, reduce(d: +); for x in &boxed { d += x; });
    par_bounded!(limit = 3, batch = 7, reduce(e: +); for x in &array { e += x; });
    assert_eq!((a, b, c, d), (expected, expected, expected, expected));
    assert_eq!(e, 63 * 64 / 2);
}

#[test]
fn mutable_slices_are_updated_in_place() {
    wide_pool();
    let original: Vec<u64> = (0..2000).collect();
    let expected: Vec<u64> = original.iter().map(|x| x * 3 + 1).collect();
    for (limit, batch) in [(1, 1), (2, 1), (4, 33), (6, 2000)] {
        let mut v = original.clone();
        par_bounded!(limit = limit, batch = batch; for x in &mut v { *x = *x * 3 + 1; });
        assert_eq!(v, expected, "&mut Vec, limit {limit}, batch {batch}");

        let mut v = original.clone();
        let slice: &mut [u64] = &mut v;
        par_bounded!(limit = limit, batch = batch; for x in slice { *x = *x * 3 + 1; });
        assert_eq!(v, expected, "&mut [T]");

        let mut v = original.clone();
        par_bounded!(limit = limit, batch = batch; for x in v.iter_mut() { *x = *x * 3 + 1; });
        assert_eq!(v, expected, "iter_mut()");

        let mut v = original.clone();
        par_bounded!(limit = limit, batch = batch; for (i, x) in v.iter_mut().enumerate() {
            *x += i as u64 * 2 + 1;
        });
        assert_eq!(v, expected, "iter_mut().enumerate()");
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

#[track_caller]
fn assert_each_dropped_once(drops: &[AtomicUsize], context: &str) {
    for (id, d) in drops.iter().enumerate() {
        assert_eq!(
            d.load(SeqCst),
            1,
            "{context}: item {id} dropped {} times",
            d.load(SeqCst)
        );
    }
}

#[test]
fn owned_items_are_moved_into_the_body_and_dropped_once() {
    wide_pool();
    for (limit, batch) in [(1, 1), (3, 1), (4, 17), (6, 1000)] {
        let context = format!("limit {limit}, batch {batch}");
        let drops = drop_counters(1000);
        let mut ids = Vec::new();
        par_bounded!(limit = limit, batch = batch, reduce(ids: append); for item in tracked(&drops) {
            ids.push(consume(item));
        });
        assert_eq!(ids, (0..1000).collect::<Vec<_>>(), "{context}");
        assert_each_dropped_once(&drops, &context);

        // Items the body never touches are dropped too.
        let drops = drop_counters(1000);
        par_bounded!(limit = limit, batch = batch; for item in tracked(&drops) {
            if item.id % 2 == 0 {
                continue;
            }
            consume(item);
        });
        assert_each_dropped_once(&drops, &format!("{context}, continue"));

        // Moved into the collected result, dropped with it.
        let drops = drop_counters(500);
        let kept: Vec<Tracked<'_>> =
            par_bounded!(limit = limit, batch = batch; for item in tracked(&drops) => item);
        assert!(kept.iter().map(|t| t.id).eq(0..500), "{context}");
        assert!(
            drops.iter().all(|d| d.load(SeqCst) == 0),
            "{context}: dropped early"
        );
        drop(kept);
        assert_each_dropped_once(&drops, &format!("{context}, collected"));
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
    for (limit, batch) in [(1, 1), (1, 64), (3, 1), (4, 17), (6, 1000)] {
        let context = format!("limit {limit}, batch {batch}");
        let drops = drop_counters(3000);
        let started = AtomicUsize::new(0);
        let result = (|| -> Result<(), String> {
            par_bounded!(limit = limit, batch = batch; for item in tracked(&drops) {
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
        assert_each_dropped_once(&drops, &format!("{context}, vec"));

        // The same through `vec::IntoIter`, `.enumerate()` and a pulled iterator.
        let drops = drop_counters(3000);
        let result = (|| -> Result<(), String> {
            par_bounded!(limit = limit, batch = batch; for (i, item) in tracked(&drops).into_iter().enumerate() {
                assert_eq!(i, item.id);
                fail_at(item, 2500)?;
            });
            Ok(())
        })();
        assert_eq!(result, Err("item 2500".to_owned()), "{context}");
        assert_each_dropped_once(&drops, &format!("{context}, into_iter().enumerate()"));

        let drops = drop_counters(3000);
        let result = (|| -> Result<(), String> {
            par_bounded!(limit = limit, batch = batch; for item in tracked(&drops).into_iter().filter(|_| true) {
                fail_at(item, 7)?;
            });
            Ok(())
        })();
        assert_eq!(result, Err("item 7".to_owned()), "{context}");
        assert_each_dropped_once(&drops, &format!("{context}, pulled"));

        // keep_going runs every item and still drops each once.
        let drops = drop_counters(3000);
        let result = (|| -> Result<(), String> {
            par_bounded!(limit = limit, batch = batch, keep_going; for item in tracked(&drops) {
                fail_at(item, 2999)?;
            });
            Ok(())
        })();
        assert_eq!(result, Err("item 2999".to_owned()), "{context}");
        assert_each_dropped_once(&drops, &format!("{context}, keep_going"));
    }
}

#[test]
fn owned_items_are_dropped_once_when_a_body_panics() {
    wide_pool();
    for (limit, batch) in [(1, 1), (1, 64), (3, 1), (4, 17), (6, 1000)] {
        let context = format!("limit {limit}, batch {batch}");
        let drops = drop_counters(3000);
        let payload = catch_unwind(AssertUnwindSafe(|| {
            par_bounded!(limit = limit, batch = batch; for item in tracked(&drops) {
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
        assert_each_dropped_once(&drops, &format!("{context}, vec"));

        let drops = drop_counters(3000);
        let payload = catch_unwind(AssertUnwindSafe(|| {
            par_bounded!(limit = limit, batch = batch; for item in tracked(&drops).into_iter().filter(|t| t.id < usize::MAX) {
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
        assert_each_dropped_once(&drops, &format!("{context}, pulled"));
    }
}

#[test]
fn a_panicking_input_reaches_the_caller_and_drops_every_item_once() {
    wide_pool();
    for (limit, batch) in [(1, 1), (3, 8), (5, 100)] {
        let context = format!("limit {limit}, batch {batch}");
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
        assert_each_dropped_once(&drops, &context);
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

    #[allow(clippy::reversed_empty_ranges)]
    let empty: Vec<u32> = par_bounded!(limit = 3; for i in 5u32..3 => i);
    assert!(empty.is_empty());
    #[allow(clippy::reversed_empty_ranges)]
    let empty: Vec<u32> = par_bounded!(limit = 3; for i in 5u32..=3 => i);
    assert!(empty.is_empty());

    let stepped: Vec<usize> = par_bounded!(limit = 4, batch = 7; for i in (0..n).step_by(3) => i);
    assert_eq!(stepped, (0..n).step_by(3).collect::<Vec<_>>());
    let reversed: Vec<usize> = par_bounded!(limit = 4, batch = 7; for i in (0..n).rev() => i);
    assert_eq!(reversed, (0..n).rev().collect::<Vec<_>>());

    let mut sum = 0u128;
    par_bounded!(limit = 4, reduce(sum: +); for i in 0u128..100_000 { sum += i; });
    assert_eq!(sum, 99_999 * 100_000 / 2);
}

#[test]
fn inclusive_ranges_reach_the_type_maximum() {
    wide_pool();
    for (limit, batch) in [(1, 1), (2, 1), (3, 7), (6, 100)] {
        let context = format!("limit {limit}, batch {batch}");
        let bytes: Vec<u8> = par_bounded!(limit = limit, batch = batch; for b in 0..=u8::MAX => b);
        assert_eq!(bytes, (0..=u8::MAX).collect::<Vec<_>>(), "{context}");
        let signed: Vec<i8> =
            par_bounded!(limit = limit, batch = batch; for b in i8::MIN..=i8::MAX => b);
        assert_eq!(signed, (i8::MIN..=i8::MAX).collect::<Vec<_>>(), "{context}");
        let top: Vec<u64> =
            par_bounded!(limit = limit, batch = batch; for x in u64::MAX - 20..=u64::MAX => x);
        assert_eq!(
            top,
            (u64::MAX - 20..=u64::MAX).collect::<Vec<_>>(),
            "{context}"
        );
        let bottom: Vec<i64> =
            par_bounded!(limit = limit, batch = batch; for x in i64::MIN..=i64::MIN + 20 => x);
        assert_eq!(
            bottom,
            (i64::MIN..=i64::MIN + 20).collect::<Vec<_>>(),
            "{context}"
        );
        let one: Vec<usize> =
            par_bounded!(limit = limit, batch = batch; for x in usize::MAX..=usize::MAX => x);
        assert_eq!(one, [usize::MAX], "{context}");
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
