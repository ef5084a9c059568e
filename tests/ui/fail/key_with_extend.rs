use bounded::par_bounded;
use std::collections::HashMap;

fn main() {
    let orders = vec![(1u32, "a"), (2, "b")];
    let mut latest = HashMap::new();
    par_bounded!(backend = pool, limit = 4, key = order.0 % 2, reduce(latest: extend); for order in &orders {
        latest.insert(order.1, order.0);
    });
    println!("{latest:?}");
}
