//! `break`, `return` and labelled breaks in parallel loop bodies compile, on every
//! backend, with the sequential meaning.
use bounded::{bounded, par_bounded};

#[bounded(limit = 4)]
fn first_above(xs: &[u64], bound: u64) -> u64 {
    for x in xs {
        if *x > bound {
            return *x;
        }
    }
    0
}

#[bounded(limit = 4, backend = pool)]
fn print_until(xs: &[u64]) {
    for x in xs {
        if *x > 10 {
            break;
        }
        println!("{x}");
    }
}

#[bounded(limit = 2)]
async fn first_even(xs: Vec<u64>) -> Option<u64> {
    for x in xs {
        std::future::ready(()).await;
        if x % 2 == 0 {
            return Some(x);
        }
    }
    None
}

fn main() {
    assert_eq!(first_above(&[1, 20, 30], 10), 20);
    print_until(&[1, 2, 30]);
    assert_eq!(futures::executor::block_on(first_even(vec![1, 3, 4, 6])), Some(4));
    let rows = vec![vec![1, 2], vec![3]];
    let mut seen = 0u32;
    par_bounded!(limit = 2, reduce(seen: +); 'rows: for row in &rows {
        for x in row {
            if *x == 2 {
                break 'rows;
            }
            seen += 1;
        }
    });
    assert_eq!(seen, 1);
}
