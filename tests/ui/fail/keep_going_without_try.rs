use bounded::bounded;

#[bounded(limit = 4, keep_going)]
fn f(xs: &[u64]) {
    for x in xs {
        println!("{x}");
    }
}

fn main() {
    f(&[1]);
}
