use bounded::bounded;

#[bounded(limit = 4, rate = 50 / h)]
fn f(xs: &[u64]) {
    for x in xs {
        println!("{x}");
    }
}

fn main() {
    f(&[1]);
}
