use bounded::bounded;

async fn fetch(x: u64) -> u64 {
    x
}

#[bounded(limit = 8, schedule = static)]
async fn fetch_all(xs: &[u64]) {
    for x in xs {
        fetch(*x).await;
    }
}

fn main() {
    let _ = fetch_all(&[1]);
}
