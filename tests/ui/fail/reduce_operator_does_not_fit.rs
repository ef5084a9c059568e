use bounded::bounded;

#[bounded(limit = 2, reduce(names: +))]
fn shout(words: &[&str]) -> Vec<String> {
    let mut names = Vec::new();
    for w in words {
        names.push(w.to_uppercase());
    }
    names
}

fn main() {
    shout(&["a"]);
}
