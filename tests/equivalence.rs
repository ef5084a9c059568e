//! The result equals the sequential loop's: for random inputs, limits, batch sizes and
//! every schedule, each `reduce` operator, the ordered collect form, `.enumerate()`
//! inputs and `with` state give exactly what the plain `for` loop gives (floats: up to
//! reassociation).
//!
//! Order-sensitive reductions (`append`, `merge` of maps of vectors, string
//! concatenation through a path) prove that partial results are combined in input order.

mod common;

use bounded::reduce::Merge;
use bounded::{bounded, par_bounded};
use common::{par_with_schedule, SCHEDULES};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::num::Wrapping;

/// A user type that `merge` combines through its own [`Merge`] impl.
#[derive(Debug, Default, Clone, PartialEq)]
struct Histogram {
    buckets: [u64; 4],
}

impl Merge for Histogram {
    fn merge(&mut self, other: Self) {
        for (a, b) in self.buckets.iter_mut().zip(other.buckets) {
            *a += b;
        }
    }
}

fn wrapping_add(a: u64, b: u64) -> u64 {
    a.wrapping_add(b)
}

/// Associative but not commutative: the result shows the order partials were combined in.
fn concat(a: String, b: String) -> String {
    a + &b
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

/// A factor of the plain `*` test: at most 40 threes in 2000 items, so `u64` cannot
/// overflow.
fn factor(i: usize, x: u32) -> u64 {
    if i % 50 == 0 && x % 2 == 1 {
        3
    } else {
        1
    }
}

fn inputs() -> impl Strategy<Value = (Vec<u32>, usize, usize)> {
    (
        prop::collection::vec(any::<u32>(), 0..2000),
        1usize..=6,
        1usize..=300,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arithmetic_and_bit_operators((xs, limit, batch) in inputs()) {
        let (mut sum, mut product, mut small) = (17u64, Wrapping(3u64), 2u64);
        let (mut and, mut or, mut xor) = (0xdead_beef_u32, 0x10_u32, 0x5555_u32);
        for (i, x) in xs.iter().enumerate() {
            sum += u64::from(*x);
            product *= Wrapping(u64::from(*x) | 1);
            small *= factor(i, *x);
            and &= *x | 0x0f0f;
            or |= *x & 0xf0f0_0000;
            xor ^= *x;
        }
        for schedule in SCHEDULES {
            let (mut s, mut p, mut sm) = (17u64, Wrapping(3u64), 2u64);
            let (mut a, mut o, mut x_) = (0xdead_beef_u32, 0x10_u32, 0x5555_u32);
            par_with_schedule!(schedule, limit = limit, batch = batch,
                reduce(s: +, p: *, sm: *, a: &, o: |, x_: ^); for (i, x) in xs.iter().enumerate() {
                s += u64::from(*x);
                p *= Wrapping(u64::from(*x) | 1);
                sm *= factor(i, *x);
                a &= *x | 0x0f0f;
                o |= *x & 0xf0f0_0000;
                x_ ^= *x;
            });
            prop_assert_eq!((s, p, sm), (sum, product, small), "{:?}", schedule);
            prop_assert_eq!((a, o, x_), (and, or, xor), "{:?}", schedule);
        }
    }

    #[test]
    fn logic_and_extremes((xs, limit, batch) in inputs()) {
        let (mut all, mut any) = (true, false);
        let (mut lo, mut hi) = (u32::MAX - 5, 10u32);
        let (mut flo, mut fhi) = (f64::INFINITY, -1.0f64);
        let (mut ilo, mut ihi) = (0i64, 0i64);
        let (mut band, mut bor, mut bxor) = (true, false, false);
        for x in &xs {
            all = all && x % 11 != 3;
            any = any || x % 1009 == 7;
            lo = lo.min(*x);
            hi = hi.max(*x);
            let f = f64::from(*x) / 7.0 - 1e8;
            flo = flo.min(f);
            fhi = fhi.max(f);
            ilo = ilo.min(i64::from(*x) - (1 << 31));
            ihi = ihi.max(i64::from(*x) - (1 << 31));
            band &= *x != 0;
            bor |= *x == 0;
            bxor ^= *x % 2 == 1;
        }
        for schedule in SCHEDULES {
            let (mut al, mut an) = (true, false);
            let (mut l, mut h) = (u32::MAX - 5, 10u32);
            let (mut fl, mut fh) = (f64::INFINITY, -1.0f64);
            let (mut il, mut ih) = (0i64, 0i64);
            par_with_schedule!(schedule, limit = limit, batch = batch,
                reduce(al: &&, an: ||, l: min, h: max, fl: min, fh: max, il: min, ih: max); for x in &xs {
                al = al && x % 11 != 3;
                an = an || x % 1009 == 7;
                l = l.min(*x);
                h = h.max(*x);
                let f = f64::from(*x) / 7.0 - 1e8;
                fl = fl.min(f);
                fh = fh.max(f);
                il = il.min(i64::from(*x) - (1 << 31));
                ih = ih.max(i64::from(*x) - (1 << 31));
            });
            prop_assert_eq!((al, an, l, h, il, ih), (all, any, lo, hi, ilo, ihi), "{:?}", schedule);
            prop_assert_eq!(fl.to_bits(), flo.to_bits(), "{:?}", schedule);
            prop_assert_eq!(fh.to_bits(), fhi.to_bits(), "{:?}", schedule);

            // Booleans under `&`, `|`, `^` too.
            let (mut ba, mut bo, mut bx) = (true, false, false);
            par_with_schedule!(schedule, limit = limit, batch = batch,
                reduce(ba: &, bo: |, bx: ^); for x in &xs {
                ba &= *x != 0;
                bo |= *x == 0;
                bx ^= *x % 2 == 1;
            });
            prop_assert_eq!((ba, bo, bx), (band, bor, bxor), "{:?}", schedule);
        }
    }

    #[test]
    fn append_keeps_input_order((xs, limit, batch) in inputs()) {
        let mut evens = vec![1u32, 2, 3];
        let mut text = String::from("start:");
        let mut tail = VecDeque::from([7u32]);
        for x in &xs {
            if x % 2 == 0 {
                evens.push(*x);
            }
            text.push_str(&format!("{},", x % 100));
            tail.push_back(x / 3);
        }
        for schedule in SCHEDULES {
            let mut e = vec![1u32, 2, 3];
            let mut t = String::from("start:");
            let mut d = VecDeque::from([7u32]);
            par_with_schedule!(schedule, limit = limit, batch = batch,
                reduce(e: append, t: append, d: append); for x in &xs {
                if x % 2 == 0 {
                    e.push(*x);
                }
                t.push_str(&format!("{},", x % 100));
                d.push_back(x / 3);
            });
            prop_assert_eq!(&e, &evens, "{:?}", schedule);
            prop_assert_eq!(&t, &text, "{:?}", schedule);
            prop_assert_eq!(&d, &tail, "{:?}", schedule);

            // A pulled (not indexed) input keeps its order as well.
            let mut pulled = vec![1u32, 2, 3];
            par_with_schedule!(schedule, limit = limit, batch = batch,
                reduce(pulled: append); for x in xs.iter().filter(|x| *x % 2 == 0) {
                pulled.push(*x);
            });
            prop_assert_eq!(&pulled, &evens, "{:?}, pulled", schedule);
        }
    }

    #[test]
    fn merge_unions_maps_and_sets((xs, limit, batch) in inputs()) {
        let mut counts: HashMap<u32, u64> = HashMap::from([(3, 100)]);
        let mut groups: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        let mut by_hash: HashMap<u32, Vec<u32>> = HashMap::new();
        let mut seen: HashSet<u32> = HashSet::new();
        let mut ordered: BTreeSet<u32> = BTreeSet::from([u32::MAX]);
        let mut nested: HashMap<u32, HashMap<u32, u64>> = HashMap::new();
        for x in &xs {
            *counts.entry(x % 17).or_insert(0) += 1;
            groups.entry(x % 5).or_default().push(*x);
            by_hash.entry(x % 7).or_default().push(*x);
            seen.insert(x % 1000);
            ordered.insert(x % 300);
            *nested.entry(x % 3).or_default().entry(x % 7).or_insert(0) += u64::from(*x);
        }
        let mut histogram = Histogram::default();
        let mut histograms: HashMap<u32, Histogram> = HashMap::new();
        for x in &xs {
            histogram.buckets[(x % 4) as usize] += 1;
            histograms.entry(x % 3).or_default().buckets[(x % 4) as usize] += u64::from(x % 10);
        }
        for schedule in SCHEDULES {
            let mut h = Histogram::default();
            let mut hs: HashMap<u32, Histogram> = HashMap::new();
            par_with_schedule!(schedule, limit = limit, batch = batch,
                reduce(h: merge, hs: merge); for x in &xs {
                h.buckets[(x % 4) as usize] += 1;
                hs.entry(x % 3).or_default().buckets[(x % 4) as usize] += u64::from(x % 10);
            });
            prop_assert_eq!(&h, &histogram, "{:?}", schedule);
            prop_assert_eq!(&hs, &histograms, "{:?}", schedule);
        }
        for schedule in SCHEDULES {
            let mut c: HashMap<u32, u64> = HashMap::from([(3, 100)]);
            let mut g: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
            let mut bh: HashMap<u32, Vec<u32>> = HashMap::new();
            let mut s: HashSet<u32> = HashSet::new();
            let mut o: BTreeSet<u32> = BTreeSet::from([u32::MAX]);
            let mut n: HashMap<u32, HashMap<u32, u64>> = HashMap::new();
            par_with_schedule!(schedule, limit = limit, batch = batch,
                reduce(c: merge, g: merge, bh: merge, s: merge, o: merge, n: merge); for x in &xs {
                *c.entry(x % 17).or_insert(0) += 1;
                g.entry(x % 5).or_default().push(*x);
                bh.entry(x % 7).or_default().push(*x);
                s.insert(x % 1000);
                o.insert(x % 300);
                *n.entry(x % 3).or_default().entry(x % 7).or_insert(0) += u64::from(*x);
            });
            prop_assert_eq!(&c, &counts, "{:?}", schedule);
            // Vectors under equal keys are merged earlier-then-later: input order.
            prop_assert_eq!(&g, &groups, "{:?}", schedule);
            prop_assert_eq!(&bh, &by_hash, "{:?}", schedule);
            prop_assert_eq!(&s, &seen, "{:?}", schedule);
            prop_assert_eq!(&o, &ordered, "{:?}", schedule);
            prop_assert_eq!(&n, &nested, "{:?}", schedule);
        }
    }

    #[test]
    fn user_functions_fold_in_input_order((xs, limit, batch) in inputs()) {
        let mut total = 5u64;
        let mut words = String::from(">");
        let mut multiplied = Product(3);
        for x in &xs {
            total = wrapping_add(total, u64::from(*x) << 32);
            words = concat(words, format!("{}.", x % 1000));
            multiplied = wrapping_mul(multiplied, Product(u64::from(*x) | 1));
        }
        for schedule in SCHEDULES {
            let mut t = 5u64;
            let mut w = String::from(">");
            let mut m = Product(3);
            par_with_schedule!(schedule, limit = limit, batch = batch,
                reduce(t: wrapping_add, w: concat, m: wrapping_mul); for x in &xs {
                t = wrapping_add(t, u64::from(*x) << 32);
                w = concat(w, format!("{}.", x % 1000));
                m = wrapping_mul(m, Product(u64::from(*x) | 1));
            });
            prop_assert_eq!(t, total, "{:?}", schedule);
            prop_assert_eq!(&w, &words, "{:?}", schedule);
            prop_assert_eq!(m, multiplied, "{:?}: a path operator's identity is its Default", schedule);
        }
    }

    #[test]
    fn float_sums_agree_up_to_reassociation((xs, limit, batch) in inputs()) {
        let sequential: f64 = xs.iter().map(|x| f64::from(*x) * 0.001).sum();
        for schedule in SCHEDULES {
            let mut total = 0.0f64;
            par_with_schedule!(schedule, limit = limit, batch = batch,
                reduce(total: +); for x in &xs {
                total += f64::from(*x) * 0.001;
            });
            let tolerance = 1e-9 * sequential.abs().max(1.0);
            prop_assert!((total - sequential).abs() <= tolerance,
                "{:?}: {} vs {}", schedule, total, sequential);
        }
    }

    #[test]
    fn ordered_collect_equals_map_collect((xs, limit, batch) in inputs()) {
        let expected: Vec<u64> = xs.iter().map(|x| u64::from(*x) * 3 + 1).collect();
        let chars: String = xs.iter().map(|x| char::from(b'a' + (x % 26) as u8)).collect();
        for schedule in SCHEDULES {
            let got: Vec<u64> = par_with_schedule!(schedule, limit = limit, batch = batch;
                for x in &xs => u64::from(*x) * 3 + 1);
            prop_assert_eq!(&got, &expected, "{:?}", schedule);

            let got: String = par_with_schedule!(schedule, limit = limit, batch = batch;
                for x in &xs => char::from(b'a' + (x % 26) as u8));
            prop_assert_eq!(&got, &chars, "{:?}", schedule);

            // Items that are not `Copy`.
            let got: Vec<String> = par_with_schedule!(schedule, limit = limit, batch = batch;
                for x in xs.iter() => x.to_string());
            prop_assert_eq!(got, xs.iter().map(|x| x.to_string()).collect::<Vec<_>>(), "{:?}", schedule);

            // Owned and pulled inputs collect in order too.
            let got: Vec<u64> = par_with_schedule!(schedule, limit = limit, batch = batch;
                for x in xs.clone() => u64::from(x) * 3 + 1);
            prop_assert_eq!(&got, &expected, "{:?}, owned", schedule);
            let got: Vec<u64> = par_with_schedule!(schedule, limit = limit, batch = batch;
                for x in xs.iter().copied() => u64::from(x) * 3 + 1);
            prop_assert_eq!(&got, &expected, "{:?}, pulled", schedule);
        }
    }

    #[test]
    fn enumerate_gives_input_positions((xs, limit, batch) in inputs()) {
        let pairs: Vec<(usize, u32)> = xs.iter().copied().enumerate().collect();
        let weighted: u64 = pairs.iter().map(|(i, x)| *i as u64 * u64::from(*x)).sum();
        for schedule in SCHEDULES {
            let got: Vec<(usize, u32)> = par_with_schedule!(schedule, limit = limit, batch = batch;
                for (i, x) in xs.iter().enumerate() => (i, *x));
            prop_assert_eq!(&got, &pairs, "{:?}", schedule);

            let mut w = 0u64;
            par_with_schedule!(schedule, limit = limit, batch = batch,
                reduce(w: +); for (i, x) in xs.iter().enumerate() {
                w += i as u64 * u64::from(*x);
            });
            prop_assert_eq!(w, weighted, "{:?}", schedule);

            // `enumerate` over a pulled input counts positions in the input as well.
            let got: Vec<(usize, u32)> = par_with_schedule!(schedule, limit = limit, batch = batch;
                for (i, x) in xs.iter().copied().filter(|_| true).enumerate() => (i, x));
            prop_assert_eq!(&got, &pairs, "{:?}, pulled", schedule);

            // Owned and enumerated, into an `append`.
            let mut q = Vec::new();
            par_with_schedule!(schedule, limit = limit, batch = batch, reduce(q: append);
                for (i, x) in xs.clone().into_iter().enumerate() {
                    if x % 3 == 0 {
                        q.push((i, x));
                    }
                });
            let thirds: Vec<(usize, u32)> = pairs.iter().copied().filter(|(_, x)| x % 3 == 0).collect();
            prop_assert_eq!(&q, &thirds, "{:?}, owned", schedule);
        }
    }

    #[test]
    fn with_state_gives_the_sequential_answer((xs, limit, batch) in inputs()) {
        let mut digits = 0usize;
        let mut lines = Vec::new();
        let mut buf = String::new();
        for x in &xs {
            buf.clear();
            buf.push_str(&x.to_string());
            digits += buf.bytes().filter(|b| *b == b'7').count();
            lines.push(format!("<{x}>"));
        }
        for schedule in SCHEDULES {
            let mut d = 0usize;
            let mut got = Vec::new();
            par_with_schedule!(schedule, limit = limit, batch = batch,
                with(buf = String::new(), line = String::new()), reduce(d: +, got: append); for x in &xs {
                buf.clear();
                buf.push_str(&x.to_string());
                d += buf.bytes().filter(|b| *b == b'7').count();
                line.clear();
                line.push('<');
                line.push_str(buf.as_str());
                line.push('>');
                got.push(line.clone());
            });
            prop_assert_eq!(d, digits, "{:?}", schedule);
            prop_assert_eq!(&got, &lines, "{:?}", schedule);
        }
    }

    #[test]
    fn attribute_functions_equal_the_sequential_loop((xs, limit, batch) in inputs()) {
        let expected = summarise_sequentially(&xs);
        for (schedule, f) in ATTRIBUTE_FNS {
            prop_assert_eq!(&f(&xs, limit, batch), &expected, "{}", schedule);
        }
    }
}

/// What the `summarise_*` functions compute.
#[derive(Debug, PartialEq)]
struct Summary {
    sum: u64,
    low: u32,
    high: u32,
    evens: Vec<u32>,
    counts: BTreeMap<u32, u64>,
    text: String,
}

macro_rules! attribute_fns {
    ($($schedule:tt => $name:ident;)*) => {
        $(
            #[bounded(limit = limit, batch = batch, schedule = $schedule,
                reduce(sum: +, low: min, high: max, evens: append, counts: merge, text: concat))]
            fn $name(xs: &[u32], limit: usize, batch: usize) -> Summary {
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
                Summary { sum, low, high, evens, counts, text }
            }
        )*

        /// Every operator kind as `#[bounded]` functions, one per schedule.
        type AttributeFn = fn(&[u32], usize, usize) -> Summary;

        const ATTRIBUTE_FNS: &[(&str, AttributeFn)] = &[$((stringify!($schedule), $name)),*];
    };
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

attribute_fns! {
    dynamic => summarise_dynamic;
    static => summarise_static;
    guided => summarise_guided;
    steal => summarise_steal;
}

#[test]
fn batch_auto_equals_the_sequential_loop() {
    for n in [0usize, 1, 2, 15, 16, 17, 1000, 4099] {
        let xs: Vec<u64> = (0..n as u64).map(|x| x * 7919 % 1013).collect();
        for limit in 1..=6 {
            let mut order = Vec::new();
            let mut sum = 0;
            par_bounded!(limit = limit, batch = auto, reduce(order: append, sum: +); for x in &xs {
                order.push(*x);
                sum += x;
            });
            assert_eq!(order, xs, "n {n}, limit {limit}");
            assert_eq!(sum, xs.iter().sum::<u64>());
        }
    }
}
