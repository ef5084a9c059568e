use bounded::par_bounded;

fn main() {
    let mut total = 0u64;
    par_bounded!(backend = timely, reduce(total: +); for x in 0..100u64 { total += x; });
    println!("{total}");
}
