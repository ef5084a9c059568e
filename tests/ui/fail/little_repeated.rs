use bounded::par_bounded;

fn main() {
    let xs = vec![1u64, 2, 3];
    par_bounded!(backend = pool, limit = little(rate = 5, rate = 6, latency = 1s); for x in &xs { println!("{x}"); });
}
