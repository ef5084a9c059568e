use bounded::bounded;
use std::error::Error;

fn parse(line: &str) -> Result<u64, Box<dyn Error>> {
    Ok(line.trim().parse()?)
}

#[bounded(limit = 4, reduce(total: +))]
fn total(lines: &[String]) -> Result<u64, Box<dyn Error>> {
    let mut total = 0;
    for line in lines {
        total += parse(line)?;
    }
    Ok(total)
}

fn main() {
    let _ = total(&[]);
}
