use bounded::bounded;
use std::collections::HashSet;

#[bounded(limit = 2, reduce(open: extend))]
fn still_open(events: &[(u32, bool)]) -> HashSet<u32> {
    let mut open = HashSet::new();
    for (session, opened) in events {
        if *opened {
            open.insert(*session);
        } else {
            open.remove(session);
        }
    }
    open
}

fn main() {
    still_open(&[(1, true), (1, false)]);
}
