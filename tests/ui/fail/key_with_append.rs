use bounded::par_bounded;

fn main() {
    let orders = vec![(1u32, "a"), (2, "b")];
    let mut names = Vec::new();
    par_bounded!(backend = pool, limit = 4, key = order.0, reduce(names: append); for order in &orders {
        names.push(order.1);
    });
    println!("{names:?}");
}
