use bounded::par_bounded;

fn main() {
    let orders = vec![(1u32, 10u64), (2, 20)];
    let doubled: Vec<u64> = par_bounded!(backend = pool, limit = 2, key = order.0; for order in &orders => order.1 * 2);
    println!("{doubled:?}");
}
