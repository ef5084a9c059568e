use bounded::bounded;

async fn fetch(x: u64) -> u64 {
    x
}

#[bounded(limit = 4)]
fn fetch_all(xs: &[u64]) {
    for x in xs {
        fetch(*x).await;
    }
}

fn main() {
    fetch_all(&[1]);
}
