use bounded::par_bounded;

fn main() -> Result<(), bounded::Cancelled> {
    let xs = vec![1u64, 2, 3];
    par_bounded!(limit = 2, cancel = 5u8; for x in &xs {
        println!("{x}");
    });
    Ok(())
}
