use bounded::par_bounded;

fn main() {
    let xs = vec![1, 2, 3];
    par_bounded!(backend = pool, limit = adaptive(max = 8, min = 16); for x in &xs { println!("{x}"); });
}
