use bounded::bounded;
use std::collections::HashMap;

#[bounded(limit = 2, reduce(first_seen: extend))]
fn first_seen(events: &[(u32, u64)]) -> HashMap<u32, u64> {
    let mut first_seen = HashMap::new();
    for (user, ts) in events {
        first_seen.entry(*user).or_insert(*ts);
    }
    first_seen
}

fn main() {
    first_seen(&[(1, 100)]);
}
