//! The forms of the reference chapter that must compile: methods, generics, `?` through a
//! `Result` alias, the three `par_bounded!` shapes, a renamed crate path.
use bounded::prelude::*;
use std::collections::HashMap;

type Result<T> = std::result::Result<T, std::num::ParseIntError>;

struct Parser {
    base: u32,
}

impl Parser {
    #[bounded(limit = 2, batch = 4, reduce(sum: +))]
    fn sum(&self, xs: &[&str]) -> Result<u64> {
        let mut sum = 0;
        for x in xs {
            sum += u64::from_str_radix(x, self.base)?;
        }
        Ok(sum)
    }
}

#[bounded(limit = cpus, reduce(counts: merge))]
fn count<T: std::hash::Hash + Eq + Clone + Send + Sync>(xs: &[T]) -> HashMap<T, usize> {
    let mut counts = HashMap::new();
    for x in xs {
        *counts.entry(x.clone()).or_insert(0) += 1;
    }
    counts
}

mod renamed {
    pub use bounded as par;
}

fn main() {
    let p = Parser { base: 10 };
    assert_eq!(p.sum(&["1", "2", "3"]).unwrap(), 6);
    assert!(p.sum(&["1", "x"]).is_err());
    assert_eq!(count(&["a", "b", "a"])["a"], 2);

    let xs: Vec<u64> = (0..100).collect();
    par_bounded!(limit = 4, batch = 64; for x in &xs { std::hint::black_box(x); });
    par_bounded!(for x in &xs { std::hint::black_box(x); });
    let squares: Vec<u64> = par_bounded!(limit = 4; for x in &xs => x * x);
    assert_eq!(squares[3], 9);
    par_bounded!(crate = renamed::par, limit = 2; for x in &xs { std::hint::black_box(x); });
}
