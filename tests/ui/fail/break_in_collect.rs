use bounded::par_bounded;

fn main() {
    let xs = vec![1u64, 2, 3];
    let firsts: Vec<u64> = par_bounded!(limit = 2; for x in &xs => {
        if *x > 1 {
            break;
        }
        *x
    });
    println!("{firsts:?}");
}
