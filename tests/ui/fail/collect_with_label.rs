use bounded::par_bounded;

fn main() {
    let xs = vec![1u64, 2, 3];
    let v: Vec<u64> = par_bounded!(limit = 2; 'items: for x in &xs => x * 2);
    println!("{v:?}");
}
