use bounded::bounded;

#[bounded(limit = 4)]
fn f(xs: &[u64]) {
    #[serial]
    for x in xs {
        println!("{x}");
    }
}

fn main() {
    f(&[1]);
}
