use bounded::bounded;

struct Line(String);

#[bounded(backend = timely, reduce(total: +))]
fn total_len(lines: std::vec::IntoIter<Line>) -> usize {
    let mut total = 0;
    for line in lines.filter(|l| !l.0.is_empty()) {
        total += line.0.len();
    }
    total
}

fn main() {
    println!("{}", total_len(vec![Line("a".into())].into_iter()));
}
