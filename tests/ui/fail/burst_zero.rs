use bounded::par_bounded;

fn main() {
    let xs = vec![1, 2, 3];
    par_bounded!(limit = 2, rate = 100 / s, burst = 0; for x in &xs { println!("{x}"); });
}
