use bounded::bounded;

#[bounded(backend = pool, limit = 4, queue = 2, on_full = reject)]
fn send_all(msgs: &[String]) {
    for m in msgs {
        println!("{m}");
    }
}

fn main() {
    send_all(&[]);
}
