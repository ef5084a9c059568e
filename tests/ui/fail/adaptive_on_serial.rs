use bounded::bounded;

#[bounded(backend = serial, limit = adaptive(max = 64))]
fn each(xs: &[u32]) {
    for x in xs {
        println!("{x}");
    }
}

fn main() {
    each(&[1, 2, 3]);
}
