use bounded::gate;

#[gate(limit = 2, batch = 8)]
fn log(line: &str) {
    println!("{line}");
}

fn main() {
    log("x");
}
