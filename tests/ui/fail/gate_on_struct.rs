use bounded::gate;

#[gate(limit = 2)]
struct Client;

fn main() {}
