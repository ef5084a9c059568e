use bounded::gate;

#[gate(limit = 2, on_full = drop)]
fn log(line: &str) {
    println!("{line}");
}

fn main() {
    log("x");
}
