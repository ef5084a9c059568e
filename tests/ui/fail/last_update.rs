use bounded::bounded;

#[bounded(limit = 2, reduce(total: last, count: last))]
fn sums(xs: &[u64]) -> (u64, u64) {
    let mut total = 0;
    let mut count = 0;
    for x in xs {
        total = total + x;
        count += 1;
    }
    (total, count)
}

fn main() {
    sums(&[1]);
}
