use bounded::bounded;

#[bounded(limit = 4)]
fn f(xs: &[u64], ys: &[u64]) {
    #[serial]
    #[bounded(limit = 2)]
    for x in xs {
        println!("{x}");
    }
    for y in ys {
        println!("{y}");
    }
}

fn main() {
    f(&[], &[]);
}
