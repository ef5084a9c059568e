use bounded::par_bounded;

fn main() {
    let xs = vec![1, 2, 3];
    par_bounded!(limit = adaptive(max = 64); for x in &xs { println!("{x}"); });
}
