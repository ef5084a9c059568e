use bounded::bounded;

#[bounded(limit = 4)]
fn largest(xs: &[u64]) -> u64 {
    let mut largest = 0;
    for x in xs {
        largest = largest.max(*x);
    }
    largest
}

fn main() {
    largest(&[1]);
}
