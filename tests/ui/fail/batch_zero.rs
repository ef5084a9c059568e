use bounded::bounded;

#[bounded(batch = 0)]
fn f(xs: &[u64]) {
    for x in xs {
        println!("{x}");
    }
}

fn main() {
    f(&[1]);
}
