use bounded::par_bounded;

static SHARED: std::sync::LazyLock<bounded::Pool> = std::sync::LazyLock::new(|| bounded::Pool::builder().build().unwrap());

fn main() {
    let _ = &SHARED;
    let mut total = 0u64;
    par_bounded!(backend = timely, limit = 2, timeout = 5s, reduce(total: +); for x in 0..100u64 { total += x; });
    println!("{total}");
}
