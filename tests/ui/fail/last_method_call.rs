use bounded::bounded;

#[bounded(limit = 2, reduce(names: last))]
fn names(xs: &[u64]) -> Vec<String> {
    let mut names = Vec::new();
    for x in xs {
        names.push(x.to_string());
    }
    names
}

fn main() {
    names(&[1]);
}
