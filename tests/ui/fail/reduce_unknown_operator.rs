use bounded::bounded;

#[bounded(reduce(total: Plus))]
fn f(xs: &[u64]) -> u64 {
    let mut total = 0;
    for x in xs {
        total += x;
    }
    total
}

fn main() {
    f(&[1]);
}
