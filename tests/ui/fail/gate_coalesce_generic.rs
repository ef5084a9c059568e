use bounded::gate;

#[gate(limit = 4, coalesce)]
fn parse<T: std::str::FromStr + Clone>(text: &str) -> Option<T> {
    text.parse().ok()
}

fn main() {
    let _ = parse::<u32>("1");
}
