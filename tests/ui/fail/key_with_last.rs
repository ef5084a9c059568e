use bounded::par_bounded;

fn main() {
    let orders = vec![(1u32, "a"), (2, "b")];
    let mut newest = "";
    par_bounded!(backend = pool, limit = 4, key = order.0, reduce(newest: last); for order in &orders {
        newest = order.1;
    });
    println!("{newest}");
}
