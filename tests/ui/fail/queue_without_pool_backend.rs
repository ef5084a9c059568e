use bounded::par_bounded;

fn main() {
    let xs = vec![1, 2, 3];
    par_bounded!(limit = 2, queue = 8, on_full = drop; for x in &xs { println!("{x}"); });
}
