use bounded::bounded;

#[bounded(limit = 4)]
fn total(xs: &[u64]) -> u64 {
    let mut total = 0;
    for x in xs {
        total += x;
    }
    total
}

fn main() {
    total(&[1]);
}
