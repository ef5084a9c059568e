use bounded::bounded;

#[derive(Debug, Default)]
struct Tally(u64);

impl std::ops::Add for Tally {
    type Output = Tally;
    fn add(self, other: Tally) -> Tally {
        Tally(self.0 + other.0)
    }
}

#[bounded(backend = timely, reduce(tally: +))]
fn tally(n: u64) -> Tally {
    let mut tally = Tally::default();
    for x in 0..n {
        tally = tally + Tally(x);
    }
    tally
}

fn main() {
    println!("{:?}", tally(10));
}
