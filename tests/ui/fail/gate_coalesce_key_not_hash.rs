use bounded::gate;

#[derive(Clone, PartialEq)]
struct Query {
    text: String,
}

#[gate(coalesce)]
fn search(query: Query) -> Vec<String> {
    vec![query.text]
}

fn main() {
    let _ = search(Query { text: String::new() });
}
