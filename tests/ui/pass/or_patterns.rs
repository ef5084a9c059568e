//! Or-patterns as the loop pattern, with and without a leading `|`: valid in a `for`
//! loop, so valid in a parallel one (found by the front-end fuzzer).
use bounded::prelude::*;

#[bounded(limit = 2, reduce(total: +))]
fn sum_either(xs: &[Result<u64, u64>]) -> u64 {
    let mut total = 0;
    for Ok(x) | Err(x) in xs {
        total += x;
    }
    total
}

fn main() {
    let xs: Vec<Result<u64, u64>> = (0..10)
        .map(|i| if i % 2 == 0 { Ok(i) } else { Err(i) })
        .collect();
    assert_eq!(sum_either(&xs), 45);

    let users = vec![1u64, 2, 3];
    let seen = std::sync::atomic::AtomicU64::new(0);
    par_bounded!(limit = 2, batch = 1; for | user in &users {
        seen.fetch_add(*user, std::sync::atomic::Ordering::Relaxed);
    });
    assert_eq!(seen.into_inner(), 6);

    let doubled: Vec<u64> =
        par_bounded!(limit = 2; for Ok(x) | Err(x) in xs.iter().copied() => x * 2);
    assert_eq!(doubled, (0..10).map(|i| i * 2).collect::<Vec<_>>());
}
