use bounded::bounded;

#[bounded(limit = 4)]
fn double(xs: &mut [u64]) {
    for i in 0..xs.len() {
        xs[i] *= 2;
    }
}

fn main() {
    double(&mut [1]);
}
