use bounded::gate;

#[gate(name = "render")]
fn render(page: u32) -> String {
    page.to_string()
}

fn main() {
    let _ = render(1);
}
