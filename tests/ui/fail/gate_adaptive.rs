use bounded::gate;

#[gate(limit = adaptive(max = 64))]
fn call(x: u32) -> u32 {
    x
}

fn main() {
    let _ = call(1);
}
