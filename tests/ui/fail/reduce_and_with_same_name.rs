use bounded::bounded;

#[bounded(with(total = 0u64), reduce(total: +))]
fn f(xs: &[u64]) {
    for x in xs {
        *total += x;
    }
}

fn main() {
    f(&[1]);
}
