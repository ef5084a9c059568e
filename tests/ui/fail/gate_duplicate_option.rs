use bounded::gate;

#[gate(limit = 2, limit = 4)]
fn call(x: u32) -> u32 {
    x
}

fn main() {
    let _ = call(1);
}
