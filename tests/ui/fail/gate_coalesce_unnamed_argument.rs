use bounded::gate;

#[gate(coalesce)]
fn area((w, h): (u32, u32)) -> u32 {
    w * h
}

fn main() {
    let _ = area((2, 3));
}
