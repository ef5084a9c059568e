use bounded::par_bounded;

fn main() {
    let orders = vec![(1u32, "a"), (2, "b")];
    par_bounded!(backend = pool, limit = 4, key = order.0, on_full = caller_runs; for order in &orders {
        println!("{}", order.1);
    });
}
