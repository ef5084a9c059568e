//! Every kind of input a `for` loop takes: shared, unique and owned slices and vectors,
//! integer ranges, maps, `Option`, endless iterators (pulled batch by batch, so memory
//! stays bounded), channel receivers, and owned items, which are dropped exactly once
//! however the loop ends.

use bounded::{bounded, par_bounded};
use std::collections::{BTreeMap, HashMap};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::thread;

/// `par_bounded!` under the schedule picked by `$which` (a literal in each arm).
macro_rules! par_sched {
    ($which:expr; $($rest:tt)*) => {
        match $which {
            0 => par_bounded!(schedule = dynamic, $($rest)*),
            1 => par_bounded!(schedule = static, $($rest)*),
            2 => par_bounded!(schedule = guided, $($rest)*),
            _ => par_bounded!(schedule = steal, $($rest)*),
        }
    };
}

/// Limits, batch sizes and schedules the input tests go through.
fn shapes() -> Vec<(usize, usize, usize)> {
    let mut all = Vec::new();
    for limit in [1usize, 2, 4] {
        for batch in [1usize, 7, 100] {
            for which in 0..4 {
                all.push((limit, batch, which));
            }
        }
    }
    all
}

// ---------------------------------------------------------------- slices and vectors

#[bounded(limit = 3, batch = 11, reduce(total: +))]
fn slice_total(xs: &[u64]) -> u64 {
    let mut total = 0;
    for x in xs {
        total += x;
    }
    total
}

#[test]
fn shared_slices_and_vectors() {
    let v: Vec<u64> = (0..3000).map(|x| x * 7 % 1013).collect();
    let expected: u64 = v.iter().sum();
    assert_eq!(slice_total(&v), expected);
    assert_eq!(slice_total(&v[100..]), v[100..].iter().sum::<u64>());
    assert_eq!(slice_total(&[]), 0);

    for (limit, batch, which) in shapes() {
        let (mut a, mut b, mut c) = (0u64, 0u64, 0u64);
        let vec_ref: &Vec<u64> = &v;
        par_sched!(which; limit = limit, batch = batch, reduce(a: +); for x in vec_ref {
            a += x;
        });
        par_sched!(which; limit = limit, batch = batch, reduce(b: +); for x in v.as_slice() {
            b += x;
        });
        par_sched!(which; limit = limit, batch = batch, reduce(c: +); for x in v.iter() {
            c += x;
        });
        assert_eq!((a, b, c), (expected, expected, expected));

        let copied: Vec<u64> = par_sched!(which; limit = limit, batch = batch; for x in &v => *x);
        assert_eq!(copied, v);
    }

    let array = [3u32, 1, 4, 1, 5, 9, 2, 6];
    let doubled: Vec<u32> = par_bounded!(limit = 2, batch = 3; for x in &array => x * 2);
    assert_eq!(doubled, [6, 2, 8, 2, 10, 18, 4, 12]);
}

#[test]
fn owned_vectors() {
    let words: Vec<String> = (0..2000).map(|i| format!("w{i}")).collect();
    for (limit, batch, which) in shapes() {
        let mut joined = Vec::new();
        par_sched!(which; limit = limit, batch = batch, reduce(joined: append); for w in words.clone() {
            joined.push(w);
        });
        assert_eq!(joined, words);

        let lengths: Vec<usize> = par_sched!(which; limit = limit, batch = batch; for w in words.clone().into_iter() => w.len());
        assert_eq!(lengths, words.iter().map(String::len).collect::<Vec<_>>());
    }
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
fn unique_slices_and_vectors_are_mutated_in_place() {
    let original: Vec<u64> = (0..2500).collect();
    let expected: Vec<u64> = original.iter().map(|x| scramble(*x)).collect();

    let mut v = original.clone();
    scramble_all(&mut v);
    assert_eq!(v, expected);

    for (limit, batch, which) in shapes() {
        // `&mut Vec<T>`
        let mut v = original.clone();
        let vec_mut: &mut Vec<u64> = &mut v;
        par_sched!(which; limit = limit, batch = batch; for x in vec_mut {
            *x = scramble(*x);
        });
        assert_eq!(v, expected);

        // `&mut [T]`, a part of the vector only.
        let mut v = original.clone();
        let slice: &mut [u64] = &mut v[500..2000];
        par_sched!(which; limit = limit, batch = batch; for x in slice {
            *x = scramble(*x);
        });
        assert_eq!(v[..500], original[..500]);
        assert_eq!(v[500..2000], expected[500..2000]);
        assert_eq!(v[2000..], original[2000..]);

        // `iter_mut()` with positions.
        let mut v = original.clone();
        par_sched!(which; limit = limit, batch = batch; for (i, x) in v.iter_mut().enumerate() {
            *x = scramble(*x) ^ i as u64;
        });
        let with_positions: Vec<u64> = expected
            .iter()
            .enumerate()
            .map(|(i, x)| x ^ i as u64)
            .collect();
        assert_eq!(v, with_positions);
    }
}

// -------------------------------------------------------------------------- ranges

/// For one integer type: `a..b` and `a..=b` give the sequential items, in order.
macro_rules! range_checks {
    ($t:ty, $lo:expr, $hi:expr) => {{
        let (lo, hi): ($t, $t) = ($lo, $hi);
        for (limit, batch, which) in shapes() {
            let mut total = 0i128;
            par_sched!(which; limit = limit, batch = batch, reduce(total: +); for i in lo..hi {
                total += i as i128;
            });
            assert_eq!(total, (lo..hi).map(|i| i as i128).sum::<i128>(), "{}", stringify!($t));

            let mut total = 0i128;
            par_sched!(which; limit = limit, batch = batch, reduce(total: +); for i in lo..=hi {
                total += i as i128;
            });
            assert_eq!(total, (lo..=hi).map(|i| i as i128).sum::<i128>(), "{}", stringify!($t));

            let items: Vec<$t> = par_sched!(which; limit = limit, batch = batch; for i in lo..=hi => i);
            assert_eq!(items, (lo..=hi).collect::<Vec<$t>>(), "{}", stringify!($t));
        }
    }};
}

#[test]
fn integer_ranges() {
    range_checks!(u32, 0, 1500);
    range_checks!(u64, 0, 1500);
    range_checks!(i64, 0, 1500);
    range_checks!(usize, 0, 1500);
    range_checks!(i64, -700, 800);
    // Ranges that end at the type's largest or start at its smallest value.
    range_checks!(u32, u32::MAX - 300, u32::MAX);
    range_checks!(u64, u64::MAX - 300, u64::MAX);
    range_checks!(usize, usize::MAX - 300, usize::MAX);
    range_checks!(i64, i64::MIN, i64::MIN + 300);
    range_checks!(i64, i64::MAX - 300, i64::MAX);
}

#[test]
fn empty_and_reversed_ranges_run_nothing() {
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
    for n in [0u64, 1, 2, 49, 50, 51, 10_000] {
        assert_eq!(sum_of_squares(n), n * (n + 1) * (2 * n + 1) / 6, "n = {n}");
    }
}

// ------------------------------------------------------------- maps and options

#[test]
fn hash_maps_by_reference_and_by_value() {
    let map: HashMap<u32, u64> = (0..3000u32).map(|k| (k, u64::from(k) * 3)).collect();
    let expected: u64 = map.iter().map(|(k, v)| u64::from(*k) * v).sum();
    for (limit, batch, which) in shapes() {
        let mut total = 0u64;
        par_sched!(which; limit = limit, batch = batch, reduce(total: +); for (k, v) in &map {
            total += u64::from(*k) * v;
        });
        assert_eq!(total, expected);

        let mut keys = 0u64;
        par_sched!(which; limit = limit, batch = batch, reduce(keys: +); for k in map.keys() {
            keys += u64::from(*k);
        });
        assert_eq!(keys, (0..3000u64).sum::<u64>());
    }

    // By value, collected into another map.
    let halved: BTreeMap<u32, u64> =
        par_bounded!(limit = 3, batch = 64; for (k, v) in map.clone() => (k, v / 3));
    assert_eq!(halved.len(), 3000);
    assert!(halved.iter().all(|(k, v)| u64::from(*k) == *v));
}

#[test]
fn options_are_inputs_of_zero_or_one_item() {
    let some = Some(41u32);
    let none: Option<u32> = None;
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

// -------------------------------------------------------------- pulled iterators

#[test]
fn an_endless_iterator_stops_at_its_error_with_bounded_pulls() {
    for limit in [1usize, 2, 4] {
        for batch in [1usize, 8, 64] {
            let k = 5_000usize;
            let pulled = AtomicUsize::new(0);
            let mut next = 0usize;
            // Items from `k` on are errors, for ever.
            let endless = std::iter::from_fn(|| {
                pulled.fetch_add(1, SeqCst);
                let i = next;
                next += 1;
                Some(if i < k { Ok(i) } else { Err(i) })
            });
            let result = (|| -> Result<usize, usize> {
                let mut ok = 0usize;
                par_bounded!(limit = limit, batch = batch, reduce(ok: +); for item in endless {
                    let _i = item?;
                    ok += 1;
                });
                Ok(ok)
            })();
            let failed_at = result.expect_err("the loop ends with the iterator's error");
            assert!(failed_at >= k, "limit {limit}, batch {batch}: {failed_at}");
            let pulled = pulled.load(SeqCst);
            assert!(
                pulled <= k + limit * batch * 2,
                "limit {limit}, batch {batch}: {pulled} items pulled"
            );
        }
    }
}

#[test]
fn an_endless_iterator_with_auto_batches_is_pulled_in_bounded_steps() {
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
fn a_channel_receiver_is_pulled_until_the_sender_hangs_up() {
    for (limit, batch) in [(1usize, 1usize), (3, 1), (3, 16), (4, 100)] {
        let (tx, rx) = mpsc::channel::<u64>();
        let producer = thread::spawn(move || {
            for i in 0..4000u64 {
                tx.send(i).unwrap();
            }
        });
        let mut total = 0u64;
        par_bounded!(limit = limit, batch = batch, reduce(total: +); for x in rx {
            total += x;
        });
        producer.join().unwrap();
        assert_eq!(total, (0..4000u64).sum::<u64>());

        // The collect form keeps the order the items arrived in.
        let (tx, rx) = mpsc::sync_channel::<u64>(8);
        let producer = thread::spawn(move || {
            for i in 0..2000u64 {
                tx.send(i * 2).unwrap();
            }
        });
        let got: Vec<u64> = par_bounded!(limit = limit, batch = batch; for x in rx => x + 1);
        producer.join().unwrap();
        assert_eq!(got, (0..2000u64).map(|i| i * 2 + 1).collect::<Vec<_>>());
    }
}

#[test]
fn other_iterators_are_pulled_in_input_order() {
    let xs: Vec<u32> = (0..3000).collect();
    for (limit, batch, which) in shapes() {
        let mut kept = Vec::new();
        par_sched!(which; limit = limit, batch = batch, reduce(kept: append);
        for x in xs.iter().filter(|x| *x % 3 == 0).map(|x| x * 2) {
            kept.push(x);
        });
        assert_eq!(
            kept,
            xs.iter()
                .filter(|x| *x % 3 == 0)
                .map(|x| x * 2)
                .collect::<Vec<_>>()
        );
    }
}

// ------------------------------------------------------------------ owned items

/// An owned item that records its own drop.
struct Tracked<'a> {
    id: usize,
    drops: &'a [AtomicUsize],
}

impl Drop for Tracked<'_> {
    fn drop(&mut self) {
        self.drops[self.id].fetch_add(1, SeqCst);
    }
}

fn counters(n: usize) -> Vec<AtomicUsize> {
    (0..n).map(|_| AtomicUsize::new(0)).collect()
}

fn tracked(drops: &[AtomicUsize]) -> Vec<Tracked<'_>> {
    (0..drops.len()).map(|id| Tracked { id, drops }).collect()
}

/// Every item made was dropped exactly once (items never made: never dropped).
#[track_caller]
fn assert_dropped_once(drops: &[AtomicUsize], made: usize, what: &str) {
    for (id, d) in drops.iter().enumerate() {
        let expected = usize::from(id < made);
        assert_eq!(d.load(SeqCst), expected, "{what}: item {id}");
    }
}

#[derive(Debug, PartialEq)]
struct Failed(usize);

const N: usize = 600;
const FAIL_AT: usize = 250;

#[test]
fn owned_vec_items_are_dropped_once_when_the_loop_completes() {
    for (limit, batch, which) in shapes() {
        let drops = counters(N);
        let items = tracked(&drops);
        let mut sum = 0usize;
        par_sched!(which; limit = limit, batch = batch, reduce(sum: +); for t in items {
            sum += t.id;
        });
        assert_eq!(sum, (0..N).sum::<usize>());
        assert_dropped_once(&drops, N, &format!("limit {limit}, batch {batch}, {which}"));

        // Items moved into a reduction are dropped with it, once.
        let drops = counters(N);
        let items = tracked(&drops);
        let mut kept = Vec::new();
        par_sched!(which; limit = limit, batch = batch, reduce(kept: append); for t in items {
            if t.id % 2 == 0 {
                kept.push(t);
            }
        });
        assert_eq!(kept.len(), N / 2);
        assert!(kept.iter().enumerate().all(|(i, t)| t.id == i * 2));
        drop(kept);
        assert_dropped_once(&drops, N, "moved into append");
    }
}

#[test]
fn owned_vec_items_are_dropped_once_when_the_loop_fails() {
    for (limit, batch, which) in shapes() {
        let drops = counters(N);
        let items = tracked(&drops);
        let result = (|| -> Result<(), Failed> {
            par_sched!(which; limit = limit, batch = batch; for t in items {
                if t.id == FAIL_AT {
                    Err(Failed(t.id))?;
                }
            });
            Ok(())
        })();
        assert_eq!(result, Err(Failed(FAIL_AT)));
        assert_dropped_once(
            &drops,
            N,
            &format!("`?`: limit {limit}, batch {batch}, {which}"),
        );

        // Enumerated, keep-going.
        let drops = counters(N);
        let items = tracked(&drops);
        let result = (|| -> Result<(), Failed> {
            par_sched!(which; limit = limit, batch = batch, keep_going;
            for (i, t) in items.into_iter().enumerate() {
                if i % 100 == 99 {
                    Err(Failed(t.id))?;
                }
            });
            Ok(())
        })();
        assert_eq!(result, Err(Failed(99)));
        assert_dropped_once(&drops, N, "keep_going");
    }
}

#[test]
fn owned_vec_items_are_dropped_once_when_a_body_panics() {
    for (limit, batch, which) in shapes() {
        let drops = counters(N);
        let items = tracked(&drops);
        let caught = catch_unwind(AssertUnwindSafe(|| {
            par_sched!(which; limit = limit, batch = batch; for t in items {
                if t.id == FAIL_AT {
                    panic!("item {}", t.id);
                }
            });
        }));
        assert!(caught.is_err());
        assert_dropped_once(
            &drops,
            N,
            &format!("panic: limit {limit}, batch {batch}, {which}"),
        );
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

#[test]
fn pulled_owned_items_are_dropped_once_however_the_loop_ends() {
    for limit in [1usize, 2, 4] {
        for batch in [1usize, 7, 100] {
            let what = format!("limit {limit}, batch {batch}");

            let (drops, made) = (counters(N), AtomicUsize::new(0));
            let mut count = 0usize;
            par_bounded!(limit = limit, batch = batch, reduce(count: +); for t in maker(&drops, &made) {
                count += usize::from(t.id < N);
            });
            assert_eq!(count, N);
            assert_dropped_once(&drops, made.load(SeqCst), &what);
            assert_eq!(made.load(SeqCst), N);

            let (drops, made) = (counters(N), AtomicUsize::new(0));
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

            let (drops, made) = (counters(N), AtomicUsize::new(0));
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
    let drops = counters(N);
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
    for (limit, batch) in [(1usize, 5usize), (1, 1), (3, 5), (3, 1)] {
        let what = format!("limit {limit}, batch {batch}");
        let token = bounded::CancelToken::new();
        let drops = counters(N);
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
    let mut leaks = Vec::new();
    for batch in [1usize, 5] {
        let drops = panic_with_token(1, batch);
        leaks.push((
            format!("cancel, limit 1, batch {batch}"),
            misdropped(&drops),
        ));
    }
    // The same with a deadline, and with `if = false` on several lanes.
    let drops = counters(N);
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
fn a_panicking_iterator_reaches_the_caller_and_drops_what_it_made() {
    for limit in [1usize, 3] {
        for batch in [1usize, 16] {
            let what = format!("limit {limit}, batch {batch}");
            let (drops, made) = (counters(N), AtomicUsize::new(0));
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
            assert_eq!(payload.downcast_ref::<usize>(), Some(&FAIL_AT), "{what}");
            assert_dropped_once(&drops, made.load(SeqCst), &what);
        }
    }
}
