use bounded::par_bounded;

fn f(xs: &[u64]) -> Vec<u64> {
    let out: Vec<u64> = par_bounded!(for x in xs => if *x > 1 { return Vec::new() } else { *x });
    out
}

fn main() {
    f(&[1]);
}
