use bounded::bounded;

#[bounded(backend = timely)]
fn first_square_above(n: u64, above: u64) -> Option<u64> {
    for x in 0..n {
        if x * x > above {
            return Some(x);
        }
    }
    None
}

fn main() {
    println!("{:?}", first_square_above(100, 50));
}
