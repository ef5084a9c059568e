use bounded::bounded;

#[derive(Debug)]
struct Invalid(u64);

#[bounded(backend = timely, reduce(total: +))]
fn checked_total(n: u64) -> Result<u64, Invalid> {
    let mut total = 0;
    for x in 0..n {
        if x == 13 {
            Err(Invalid(x))?;
        }
        total += x;
    }
    Ok(total)
}

fn main() {
    println!("{:?}", checked_total(10));
}
