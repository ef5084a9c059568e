use bounded::bounded;

#[bounded(limit = 4)]
fn first_digits(xs: &[&str]) -> Option<()> {
    for x in xs {
        let _c = x.chars().next()?;
    }
    Some(())
}

fn main() {
    first_digits(&["1"]);
}
