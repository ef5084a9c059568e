use bounded::bounded;

#[bounded(limit = 2, reduce(largest: +, total: max))]
fn scan(xs: &[u64]) -> (u64, u64) {
    let mut largest = 0;
    let mut total = 0;
    for x in xs {
        largest = largest.max(*x);
        total += x;
    }
    (largest, total)
}

fn main() {
    scan(&[1]);
}
