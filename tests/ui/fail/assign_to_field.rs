use bounded::bounded;

struct Counter {
    hits: u64,
}

impl Counter {
    #[bounded(limit = 4)]
    fn count(&mut self, xs: &[u64]) {
        for _x in xs {
            self.hits += 1;
        }
    }
}

fn main() {
    Counter { hits: 0 }.count(&[1]);
}
