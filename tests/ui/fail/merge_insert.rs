use bounded::bounded;
use std::collections::HashMap;

#[bounded(limit = 2, batch = 1, reduce(last_seen: merge))]
fn last_seen(events: &[(u32, u64)]) -> HashMap<u32, u64> {
    let mut last_seen = HashMap::new();
    for (user, ts) in events {
        last_seen.insert(*user, *ts);
    }
    last_seen
}

fn main() {
    last_seen(&[(1, 100), (2, 150), (1, 200), (1, 300)]);
}
