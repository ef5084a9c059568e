use bounded::gate;

#[gate(limit = 2, on_full = reject)]
fn notify(user: u64) {
    println!("{user}");
}

fn main() {
    notify(1);
}
