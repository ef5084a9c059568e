use bounded::bounded;

#[bounded(limit = 4)]
struct Jobs {
    items: Vec<u64>,
}

fn main() {}
