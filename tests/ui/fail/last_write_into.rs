use bounded::bounded;

#[derive(Default)]
struct Seen {
    ts: u64,
}

#[bounded(limit = 2, reduce(seen: last))]
fn seen(events: &[(u32, u64)]) -> u64 {
    let mut seen = Seen::default();
    for (_, ts) in events {
        seen.ts = *ts;
    }
    seen.ts
}

fn main() {
    seen(&[(1, 100)]);
}
