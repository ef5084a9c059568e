use bounded::bounded;

#[bounded(limit = 4)]
fn f(xs: &[u64]) -> u64 {
    for x in xs {
        if *x > 10 {
            return *x;
        }
    }
    0
}

fn main() {
    f(&[1]);
}
