use bounded::par_bounded;

fn main() {
    let xs = vec![1, 2, 3];
    par_bounded!(backend = pool, limit = adaptive(max = 8, initial = 32); for x in &xs { println!("{x}"); });
}
