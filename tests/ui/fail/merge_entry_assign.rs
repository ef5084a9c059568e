use bounded::bounded;
use std::collections::HashMap;

#[bounded(limit = 2, reduce(latest: merge))]
fn latest(events: &[(u32, u64)]) -> HashMap<u32, u64> {
    let mut latest = HashMap::new();
    for (user, ts) in events {
        *latest.entry(*user).or_insert(0) = *ts;
    }
    latest
}

fn main() {
    latest(&[(1, 100)]);
}
