use bounded::par_bounded;

fn main() {
    let xs = vec![1u64, 2, 3];
    let (mut a, mut b, mut c, mut d, mut e, mut f) = (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    let (mut g, mut h, mut i, mut j, mut k, mut l) = (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    par_bounded!(limit = 2, reduce(a: +, b: +, c: +, d: +, e: +, f: +, g: +, h: +, i: +, j: +, k: +, l: +); for x in &xs {
        a += x; b += x; c += x; d += x; e += x; f += x;
        g += x; h += x; i += x; j += x; k += x; l += x;
    });
    println!("{}", a + b + c + d + e + f + g + h + i + j + k + l);
}
