use bounded::bounded;

#[bounded(limit = 4, timeout = 2s)]
fn crunch(xs: &[u64]) {
    for x in xs {
        std::hint::black_box(x);
    }
}

fn main() {
    crunch(&[]);
}
