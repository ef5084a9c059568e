use bounded::par_bounded;

fn main() {
    let xs = vec![1, 2, 3];
    par_bounded!(backend = pool, limit = 4, schedule = steal; for x in &xs { println!("{x}"); });
}
