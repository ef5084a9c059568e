use bounded::par_bounded;

fn main() {
    let xs = vec![1, 2, 3];
    par_bounded!(backend = pool, limit = 2, on_full = wait; for x in &xs { println!("{x}"); });
}
