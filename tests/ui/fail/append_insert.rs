use bounded::bounded;

#[bounded(limit = 2, reduce(out: append))]
fn reversed(xs: &[u64]) -> Vec<u64> {
    let mut out = Vec::new();
    for x in xs {
        out.insert(0, *x);
    }
    out
}

fn main() {
    reversed(&[1, 2]);
}
