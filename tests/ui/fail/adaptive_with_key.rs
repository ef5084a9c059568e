use bounded::par_bounded;

fn main() {
    let xs = vec![1, 2, 3];
    par_bounded!(backend = pool, limit = adaptive(max = 64), key = *x % 2; for x in &xs { println!("{x}"); });
}
