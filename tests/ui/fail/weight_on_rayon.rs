use bounded::par_bounded;

fn main() {
    let sizes = vec![1usize, 2, 3];
    par_bounded!(limit = 2, weight = *size; for size in &sizes {
        println!("{size}");
    });
}
