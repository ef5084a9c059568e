use bounded::bounded;

#[bounded(limit = 2, reduce(previous: last))]
fn rising(xs: &[u64]) -> u64 {
    let mut previous = 0;
    for x in xs {
        if *x > previous {
            previous = *x;
        }
    }
    previous
}

fn main() {
    rising(&[1]);
}
