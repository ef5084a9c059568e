//! `extend` and `last` give the sequential loop's answer on every backend: a later
//! item's `insert` replaces an earlier one's, and a plain `x = e` leaves the value of
//! the last item, in input order, that assigned it (or the value before the loop when
//! no item did).

use bounded::{bounded, par_bounded};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

const EVENTS: [(u32, u64); 4] = [(1, 100), (2, 150), (1, 200), (1, 300)];

fn sequential_last_seen(events: &[(u32, u64)]) -> HashMap<u32, u64> {
    let mut last_seen = HashMap::new();
    for (user, ts) in events {
        last_seen.insert(*user, *ts);
    }
    last_seen
}

#[bounded(limit = 2, batch = 1, reduce(last_seen: extend))]
fn last_seen(events: &[(u32, u64)]) -> HashMap<u32, u64> {
    let mut last_seen = HashMap::new();
    for (user, ts) in events {
        last_seen.insert(*user, *ts);
    }
    last_seen
}

#[bounded(backend = serial, batch = 1, reduce(last_seen: extend))]
fn last_seen_serial(events: &[(u32, u64)]) -> HashMap<u32, u64> {
    let mut last_seen = HashMap::new();
    for (user, ts) in events {
        last_seen.insert(*user, *ts);
    }
    last_seen
}

#[bounded(backend = pool, limit = 3, batch = 1, reduce(last_seen: extend))]
fn last_seen_pool(events: &[(u32, u64)]) -> HashMap<u32, u64> {
    let mut last_seen = HashMap::new();
    for (user, ts) in events {
        last_seen.insert(*user, *ts);
    }
    last_seen
}

#[bounded(limit = 3, batch = 1, reduce(last_seen: extend))]
async fn last_seen_async(events: &[(u32, u64)]) -> HashMap<u32, u64> {
    let mut last_seen = HashMap::new();
    for (user, ts) in events {
        futures::future::ready(()).await;
        last_seen.insert(*user, *ts);
    }
    last_seen
}

#[test]
fn extend_keeps_the_last_insert_of_each_key_on_every_backend() {
    let expected = sequential_last_seen(&EVENTS);
    assert_eq!(expected[&1], 300);
    assert_eq!(last_seen(&EVENTS), expected, "rayon");
    assert_eq!(last_seen_serial(&EVENTS), expected, "serial");
    assert_eq!(last_seen_pool(&EVENTS), expected, "pool");
    let got = futures::executor::block_on(last_seen_async(&EVENTS));
    assert_eq!(got, expected, "async");
}

/// Many events over few users, so that every batch size splits one user's events
/// across batches and lanes.
fn many_events() -> Vec<(u32, String)> {
    (0..2_000u32)
        .map(|i| (i * 7 % 13, format!("seen at {i}")))
        .collect()
}

#[test]
fn extend_with_string_values_and_larger_batches() {
    let events = many_events();
    let mut expected = BTreeMap::new();
    for (user, what) in &events {
        expected.insert(*user, what.clone());
    }
    for batch in [1, 7, 64, 5_000] {
        let mut got = BTreeMap::new();
        got.insert(99, "before the loop".to_string());
        par_bounded!(limit = 4, batch = batch, reduce(got: extend); for (user, what) in &events {
            got.insert(*user, what.clone());
        });
        let mut want = expected.clone();
        want.insert(99, "before the loop".to_string());
        assert_eq!(got, want, "rayon, batch {batch}");

        let mut pooled = HashMap::new();
        par_bounded!(backend = pool, limit = 3, batch = batch, reduce(pooled: extend); for (user, what) in &events {
            pooled.insert(*user, what.clone());
        });
        assert_eq!(
            pooled,
            expected.clone().into_iter().collect(),
            "pool, batch {batch}"
        );

        let mut serial = HashMap::new();
        par_bounded!(backend = serial, batch = batch, reduce(serial: extend); for (user, what) in &events {
            serial.insert(*user, what.clone());
        });
        assert_eq!(
            serial,
            expected.clone().into_iter().collect(),
            "serial, batch {batch}"
        );

        let awaited = futures::executor::block_on(async {
            let mut awaited = HashMap::new();
            par_bounded!(limit = 3, batch = batch, reduce(awaited: extend); for (user, what) in &events {
                futures::future::ready(()).await;
                awaited.insert(*user, what.clone());
            });
            awaited
        });
        assert_eq!(
            awaited,
            expected.clone().into_iter().collect(),
            "async, batch {batch}"
        );
    }
}

#[test]
fn extend_on_sets_is_the_union() {
    let xs: Vec<u32> = (0..1_000).map(|i| i % 37).collect();
    let (mut hashed, mut ordered) = (HashSet::new(), BTreeSet::from([1_000]));
    par_bounded!(limit = 4, batch = 9, reduce(hashed: extend, ordered: extend); for x in &xs {
        hashed.insert(*x);
        ordered.insert(*x);
    });
    assert_eq!(hashed, (0..37).collect());
    assert_eq!(ordered, (0..37).chain([1_000]).collect());
}

#[bounded(limit = 2, batch = 1, reduce(last_ts: last))]
fn last_ts_of(events: &[(u32, u64)], user: u32) -> u64 {
    let mut last_ts = 0;
    for (u, ts) in events {
        if *u == user {
            last_ts = *ts;
        }
    }
    last_ts
}

#[bounded(backend = serial, batch = 1, reduce(last_ts: last))]
fn last_ts_serial(events: &[(u32, u64)], user: u32) -> u64 {
    let mut last_ts = 0;
    for (u, ts) in events {
        if *u == user {
            last_ts = *ts;
        }
    }
    last_ts
}

#[bounded(backend = pool, limit = 3, batch = 1, reduce(last_ts: last))]
fn last_ts_pool(events: &[(u32, u64)], user: u32) -> u64 {
    let mut last_ts = 0;
    for (u, ts) in events {
        if *u == user {
            last_ts = *ts;
        }
    }
    last_ts
}

#[bounded(limit = 3, batch = 1, reduce(last_ts: last))]
async fn last_ts_async(events: &[(u32, u64)], user: u32) -> u64 {
    let mut last_ts = 0;
    for (u, ts) in events {
        futures::future::ready(()).await;
        if *u == user {
            last_ts = *ts;
        }
    }
    last_ts
}

#[test]
fn last_is_the_value_of_the_last_assignment_on_every_backend() {
    for (user, want) in [(1, 300), (2, 150), (3, 0)] {
        assert_eq!(last_ts_of(&EVENTS, user), want, "rayon, user {user}");
        assert_eq!(last_ts_serial(&EVENTS, user), want, "serial, user {user}");
        assert_eq!(last_ts_pool(&EVENTS, user), want, "pool, user {user}");
        let got = futures::executor::block_on(last_ts_async(&EVENTS, user));
        assert_eq!(got, want, "async, user {user}");
    }
}

#[test]
fn last_leaves_the_variable_untouched_when_no_item_assigns() {
    let events = many_events();
    for batch in [1, 3, 100] {
        let mut latest = String::from("untouched");
        par_bounded!(limit = 4, batch = batch, reduce(latest: last); for (user, what) in &events {
            if *user == 1_000 {
                latest = what.clone();
            }
        });
        assert_eq!(latest, "untouched", "batch {batch}");

        let mut first_half = String::from("untouched");
        par_bounded!(backend = pool, limit = 3, batch = batch, reduce(first_half: last); for (i, (_, what)) in events.iter().enumerate() {
            if i < 1_000 {
                first_half = what.clone();
            }
        });
        assert_eq!(first_half, "seen at 999", "pool, batch {batch}");
    }
    let mut none = 7u8;
    par_bounded!(limit = 2, reduce(none: last); for x in Vec::<u8>::new() {
        none = x;
    });
    assert_eq!(none, 7);
}

#[test]
fn last_and_extend_beside_other_reductions_and_in_the_collect_form() {
    let xs: Vec<u64> = (0..3_000).collect();
    let (mut total, mut last_even, mut by_digit) = (0u64, 1u64, BTreeMap::new());
    par_bounded!(limit = 4, batch = 17, reduce(total: +, last_even: last, by_digit: extend); for x in &xs {
        total += x;
        if x % 2 == 0 {
            last_even = *x;
        }
        by_digit.insert(x % 10, *x);
    });
    assert_eq!(total, xs.iter().sum::<u64>());
    assert_eq!(last_even, 2_998);
    assert_eq!(by_digit, (0..10).map(|d| (d, 2_990 + d)).collect());

    let mut last_odd = 0u64;
    let squares: Vec<u64> = par_bounded!(limit = 3, batch = 5, reduce(last_odd: last); for x in &xs => {
        if x % 2 == 1 {
            last_odd = *x;
        }
        x * x
    });
    assert_eq!(squares[10], 100);
    assert_eq!(last_odd, 2_999);
}

fn inputs() -> impl Strategy<Value = (Vec<(u8, u16)>, usize, usize)> {
    (
        prop::collection::vec((0u8..16, any::<u16>()), 0..600),
        1usize..=6,
        1usize..=40,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn extend_and_last_equal_the_sequential_loop((xs, limit, batch) in inputs()) {
        let (mut map, mut set, mut last, mut last_big) =
            (HashMap::from([(200u8, 1u16)]), BTreeSet::new(), 5u16, String::from("none"));
        for (k, v) in &xs {
            map.insert(*k, *v);
            set.insert(*v % 64);
            last = *v;
            if *v > 60_000 {
                last_big = format!("{k}:{v}");
            }
        }

        let (mut m, mut s, mut l, mut b) =
            (HashMap::from([(200u8, 1u16)]), BTreeSet::new(), 5u16, String::from("none"));
        par_bounded!(limit = limit, batch = batch, reduce(m: extend, s: extend, l: last, b: last); for (k, v) in &xs {
            m.insert(*k, *v);
            s.insert(*v % 64);
            l = *v;
            if *v > 60_000 {
                b = format!("{k}:{v}");
            }
        });
        prop_assert_eq!(&m, &map);
        prop_assert_eq!(&s, &set);
        prop_assert_eq!(l, last);
        prop_assert_eq!(&b, &last_big);

        let (mut m, mut l) = (HashMap::from([(200u8, 1u16)]), 5u16);
        par_bounded!(backend = pool, limit = limit, batch = batch, reduce(m: extend, l: last); for (k, v) in &xs {
            m.insert(*k, *v);
            l = *v;
        });
        prop_assert_eq!(&m, &map);
        prop_assert_eq!(l, last);

        let (m, l) = futures::executor::block_on(async {
            let (mut m, mut l) = (HashMap::from([(200u8, 1u16)]), 5u16);
            par_bounded!(limit = limit, batch = batch, reduce(m: extend, l: last); for (k, v) in &xs {
                futures::future::ready(()).await;
                m.insert(*k, *v);
                l = *v;
            });
            (m, l)
        });
        prop_assert_eq!(&m, &map);
        prop_assert_eq!(l, last);
    }
}

// --- `merge` over order-free types: one copy per lane --------------------------------

/// A tally whose `merge` and `default` are counted, per type (tests run in parallel).
macro_rules! counted_tally {
    ($name:ident, $order_free:expr, $merges:ident, $defaults:ident) => {
        static $merges: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        static $defaults: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

        #[derive(Debug, PartialEq)]
        struct $name {
            sum: u64,
            count: u64,
        }

        impl Default for $name {
            fn default() -> Self {
                $defaults.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                $name { sum: 0, count: 0 }
            }
        }

        impl bounded::reduce::Merge for $name {
            fn merge(&mut self, other: Self) {
                $merges.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.sum += other.sum;
                self.count += other.count;
            }
            const ORDER_FREE: bool = $order_free;
        }
    };
}

counted_tally!(FreeTally, true, FREE_MERGES, FREE_DEFAULTS);
counted_tally!(OrderedTally, false, ORDERED_MERGES, ORDERED_DEFAULTS);
counted_tally!(AsyncTally, true, ASYNC_MERGES, ASYNC_DEFAULTS);
counted_tally!(BreakTally, true, BREAK_MERGES, BREAK_DEFAULTS);

fn counts(
    merges: &std::sync::atomic::AtomicUsize,
    defaults: &std::sync::atomic::AtomicUsize,
) -> (usize, usize) {
    use std::sync::atomic::Ordering::Relaxed;
    (merges.swap(0, Relaxed), defaults.swap(0, Relaxed))
}

const ITEMS: u64 = 20_000;
const EXPECTED_SUM: u64 = ITEMS * (ITEMS - 1) / 2;

#[test]
fn order_free_merges_build_one_copy_per_lane_on_every_sync_backend() {
    let xs: Vec<u64> = (0..ITEMS).collect();
    // Each form runs 20,000 items in batches of 16: 1,250 batches. One copy per lane
    // means a `default` per lane (and one for the outer value's fold), and a `merge`
    // per lane beyond the first plus the fold into the outer value.
    macro_rules! check {
        ($label:literal, $x:ident, $($opt:tt)*) => {{
            let mut tally = FreeTally::default();
            let mut words: HashMap<u64, u64> = HashMap::new();
            par_bounded!($($opt)* batch = 16, name = $label, reduce(tally: merge, words: merge); for $x in &xs {
                tally.sum += *$x;
                tally.count += 1;
                *words.entry($x % 101).or_insert(0) += 1;
            });
            let (merges, defaults) = counts(&FREE_MERGES, &FREE_DEFAULTS);
            let run = bounded::stats::last_run($label).unwrap();
            assert_eq!(tally, FreeTally { sum: EXPECTED_SUM, count: ITEMS }, $label);
            assert_eq!(words.len(), 101, $label);
            assert_eq!(words.values().sum::<u64>(), ITEMS, $label);
            // The serial backend runs a whole input as one batch.
            assert!(run.batches >= 1250 || $label == "free-serial", "{}: {} batches", $label, run.batches);
            let lanes = run.lanes as usize;
            assert!(
                merges <= lanes + 1 && defaults <= lanes + 2,
                "{}: {merges} merges and {defaults} copies for {lanes} lanes and {} batches",
                $label,
                run.batches,
            );
        }};
    }
    check!("free-serial", x, backend = serial,);
    check!("free-rayon", x, limit = 2,);
    check!("free-rayon-static", x, limit = 2, schedule = static,);
    check!("free-rayon-steal", x, limit = 2, schedule = steal,);
    check!("free-pool", x, backend = pool, limit = 3,);
    check!(
        "free-pool-drop",
        x,
        backend = pool,
        limit = 3,
        queue = 1_000_000,
        on_full = drop,
    );
    check!(
        "free-pool-keyed",
        x,
        backend = pool,
        limit = 3,
        key = *x % 3,
    );
}

#[test]
fn order_dependent_merges_keep_a_copy_per_batch_unless_it_continues_the_lanes_last() {
    // The control for the test above: the same loop, with a type that does not say it
    // is order-free, combines batches in input order. Under `schedule = static` a
    // lane's batches are never neighbours (batch k is lane k % 2's), so each needs a
    // copy of its own and a merge.
    let xs: Vec<u64> = (0..ITEMS).collect();
    let mut tally = OrderedTally::default();
    par_bounded!(limit = 2, batch = 16, schedule = static, reduce(tally: merge); for x in &xs {
        tally.sum += *x;
        tally.count += 1;
    });
    let (merges, defaults) = counts(&ORDERED_MERGES, &ORDERED_DEFAULTS);
    let expected = OrderedTally {
        sum: EXPECTED_SUM,
        count: ITEMS,
    };
    assert_eq!(tally, expected);
    assert!(
        defaults > 1000 && merges > 1000,
        "{merges} merges, {defaults} copies"
    );
    // One lane's batches back to back (a deadline makes the serial lane run batches):
    // each goes on from the partial of the one before, in input order, so the run
    // builds one copy and merges nothing (the other copies and the merge are the
    // variable's own and the result's merge into it, as in every loop).
    let serial = || -> Result<OrderedTally, bounded::Cancelled> {
        let mut tally = OrderedTally::default();
        par_bounded!(backend = serial, batch = 16, timeout = 600s, reduce(tally: merge); for x in &xs {
            tally.sum += *x;
            tally.count += 1;
        });
        Ok(tally)
    };
    let tally = serial().expect("the deadline is ten minutes away");
    let (merges, defaults) = counts(&ORDERED_MERGES, &ORDERED_DEFAULTS);
    assert_eq!(tally, expected);
    assert!(
        defaults <= 3 && merges <= 1,
        "{merges} merges, {defaults} copies"
    );
}

#[test]
fn order_free_merges_build_one_copy_per_lane_on_async_loops() {
    let xs: Vec<u64> = (0..ITEMS).collect();
    let mut tally = AsyncTally::default();
    let mut seen: BTreeSet<u64> = BTreeSet::new();
    futures::executor::block_on(async {
        par_bounded!(limit = 3, batch = 16, name = "free-async", reduce(tally: merge, seen: merge); for x in &xs {
            futures::future::ready(()).await;
            tally.sum += *x;
            tally.count += 1;
            seen.insert(*x);
        });
    });
    let (merges, defaults) = counts(&ASYNC_MERGES, &ASYNC_DEFAULTS);
    let run = bounded::stats::last_run("free-async").unwrap();
    assert_eq!(
        tally,
        AsyncTally {
            sum: EXPECTED_SUM,
            count: ITEMS
        }
    );
    assert_eq!(seen.len() as u64, ITEMS);
    let lanes = run.lanes as usize;
    assert!(
        merges <= lanes + 1 && defaults <= lanes + 2,
        "{merges} merges, {defaults} copies, {lanes} lanes"
    );
}

#[test]
fn a_loop_that_can_break_keeps_order_free_partials_apart_by_position() {
    // Past a `break`, the items that already ran must not count: per-batch partials,
    // cut at the break, give the sequential answer.
    let xs: Vec<u64> = (0..ITEMS).collect();
    for limit in [1, 2, 4] {
        let mut tally = BreakTally::default();
        par_bounded!(limit = limit, batch = 7, reduce(tally: merge); for x in &xs {
            if *x == 12_345 {
                break;
            }
            tally.sum += *x;
            tally.count += 1;
        });
        counts(&BREAK_MERGES, &BREAK_DEFAULTS);
        assert_eq!(
            tally,
            BreakTally {
                sum: 12_345 * 12_344 / 2,
                count: 12_345
            },
            "limit {limit}"
        );
    }
}

#[test]
fn order_free_flags_of_the_standard_types() {
    fn free<T: bounded::reduce::Merge>() -> bool {
        T::ORDER_FREE
    }
    assert!(free::<u64>());
    assert!(!free::<f64>(), "float rounding depends on the order");
    assert!(free::<HashMap<String, usize>>());
    assert!(free::<BTreeMap<u8, HashMap<u8, i32>>>());
    assert!(free::<HashSet<u8>>() && free::<BTreeSet<u8>>());
    assert!(
        !free::<HashMap<u8, Vec<u8>>>(),
        "vectors append in input order"
    );
    assert!(!free::<HashMap<u8, f32>>());
    assert!(!free::<String>());
    assert!(free::<Option<u32>>());
}
