use bounded::par_bounded;

fn main() {
    let xs = vec![1, 2, 3];
    let per_second = 50u32;
    par_bounded!(limit = 2, rate = per_second; for x in &xs { println!("{x}"); });
}
