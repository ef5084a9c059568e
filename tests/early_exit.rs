//! `break` and `return` keep their sequential meaning on every backend: the loop ends
//! as if it ran sequentially and left at the first item in input order that leaves;
//! items before it run to completion, reductions exclude everything after it, and an
//! error before it in input order wins over it (the reference's early-exit rules).

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::LazyLock;

use bounded::{bounded, par_bounded, Pool};
use proptest::prelude::*;

static NAMED: LazyLock<Pool> = LazyLock::new(|| {
    Pool::builder()
        .name("early-exit")
        .workers(1..=4)
        .build()
        .unwrap()
});

/// The plain sequential answer: the sum of the items up to and including the first
/// one equal to `stop`, and whether the loop broke.
fn sequential_sum_until(xs: &[u32], stop: u32) -> (u64, bool) {
    let mut total = 0u64;
    let mut broke = false;
    for &x in xs {
        total += x as u64;
        if x == stop {
            broke = true;
            break;
        }
    }
    (total, broke)
}

fn rayon_sum_until(xs: &[u32], stop: u32, limit: usize, batch: usize) -> (u64, bool) {
    let mut total = 0u64;
    let mut broke = false;
    par_bounded!(limit = limit, batch = batch, reduce(total: +, broke: |); for &x in xs {
        total += x as u64;
        if x == stop {
            broke |= true;
            break;
        }
    });
    (total, broke)
}

fn serial_sum_until(xs: &[u32], stop: u32, batch: usize) -> (u64, bool) {
    let mut total = 0u64;
    let mut broke = false;
    par_bounded!(backend = serial, batch = batch, reduce(total: +, broke: |); for &x in xs {
        total += x as u64;
        if x == stop {
            broke |= true;
            break;
        }
    });
    (total, broke)
}

fn pool_sum_until(xs: &[u32], stop: u32, limit: usize, batch: usize) -> (u64, bool) {
    let mut total = 0u64;
    let mut broke = false;
    par_bounded!(pool = NAMED, limit = limit, batch = batch, reduce(total: +, broke: |); for &x in xs {
        total += x as u64;
        if x == stop {
            broke |= true;
            break;
        }
    });
    (total, broke)
}

fn keyed_sum_until(xs: &[u32], stop: u32, limit: usize, batch: usize) -> (u64, bool) {
    let mut total = 0u64;
    let mut broke = false;
    par_bounded!(backend = pool, limit = limit, batch = batch, key = x % 3, reduce(total: +, broke: |); for &x in xs {
        total += x as u64;
        if x == stop {
            broke |= true;
            break;
        }
    });
    (total, broke)
}

fn async_sum_until(xs: &[u32], stop: u32, limit: usize, batch: usize) -> (u64, bool) {
    futures::executor::block_on(async {
        let mut total = 0u64;
        let mut broke = false;
        par_bounded!(limit = limit, batch = batch, reduce(total: +, broke: |); for &x in xs {
            futures::future::ready(()).await;
            total += x as u64;
            if x == stop {
                broke |= true;
                break;
            }
        });
        (total, broke)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Random inputs and break positions: every backend gives the sequential answer.
    #[test]
    fn break_gives_the_sequential_answer_on_every_backend(
        xs in proptest::collection::vec(0u32..50, 0..400),
        stop in 0u32..60,
        limit in 1usize..6,
        batch in 1usize..40,
    ) {
        let want = sequential_sum_until(&xs, stop);
        prop_assert_eq!(rayon_sum_until(&xs, stop, limit, batch), want, "rayon");
        prop_assert_eq!(serial_sum_until(&xs, stop, batch), want, "serial");
        prop_assert_eq!(pool_sum_until(&xs, stop, limit, batch), want, "pool");
        prop_assert_eq!(async_sum_until(&xs, stop, limit, batch), want, "async");
        // Keyed: the sum is commutative, and "first" is by input position.
        prop_assert_eq!(keyed_sum_until(&xs, stop, limit, batch), want, "keyed");
    }
}

#[bounded(limit = 4, batch = 8)]
fn position_of_first_zero(xs: &[u8]) -> Option<usize> {
    for (i, &x) in xs.iter().enumerate() {
        if x == 0 {
            return Some(i);
        }
    }
    None
}

#[bounded(backend = pool, limit = 3, batch = 5)]
fn position_of_first_zero_on_the_pool(xs: &[u8]) -> Option<usize> {
    for (i, &x) in xs.iter().enumerate() {
        if x == 0 {
            return Some(i);
        }
    }
    None
}

#[bounded(limit = 3, batch = 4)]
async fn position_of_first_zero_async(xs: &[u8]) -> Option<usize> {
    for (i, &x) in xs.iter().enumerate() {
        futures::future::ready(()).await;
        if x == 0 {
            return Some(i);
        }
    }
    None
}

#[test]
fn return_gives_the_first_returning_item_in_input_order() {
    for seed in 0..200u64 {
        let len = (seed * 7 % 300) as usize;
        let xs: Vec<u8> = (0..len)
            .map(|i| ((i as u64 * 2654435761 + seed * 97) % 23) as u8)
            .collect();
        let want = xs.iter().position(|&x| x == 0);
        assert_eq!(position_of_first_zero(&xs), want, "rayon, seed {seed}");
        assert_eq!(
            position_of_first_zero_on_the_pool(&xs),
            want,
            "pool, seed {seed}"
        );
        let got = futures::executor::block_on(position_of_first_zero_async(&xs));
        assert_eq!(got, want, "async, seed {seed}");
    }
}

#[derive(Debug, PartialEq)]
struct Bad(usize);

#[bounded(limit = 4, batch = 3, reduce(total: +))]
fn first_bad_or_stop(xs: &[u32]) -> Result<u64, Bad> {
    let mut total = 0u64;
    for (i, &x) in xs.iter().enumerate() {
        if x == 7 {
            return Err(Bad(i));
        }
        let checked: Result<u32, Bad> = if x == 9 { Err(Bad(i)) } else { Ok(x) };
        total += checked? as u64;
        if x == 5 {
            break;
        }
    }
    Ok(total)
}

#[bounded(limit = 4, batch = 3, keep_going, reduce(total: +))]
fn keep_going_until_stop(xs: &[u32]) -> Result<u64, Bad> {
    let mut total = 0u64;
    for (i, &x) in xs.iter().enumerate() {
        let checked: Result<u32, Bad> = if x == 9 { Err(Bad(i)) } else { Ok(x) };
        total += checked? as u64;
        if x == 5 {
            break;
        }
    }
    Ok(total)
}

fn sequential_first_bad_or_stop(xs: &[u32]) -> Result<u64, Bad> {
    let mut total = 0u64;
    for (i, &x) in xs.iter().enumerate() {
        if x == 7 {
            return Err(Bad(i));
        }
        if x == 9 {
            return Err(Bad(i));
        }
        total += x as u64;
        if x == 5 {
            break;
        }
    }
    Ok(total)
}

fn sequential_keep_going_until_stop(xs: &[u32]) -> Result<u64, Bad> {
    let mut total = 0u64;
    let mut first = None;
    for (i, &x) in xs.iter().enumerate() {
        if x == 9 {
            first.get_or_insert(Bad(i));
            continue;
        }
        total += x as u64;
        if x == 5 {
            break;
        }
    }
    match first {
        Some(e) => Err(e),
        None => Ok(total),
    }
}

#[test]
fn an_error_before_the_break_wins_and_one_after_it_never_happened() {
    for seed in 0..300u64 {
        let len = (seed * 13 % 120) as usize;
        let xs: Vec<u32> = (0..len)
            .map(|i| ((i as u64 * 40503 + seed * 31) % 40) as u32)
            .collect();
        assert_eq!(
            first_bad_or_stop(&xs),
            sequential_first_bad_or_stop(&xs),
            "fail-fast, seed {seed}: {xs:?}"
        );
        assert_eq!(
            keep_going_until_stop(&xs),
            sequential_keep_going_until_stop(&xs),
            "keep_going, seed {seed}: {xs:?}"
        );
    }
}

#[test]
fn a_labelled_break_from_an_inner_loop_leaves_the_parallel_loop() {
    let rows: Vec<Vec<u32>> = (0..200)
        .map(|r| (0..10).map(|c| r * 10 + c).collect())
        .collect();
    let mut cells = 0u64;
    par_bounded!(limit = 4, batch = 7, reduce(cells: +); 'rows: for row in &rows {
        for &cell in row {
            if cell == 1234 {
                break 'rows;
            }
            cells += 1;
        }
    });
    assert_eq!(cells, 1234);
    let mut skipped = 0u64;
    par_bounded!(limit = 4, batch = 7, reduce(skipped: +); 'rows: for row in &rows {
        for &cell in row {
            if cell % 10 == 3 {
                continue 'rows;
            }
        }
        skipped += 1;
    });
    assert_eq!(skipped, 0);
}

#[test]
fn few_bodies_start_after_the_break() {
    let n = 100_000usize;
    let xs: Vec<usize> = (0..n).collect();
    for (limit, batch) in [(1, 1), (2, 16), (4, 64), (8, 256)] {
        let started_after = AtomicUsize::new(0);
        let at = n / 3;
        let mut seen = 0u64;
        par_bounded!(limit = limit, batch = batch, reduce(seen: +); for &x in &xs {
            if x > at {
                started_after.fetch_add(1, Relaxed);
            }
            seen += 1;
            if x == at {
                break;
            }
        });
        assert_eq!(seen, at as u64 + 1);
        // Only batches already running when the break was seen, and the rest of their
        // own batch, can start after it.
        let after = started_after.load(Relaxed);
        assert!(
            after <= limit * batch * 2,
            "{after} bodies started after the break (limit {limit}, batch {batch})"
        );
    }
}

#[test]
fn a_break_inside_a_closure_or_an_inner_loop_stays_there() {
    let xs: Vec<u32> = (0..500).collect();
    let mut total = 0u64;
    par_bounded!(limit = 3, batch = 9, reduce(total: +); for &x in &xs {
        let mut inner = 0u64;
        for k in 0..10u64 {
            if k == 3 {
                break;
            }
            inner += k;
        }
        let add = || {
            let mut k = 0u64;
            loop {
                if k == x as u64 % 3 {
                    break;
                }
                k += 1;
            }
            x as u64 - k
        };
        total += inner + add();
    });
    assert_eq!(total, (0..500u64).map(|x| x - x % 3).sum::<u64>() + 500 * 3);
}

/// A lane in the middle of a long batch sees another lane's `break` within a few
/// items: `checked()` looks at the cut between items, not only between batches.
#[test]
fn a_long_batch_stops_soon_after_another_lane_breaks() {
    let n = 20_000usize;
    let xs: Vec<usize> = (0..n).collect();
    let after = AtomicUsize::new(0);
    let seen_break = std::sync::atomic::AtomicBool::new(false);
    let mut seen = 0u64;
    // Two lanes of one batch each: the first breaks at once, once the second has
    // started; the second is slow and counts what it starts after the break is out.
    par_bounded!(limit = 2, batch = n / 2, reduce(seen: +); for &x in &xs {
        if x == 0 {
            let started = std::time::Instant::now();
            while after.load(Relaxed) == 0 && started.elapsed() < std::time::Duration::from_secs(5) {
                std::thread::yield_now();
            }
            seen_break.store(true, Relaxed);
            break;
        }
        if x >= n / 2 {
            if seen_break.load(Relaxed) {
                after.fetch_add(1, Relaxed);
                std::thread::sleep(std::time::Duration::from_micros(20));
            } else if after.load(Relaxed) == 0 {
                after.store(1, Relaxed);
            }
        }
        seen += 1;
    });
    assert_eq!(seen, 0, "the loop ends at its first item");
    let after = after.load(Relaxed);
    // The break reaches the run when the first lane's batch returns, a moment after
    // `seen_break`; the second lane stops at its next item.
    assert!(after < 1_000, "{after} items started after the break");
}
