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
