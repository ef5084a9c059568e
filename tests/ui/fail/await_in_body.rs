use bounded::bounded;

async fn fetch(x: u64) -> u64 {
    x
}

#[bounded(limit = 4)]
async fn f(xs: &[u64]) {
    for x in xs {
        fetch(*x).await;
    }
}

fn main() {
    let _ = f(&[1]);
}
