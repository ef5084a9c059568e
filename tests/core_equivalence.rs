//! A parallel loop gives the sequential loop's answer: for random inputs, limits, batch
//! sizes and schedules, every `reduce` operator, the ordered collect form, `.enumerate()`
//! inputs and `with` state equal the plain `for` loop written without the macro.
//!
//! Order-sensitive reductions (`append`, `merge` of maps of vectors, string
//! concatenation through a path) prove that partial results are combined in input order.

use bounded::{bounded, par_bounded};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::num::Wrapping;

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

/// A random input, limit, batch size and schedule index.
fn cases() -> impl Strategy<Value = (Vec<u32>, usize, usize, usize)> {
    (
        prop::collection::vec(any::<u32>(), 0..2000),
        1usize..=6,
        1usize..=300,
        0usize..4,
    )
}

fn wrapping_add(a: u64, b: u64) -> u64 {
    a.wrapping_add(b)
}

/// A product whose `Default` is one: a path operator's identity is `T::default()`, so a
/// plain `fn(u64, u64) -> u64` multiplication would start every batch at zero.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Product(u64);

impl Default for Product {
    fn default() -> Self {
        Product(1)
    }
}

fn wrapping_mul(a: Product, b: Product) -> Product {
    Product(a.0.wrapping_mul(b.0))
}

/// Associative but not commutative: the result shows the order partials were combined in.
fn concat(a: String, b: String) -> String {
    a + &b
}

/// A factor of the `*` test: at most 40 threes in 2000 items, so `u64` cannot overflow.
fn factor(i: usize, x: u32) -> u64 {
    if i % 50 == 0 && x % 2 == 1 {
        3
    } else {
        1
    }
}

fn digits(x: u32) -> u64 {
    x.to_string().bytes().map(|b| u64::from(b - b'0')).sum()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn sum_and_product((xs, limit, batch, which) in cases()) {
        let (mut sum, mut product, mut wrapped, mut folded) = (5u64, 2u64, Wrapping(7u64), 11u64);
        let mut multiplied = Product(3);
        for (i, x) in xs.iter().enumerate() {
            sum += u64::from(*x);
            multiplied = wrapping_mul(multiplied, Product(u64::from(*x) | 1));
            product *= factor(i, *x);
            wrapped *= Wrapping(u64::from(*x) | 1);
            folded = wrapping_add(folded, u64::from(*x) << 20);
        }
        let (mut s, mut p, mut w, mut f) = (5u64, 2u64, Wrapping(7u64), 11u64);
        let mut m = Product(3);
        par_sched!(which; limit = limit, batch = batch,
            reduce(s: +, p: *, w: *, f: wrapping_add, m: wrapping_mul);
            for (i, x) in xs.iter().enumerate() {
                s += u64::from(*x);
                m = wrapping_mul(m, Product(u64::from(*x) | 1));
                p *= factor(i, *x);
                w *= Wrapping(u64::from(*x) | 1);
                f = wrapping_add(f, u64::from(*x) << 20);
            });
        prop_assert_eq!((s, p, w, f, m), (sum, product, wrapped, folded, multiplied));
    }

    #[test]
    fn bit_and_boolean_operators((xs, limit, batch, which) in cases()) {
        let (mut and, mut or, mut xor) = (u32::MAX ^ 0x100, 0x8000_0000u32, 0x1234u32);
        let (mut all, mut any) = (true, false);
        for x in &xs {
            and &= *x | 0x00ff_00ff;
            or |= *x & 0x0f0f_0000;
            xor ^= *x;
            all = all && *x % 1000 != 7;
            any = any || *x % 1000 == 3;
        }
        let (mut a, mut o, mut x_) = (u32::MAX ^ 0x100, 0x8000_0000u32, 0x1234u32);
        let (mut al, mut an) = (true, false);
        par_sched!(which; limit = limit, batch = batch,
            reduce(a: &, o: |, x_: ^, al: &&, an: ||);
            for x in &xs {
                a &= *x | 0x00ff_00ff;
                o |= *x & 0x0f0f_0000;
                x_ ^= *x;
                al = al && *x % 1000 != 7;
                an = an || *x % 1000 == 3;
            });
        prop_assert_eq!((a, o, x_, al, an), (and, or, xor, all, any));

        // Booleans under `&`, `|`, `^` too.
        let (mut band, mut bor, mut bxor) = (true, false, false);
        for x in &xs {
            band &= *x != 0;
            bor |= *x == 0;
            bxor ^= *x % 2 == 1;
        }
        let (mut ba, mut bo, mut bx) = (true, false, false);
        par_sched!(which; limit = limit, batch = batch, reduce(ba: &, bo: |, bx: ^);
            for x in &xs {
                ba &= *x != 0;
                bo |= *x == 0;
                bx ^= *x % 2 == 1;
            });
        prop_assert_eq!((ba, bo, bx), (band, bor, bxor));
    }

    #[test]
    fn min_and_max((xs, limit, batch, which) in cases()) {
        let (mut lo, mut hi) = (u32::MAX / 2, u32::MAX / 3);
        let (mut lo_i, mut hi_i) = (0i64, 0i64);
        for x in &xs {
            lo = lo.min(*x);
            hi = hi.max(*x);
            lo_i = lo_i.min(i64::from(*x) - i64::from(u32::MAX / 2));
            hi_i = hi_i.max(i64::from(*x) - i64::from(u32::MAX / 2));
        }
        let (mut l, mut h) = (u32::MAX / 2, u32::MAX / 3);
        let (mut li, mut hi_) = (0i64, 0i64);
        par_sched!(which; limit = limit, batch = batch, reduce(l: min, h: max, li: min, hi_: max);
            for x in &xs {
                l = l.min(*x);
                h = h.max(*x);
                li = li.min(i64::from(*x) - i64::from(u32::MAX / 2));
                hi_ = hi_.max(i64::from(*x) - i64::from(u32::MAX / 2));
            });
        prop_assert_eq!((l, h, li, hi_), (lo, hi, lo_i, hi_i));
    }

    #[test]
    fn append_keeps_input_order((xs, limit, batch, which) in cases()) {
        let mut odd = vec![u32::MAX];
        let mut text = String::from(">");
        let mut deque = VecDeque::from([0u64]);
        for x in &xs {
            if x % 2 == 1 {
                odd.push(*x);
            }
            text.push_str(&(x % 10).to_string());
            deque.push_back(u64::from(*x) * 3);
        }
        let mut o = vec![u32::MAX];
        let mut t = String::from(">");
        let mut d = VecDeque::from([0u64]);
        par_sched!(which; limit = limit, batch = batch, reduce(o: append, t: append, d: append);
            for x in &xs {
                if x % 2 == 1 {
                    o.push(*x);
                }
                t.push_str(&(x % 10).to_string());
                d.push_back(u64::from(*x) * 3);
            });
        prop_assert_eq!(o, odd);
        prop_assert_eq!(t, text);
        prop_assert_eq!(d, deque);
    }

    #[test]
    fn merge_unites_maps_and_sets((xs, limit, batch, which) in cases()) {
        let mut counts: HashMap<u32, u64> = HashMap::from([(3, 100)]);
        let mut groups: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        let mut by_hash: HashMap<u32, Vec<u32>> = HashMap::new();
        let mut seen: HashSet<u32> = HashSet::from([1_000_000]);
        let mut sorted: BTreeSet<u32> = BTreeSet::new();
        for x in &xs {
            *counts.entry(x % 17).or_insert(0) += 1;
            groups.entry(x % 5).or_default().push(*x);
            by_hash.entry(x % 7).or_default().push(*x);
            seen.insert(x % 300);
            sorted.insert(x % 50);
        }
        let mut c: HashMap<u32, u64> = HashMap::from([(3, 100)]);
        let mut g: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        let mut bh: HashMap<u32, Vec<u32>> = HashMap::new();
        let mut s: HashSet<u32> = HashSet::from([1_000_000]);
        let mut so: BTreeSet<u32> = BTreeSet::new();
        par_sched!(which; limit = limit, batch = batch,
            reduce(c: merge, g: merge, bh: merge, s: merge, so: merge);
            for x in &xs {
                *c.entry(x % 17).or_insert(0) += 1;
                g.entry(x % 5).or_default().push(*x);
                bh.entry(x % 7).or_default().push(*x);
                s.insert(x % 300);
                so.insert(x % 50);
            });
        prop_assert_eq!(c, counts);
        // Vectors under equal keys are merged earlier-then-later: input order.
        prop_assert_eq!(g, groups);
        prop_assert_eq!(bh, by_hash);
        prop_assert_eq!(s, seen);
        prop_assert_eq!(so, sorted);
    }

    #[test]
    fn a_path_operator_combines_in_input_order((xs, limit, batch, which) in cases()) {
        let mut expected = String::from("start:");
        for x in &xs {
            expected = concat(expected, format!("{},", x % 1000));
        }
        let mut got = String::from("start:");
        par_sched!(which; limit = limit, batch = batch, reduce(got: concat);
            for x in &xs {
                got = concat(got, format!("{},", x % 1000));
            });
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn the_collect_form_is_map_collect((xs, limit, batch, which) in cases()) {
        let f = |x: &u32| u64::from(*x) * 3 + 1;
        let got: Vec<u64> = par_sched!(which; limit = limit, batch = batch; for x in &xs => f(x));
        prop_assert_eq!(got, xs.iter().map(f).collect::<Vec<_>>());

        let got: Vec<String> =
            par_sched!(which; limit = limit, batch = batch; for x in xs.iter() => x.to_string());
        prop_assert_eq!(got, xs.iter().map(|x| x.to_string()).collect::<Vec<_>>());

        // Any `FromIterator` target: a string of characters, in input order.
        let got: String = par_sched!(which; limit = limit, batch = batch;
            for x in &xs => char::from(b'a' + (x % 26) as u8));
        prop_assert_eq!(got, xs.iter().map(|x| char::from(b'a' + (x % 26) as u8)).collect::<String>());

        // Owned input.
        let got: Vec<u32> =
            par_sched!(which; limit = limit, batch = batch; for x in xs.clone() => x ^ 0xff);
        prop_assert_eq!(got, xs.iter().map(|x| x ^ 0xff).collect::<Vec<_>>());
    }

    #[test]
    fn enumerate_inputs_see_input_positions((xs, limit, batch, which) in cases()) {
        let mut weighted = 0u64;
        let mut pairs = Vec::new();
        for (i, x) in xs.iter().enumerate() {
            weighted = weighted.wrapping_add((i as u64 + 1).wrapping_mul(u64::from(*x)));
            if x % 3 == 0 {
                pairs.push((i, *x));
            }
        }
        let mut w = 0u64;
        let mut p = Vec::new();
        par_sched!(which; limit = limit, batch = batch, reduce(w: wrapping_add, p: append);
            for (i, x) in xs.iter().enumerate() {
                w = wrapping_add(w, (i as u64 + 1).wrapping_mul(u64::from(*x)));
                if x % 3 == 0 {
                    p.push((i, *x));
                }
            });
        prop_assert_eq!(w, weighted);
        prop_assert_eq!(&p, &pairs);

        // Owned and enumerated.
        let mut q = Vec::new();
        par_sched!(which; limit = limit, batch = batch, reduce(q: append);
            for (i, x) in xs.clone().into_iter().enumerate() {
                if x % 3 == 0 {
                    q.push((i, x));
                }
            });
        prop_assert_eq!(&q, &pairs);

        let indexed: Vec<(usize, u32)> =
            par_sched!(which; limit = limit, batch = batch; for (i, x) in xs.iter().enumerate() => (i, *x));
        prop_assert_eq!(indexed, xs.iter().copied().enumerate().collect::<Vec<_>>());
    }

    #[test]
    fn with_state_gives_the_same_answer((xs, limit, batch, which) in cases()) {
        let mut expected = 0u64;
        let mut lines = Vec::new();
        for x in &xs {
            expected += digits(*x);
            lines.push(format!("<{x}>"));
        }
        let mut total = 0u64;
        let mut got = Vec::new();
        par_sched!(which; limit = limit, batch = batch, reduce(total: +, got: append),
            with(buf = Vec::new(), line = String::new());
            for x in &xs {
                buf.clear();
                buf.extend(x.to_string().bytes().map(|b| u64::from(b - b'0')));
                total += buf.iter().sum::<u64>();
                line.clear();
                line.push('<');
                line.push_str(&x.to_string());
                line.push('>');
                got.push(line.clone());
            });
        prop_assert_eq!(total, expected);
        prop_assert_eq!(got, lines);
    }

    #[test]
    fn bounded_functions_equal_the_sequential_loop((xs, limit, batch, _which) in cases()) {
        let summary = summarise(&xs, limit, batch);
        prop_assert_eq!(summary, summarise_sequentially(&xs));
    }
}

/// What [`summarise`] computes.
#[derive(Debug, PartialEq)]
struct Summary {
    sum: u64,
    low: u32,
    high: u32,
    evens: Vec<u32>,
    counts: BTreeMap<u32, u64>,
    text: String,
}

#[bounded(limit = limit, batch = batch,
    reduce(sum: +, low: min, high: max, evens: append, counts: merge, text: concat))]
fn summarise(xs: &[u32], limit: usize, batch: usize) -> Summary {
    let (mut sum, mut low, mut high) = (0u64, u32::MAX, 0u32);
    let (mut evens, mut counts, mut text) = (Vec::new(), BTreeMap::new(), String::new());
    for x in xs {
        sum += u64::from(*x);
        low = low.min(*x);
        high = high.max(*x);
        if x % 2 == 0 {
            evens.push(*x);
        }
        *counts.entry(x % 11).or_insert(0u64) += 1;
        text = concat(text, (x % 7).to_string());
    }
    Summary {
        sum,
        low,
        high,
        evens,
        counts,
        text,
    }
}

fn summarise_sequentially(xs: &[u32]) -> Summary {
    let (mut sum, mut low, mut high) = (0u64, u32::MAX, 0u32);
    let (mut evens, mut counts, mut text) = (Vec::new(), BTreeMap::new(), String::new());
    for x in xs {
        sum += u64::from(*x);
        low = low.min(*x);
        high = high.max(*x);
        if x % 2 == 0 {
            evens.push(*x);
        }
        *counts.entry(x % 11).or_insert(0u64) += 1;
        text = concat(text, (x % 7).to_string());
    }
    Summary {
        sum,
        low,
        high,
        evens,
        counts,
        text,
    }
}
