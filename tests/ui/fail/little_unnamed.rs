use bounded::par_bounded;

fn main() {
    let xs = vec![1u64, 2, 3];
    par_bounded!(backend = pool, limit = little(500, 200ms); for x in &xs { println!("{x}"); });
}
