use bounded::bounded;

#[bounded(limit = 4)]
#[bounded(batch = 8)]
fn show(xs: &[u64]) {
    for x in xs {
        println!("{x}");
    }
}

fn main() {
    show(&[1]);
}
