use bounded::bounded;

#[bounded(limit = 4)]
fn f(xs: &[u64]) {
    for x in xs {
        if *x > 10 {
            break;
        }
        println!("{x}");
    }
}

fn main() {
    f(&[1]);
}
