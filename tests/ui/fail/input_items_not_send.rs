use bounded::bounded;
use std::rc::Rc;

#[bounded(limit = 2, reduce(total: +))]
fn sum(xs: Vec<Rc<u32>>) -> u32 {
    let mut total = 0;
    for x in xs {
        total += *x;
    }
    total
}

#[bounded(limit = 2, reduce(total: +))]
fn sum_shared<T: Copy + Into<u64>>(xs: &[T]) -> u64 {
    let mut total = 0;
    for x in xs {
        total += (*x).into();
    }
    total
}

#[bounded(limit = 2, reduce(total: +))]
fn sum_any(xs: impl IntoIterator<Item = u32>) -> u32 {
    let mut total = 0;
    for x in xs {
        total += x;
    }
    total
}

fn main() {
    sum(vec![Rc::new(1)]);
    sum_shared(&[1u8]);
    sum_any(vec![1]);
}
