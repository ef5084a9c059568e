use bounded::{par_bounded, Pool};
use std::sync::LazyLock;

static IO: LazyLock<Pool> = LazyLock::new(|| Pool::builder().build().unwrap());

async fn fetch(x: u64) -> u64 {
    x
}

async fn fetch_all(xs: &[u64]) {
    par_bounded!(limit = 8, pool = IO; for x in xs {
        fetch(*x).await;
    });
}

fn main() {
    let _ = fetch_all(&[1]);
}
