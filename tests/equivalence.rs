//! The result equals the sequential loop's: for random inputs, limits, batch sizes and
//! every schedule, each `reduce` operator, the ordered collect form, `.enumerate()`
//! inputs and `with` state give exactly what the plain `for` loop gives (floats: up to
//! reassociation).

use bounded::config::Schedule;
use bounded::reduce::Merge;
use bounded::{bounded, par_bounded};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::num::Wrapping;

const SCHEDULES: [Schedule; 4] = [
    Schedule::Dynamic,
    Schedule::Static,
    Schedule::Guided,
    Schedule::Steal,
];

/// `par_bounded!` with the schedule picked at run time (the option itself is a literal).
macro_rules! par_with_schedule {
    ($schedule:expr, $($rest:tt)*) => {
        match $schedule {
            Schedule::Dynamic => par_bounded!(schedule = dynamic, $($rest)*),
            Schedule::Static => par_bounded!(schedule = static, $($rest)*),
            Schedule::Guided => par_bounded!(schedule = guided, $($rest)*),
            Schedule::Steal => par_bounded!(schedule = steal, $($rest)*),
        }
    };
}

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

fn concat(a: String, b: String) -> String {
    a + &b
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
        let (mut sum, mut product) = (17u64, Wrapping(3u64));
        let (mut and, mut or, mut xor) = (0xdead_beef_u32, 0x10_u32, 0x5555_u32);
        for x in &xs {
            sum += u64::from(*x);
            product *= Wrapping(u64::from(*x) | 1);
            and &= *x | 0x0f0f;
            or |= *x & 0xf0f0_0000;
            xor ^= *x;
        }
        for schedule in SCHEDULES {
            let (mut s, mut p) = (17u64, Wrapping(3u64));
            let (mut a, mut o, mut x_) = (0xdead_beef_u32, 0x10_u32, 0x5555_u32);
            par_with_schedule!(schedule, limit = limit, batch = batch,
                reduce(s: +, p: *, a: &, o: |, x_: ^); for x in &xs {
                s += u64::from(*x);
                p *= Wrapping(u64::from(*x) | 1);
                a &= *x | 0x0f0f;
                o |= *x & 0xf0f0_0000;
                x_ ^= *x;
            });
            prop_assert_eq!((s, p, a, o, x_), (sum, product, and, or, xor), "{:?}", schedule);
        }
    }

    #[test]
    fn logic_and_extremes((xs, limit, batch) in inputs()) {
        let (mut all, mut any) = (true, false);
        let (mut lo, mut hi) = (u32::MAX - 5, 10u32);
        let (mut flo, mut fhi) = (f64::INFINITY, -1.0f64);
        let mut ilo = 0i64;
        for x in &xs {
            all = all && x % 11 != 3;
            any = any || x % 1009 == 7;
            lo = lo.min(*x);
            hi = hi.max(*x);
            let f = f64::from(*x) / 7.0 - 1e8;
            flo = flo.min(f);
            fhi = fhi.max(f);
            ilo = ilo.min(i64::from(*x) - (1 << 31));
        }
        for schedule in SCHEDULES {
            let (mut al, mut an) = (true, false);
            let (mut l, mut h) = (u32::MAX - 5, 10u32);
            let (mut fl, mut fh) = (f64::INFINITY, -1.0f64);
            let mut il = 0i64;
            par_with_schedule!(schedule, limit = limit, batch = batch,
                reduce(al: &&, an: ||, l: min, h: max, fl: min, fh: max, il: min); for x in &xs {
                al = al && x % 11 != 3;
                an = an || x % 1009 == 7;
                l = l.min(*x);
                h = h.max(*x);
                let f = f64::from(*x) / 7.0 - 1e8;
                fl = fl.min(f);
                fh = fh.max(f);
                il = il.min(i64::from(*x) - (1 << 31));
            });
            prop_assert_eq!((al, an, l, h, il), (all, any, lo, hi, ilo), "{:?}", schedule);
            prop_assert_eq!(fl.to_bits(), flo.to_bits(), "{:?}", schedule);
            prop_assert_eq!(fh.to_bits(), fhi.to_bits(), "{:?}", schedule);
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
        let mut seen: HashSet<u32> = HashSet::new();
        let mut ordered: BTreeSet<u32> = BTreeSet::from([u32::MAX]);
        let mut nested: HashMap<u32, HashMap<u32, u64>> = HashMap::new();
        for x in &xs {
            *counts.entry(x % 17).or_insert(0) += 1;
            groups.entry(x % 5).or_default().push(*x);
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
            let mut s: HashSet<u32> = HashSet::new();
            let mut o: BTreeSet<u32> = BTreeSet::from([u32::MAX]);
            let mut n: HashMap<u32, HashMap<u32, u64>> = HashMap::new();
            par_with_schedule!(schedule, limit = limit, batch = batch,
                reduce(c: merge, g: merge, s: merge, o: merge, n: merge); for x in &xs {
                *c.entry(x % 17).or_insert(0) += 1;
                g.entry(x % 5).or_default().push(*x);
                s.insert(x % 1000);
                o.insert(x % 300);
                *n.entry(x % 3).or_default().entry(x % 7).or_insert(0) += u64::from(*x);
            });
            prop_assert_eq!(&c, &counts, "{:?}", schedule);
            prop_assert_eq!(&g, &groups, "{:?}", schedule);
            prop_assert_eq!(&s, &seen, "{:?}", schedule);
            prop_assert_eq!(&o, &ordered, "{:?}", schedule);
            prop_assert_eq!(&n, &nested, "{:?}", schedule);
        }
    }

    #[test]
    fn user_functions_fold_in_input_order((xs, limit, batch) in inputs()) {
        let mut total = 5u64;
        let mut words = String::from(">");
        for x in &xs {
            total = wrapping_add(total, u64::from(*x) << 32);
            words = concat(words, format!("{}.", x % 1000));
        }
        for schedule in SCHEDULES {
            let mut t = 5u64;
            let mut w = String::from(">");
            par_with_schedule!(schedule, limit = limit, batch = batch,
                reduce(t: wrapping_add, w: concat); for x in &xs {
                t = wrapping_add(t, u64::from(*x) << 32);
                w = concat(w, format!("{}.", x % 1000));
            });
            prop_assert_eq!(t, total, "{:?}", schedule);
            prop_assert_eq!(&w, &words, "{:?}", schedule);
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
        }
    }

    #[test]
    fn with_state_gives_the_sequential_answer((xs, limit, batch) in inputs()) {
        let mut digits = 0usize;
        let mut buf = String::new();
        for x in &xs {
            buf.clear();
            buf.push_str(&x.to_string());
            digits += buf.bytes().filter(|b| *b == b'7').count();
        }
        for schedule in SCHEDULES {
            let mut d = 0usize;
            par_with_schedule!(schedule, limit = limit, batch = batch,
                with(buf = String::new()), reduce(d: +); for x in &xs {
                buf.clear();
                buf.push_str(&x.to_string());
                d += buf.bytes().filter(|b| *b == b'7').count();
            });
            prop_assert_eq!(d, digits, "{:?}", schedule);
        }
    }

    #[test]
    fn attribute_functions_equal_the_sequential_loop((xs, limit, batch) in inputs()) {
        let sum: u64 = xs.iter().map(|x| u64::from(*x)).sum();
        let odd: Vec<u32> = xs.iter().copied().filter(|x| x % 2 == 1).collect();
        for (schedule, f) in ATTRIBUTE_FNS {
            prop_assert_eq!(f(&xs, limit, batch), (sum, odd.clone()), "{}", schedule);
        }
    }
}

macro_rules! attribute_fns {
    ($($schedule:tt => $name:ident;)*) => {
        $(
            #[bounded(limit = limit, batch = batch, schedule = $schedule, reduce(sum: +, odd: append))]
            fn $name(xs: &[u32], limit: usize, batch: usize) -> (u64, Vec<u32>) {
                let mut sum = 0;
                let mut odd = Vec::new();
                for x in xs {
                    sum += u64::from(*x);
                    if x % 2 == 1 {
                        odd.push(*x);
                    }
                }
                (sum, odd)
            }
        )*

        /// A sum and an `append` as `#[bounded]` functions, one per schedule.
        type AttributeFn = fn(&[u32], usize, usize) -> (u64, Vec<u32>);

        const ATTRIBUTE_FNS: &[(&str, AttributeFn)] = &[$((stringify!($schedule), $name)),*];
    };
}

attribute_fns! {
    dynamic => sum_dynamic;
    static => sum_static;
    guided => sum_guided;
    steal => sum_steal;
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
