use bounded::par_bounded;

async fn fetch(x: u64) -> u64 {
    x
}

async fn fetch_all(xs: &[u64]) {
    par_bounded!(limit = 8, queue = 4, on_full = caller_runs; for x in xs {
        fetch(*x).await;
    });
}

fn main() {
    let _ = fetch_all(&[1]);
}
