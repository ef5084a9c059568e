use bounded::gate;

#[derive(Clone, PartialEq, Eq, Hash)]
struct Token(String);

impl Token {
    #[gate(coalesce)]
    fn refresh(self) -> String {
        self.0
    }
}

fn main() {
    let _ = Token(String::new()).refresh();
}
