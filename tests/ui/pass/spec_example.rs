//! The README's first example, as a user writes it.
use bounded::bounded;

#[bounded(limit = 8, batch = 256, reduce(total: +))]
fn total_len(lines: &[String]) -> usize {
    let mut total = 0;
    for line in lines {
        total += line.len();
    }
    total
}

fn main() {
    let lines: Vec<String> = (0..1000).map(|i| format!("line {i}")).collect();
    assert_eq!(total_len(&lines), lines.iter().map(String::len).sum::<usize>());
}
