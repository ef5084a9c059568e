use bounded::gate;

struct View<'a>(&'a str);

#[gate(coalesce)]
fn render(view: View<'_>) -> String {
    view.0.to_owned()
}

fn main() {
    let _ = render(View("x"));
}
