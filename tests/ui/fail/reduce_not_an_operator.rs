use bounded::par_bounded;

fn main() {
    let xs = vec![1u64, 2, 3];
    let mut total = 0u64;
    par_bounded!(limit = 2, reduce(total: 42); for x in &xs { total += x; });
    println!("{total}");
}
