use bounded::par_bounded;

fn main() {
    let xs = vec![1u64, 2, 3];
    par_bounded!(limit = 2; for x in &xs { println!("{x}"); } extra);
}
