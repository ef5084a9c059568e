use bounded::par_bounded;

fn main() {
    let xs = vec![1, 2, 3];
    par_bounded!(limit = 4, batch = 2, limit = 8; for x in &xs { println!("{x}"); });
}
