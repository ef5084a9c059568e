use bounded::bounded;
use std::collections::HashMap;

#[bounded(limit = 2, reduce(counts: extend))]
fn counts(words: &[&str]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for word in words {
        *counts.entry(word.to_string()).or_insert(0) += 1;
    }
    counts
}

fn main() {
    counts(&["a"]);
}
