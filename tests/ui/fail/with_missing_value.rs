use bounded::bounded;

#[bounded(with(buf))]
fn f(xs: &[u64]) {
    for x in xs {
        println!("{x}");
    }
}

fn main() {
    f(&[1]);
}
