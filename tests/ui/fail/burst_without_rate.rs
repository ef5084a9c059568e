use bounded::bounded;

#[bounded(limit = 4, burst = 10)]
fn f(xs: &[u64]) {
    for x in xs {
        println!("{x}");
    }
}

fn main() {
    f(&[1]);
}
