use bounded::par_bounded;

fn f(xs: &[&str]) -> Result<(), std::num::ParseIntError> {
    par_bounded!(keep_going = true; for x in xs { x.parse::<u64>()?; });
    Ok(())
}

fn main() {
    f(&["1"]).unwrap();
}
