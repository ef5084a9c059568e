use bounded::bounded;

#[bounded(limit = 4)]
fn fetch(url: &str) -> usize {
    url.len()
}

fn main() {
    fetch("x");
}
