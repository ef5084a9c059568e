use bounded::bounded;
use std::collections::HashMap;

#[bounded(limit = 4)]
fn evens(xs: &[u64]) -> Vec<u64> {
    let mut out = Vec::new();
    for x in xs {
        if x % 2 == 0 {
            out.push(*x);
        }
    }
    out
}

#[bounded(limit = 4)]
fn index(words: &[&'static str]) -> HashMap<&'static str, usize> {
    let mut lengths = HashMap::new();
    for w in words {
        lengths.insert(*w, w.len());
    }
    lengths
}

#[bounded(limit = 4)]
fn count(words: &[&'static str]) -> HashMap<&'static str, usize> {
    let mut counts = HashMap::new();
    for w in words {
        *counts.entry(*w).or_insert(0) += 1;
    }
    counts
}

fn main() {
    evens(&[1]);
    index(&["a"]);
    count(&["a"]);
}
