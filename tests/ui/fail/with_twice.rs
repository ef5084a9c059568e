use bounded::par_bounded;

fn main() {
    let xs = vec![1u64, 2, 3];
    par_bounded!(limit = 2, with(buf = String::new(), buf = Vec::<u8>::new()); for x in &xs {
        println!("{x} {}", buf.len());
    });
}
