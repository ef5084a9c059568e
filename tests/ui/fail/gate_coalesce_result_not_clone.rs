use bounded::gate;

struct Connection;

#[gate(coalesce)]
fn connect(host: &str) -> Connection {
    let _ = host;
    Connection
}

fn main() {
    let _ = connect("db");
}
