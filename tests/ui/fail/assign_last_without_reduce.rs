use bounded::bounded;

#[bounded(limit = 4)]
fn newest(events: &[(u32, u64)]) -> u64 {
    let mut newest = 0;
    for (_, ts) in events {
        newest = *ts;
    }
    newest
}

fn main() {
    newest(&[(1, 100)]);
}
