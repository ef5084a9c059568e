use bounded::gate;

#[gate(coalesce, weight = size)]
fn load(size: usize) -> Vec<u8> {
    vec![0; size]
}

fn main() {
    let _ = load(1);
}
