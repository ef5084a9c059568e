use bounded::gate;

#[gate(coalesce)]
fn numbers(n: u32) -> impl Iterator<Item = u32> {
    0..n
}

fn main() {
    let _ = numbers(3);
}
