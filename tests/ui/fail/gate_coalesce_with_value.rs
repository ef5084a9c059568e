use bounded::gate;

#[gate(coalesce = true)]
fn lookup(id: u64) -> u64 {
    id
}

fn main() {
    let _ = lookup(1);
}
