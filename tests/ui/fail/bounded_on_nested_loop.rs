use bounded::bounded;

#[bounded(limit = 4)]
fn f(rows: &[Vec<u64>]) {
    for row in rows {
        #[bounded(limit = 2)]
        for x in row {
            println!("{x}");
        }
    }
}

fn main() {
    f(&[]);
}
