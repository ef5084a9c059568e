use super::*;
use std::sync::Mutex;

/// Runs `lanes` threads claiming from one plan and returns every range handed out.
fn claimed(
    schedule: Schedule,
    len: usize,
    lanes: usize,
    batch: Option<usize>,
) -> Vec<Range<usize>> {
    let plan = Plan::new(schedule, len, lanes, batch);
    let all = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for lane in 0..lanes {
            let (plan, all) = (&plan, &all);
            s.spawn(move || {
                let mut cursor = LaneCursor::new(lane);
                let mut mine = Vec::new();
                while let Some(r) = plan.claim(&mut cursor) {
                    mine.push(r);
                    // Quick and slow batches in turn, so growing claims are covered too.
                    let quick = mine.len() % 5 < 3;
                    cursor.took(Duration::from_micros(if quick { 1 } else { 100 }));
                }
                all.lock().unwrap().extend(mine);
            });
        }
    });
    all.into_inner().unwrap()
}

/// Every index is claimed exactly once, by some lane, for every schedule and shape.
#[test]
fn ranges_cover_the_input_exactly_once() {
    for schedule in [
        Schedule::Dynamic,
        Schedule::Static,
        Schedule::Guided,
        Schedule::Steal,
    ] {
        for len in [0, 1, 2, 7, 100, 1000, 4097] {
            for lanes in [1, 2, 3, 8] {
                for batch in [None, Some(1), Some(3), Some(64), Some(5000)] {
                    let mut ranges = claimed(schedule, len, lanes, batch);
                    ranges.sort_by_key(|r| r.start);
                    let mut next = 0;
                    for r in &ranges {
                        assert!(!r.is_empty(), "{schedule:?} handed out an empty range");
                        assert_eq!(
                            r.start, next,
                            "{schedule:?} len={len} lanes={lanes} batch={batch:?}"
                        );
                        next = r.end;
                    }
                    assert_eq!(
                        next, len,
                        "{schedule:?} len={len} lanes={lanes} batch={batch:?}"
                    );
                }
            }
        }
    }
}

/// `static` is decided up front: the same lane always gets the same batches.
#[test]
fn static_assigns_round_robin() {
    let plan = Plan::new(Schedule::Static, 10, 2, Some(2));
    let mut lane1 = LaneCursor::new(1);
    let got: Vec<_> = std::iter::from_fn(|| plan.claim(&mut lane1)).collect();
    assert_eq!(got, vec![2..4, 6..8]);
}

/// `guided` starts with large batches and shrinks towards the minimum.
#[test]
fn guided_batches_shrink() {
    let plan = Plan::new(Schedule::Guided, 1000, 2, Some(10));
    let mut lane = LaneCursor::new(0);
    let sizes: Vec<_> = std::iter::from_fn(|| plan.claim(&mut lane))
        .map(|r| r.len())
        .collect();
    assert_eq!(sizes[0], 250);
    assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{sizes:?}");
    assert_eq!(*sizes.iter().rev().nth(1).unwrap(), 10);
}

/// A lane whose run is exhausted steals from the others instead of idling.
#[test]
fn steal_takes_from_other_lanes() {
    let plan = Plan::new(Schedule::Steal, 100, 2, Some(10));
    let mut lane0 = LaneCursor::new(0);
    // Lane 1 never runs: lane 0 must end up with all ten batches.
    let got: Vec<_> = std::iter::from_fn(|| plan.claim(&mut lane0)).collect();
    assert_eq!(got.len(), 10);
}

#[test]
fn auto_batch_is_never_zero() {
    assert_eq!(auto_batch(0, 4), 1);
    assert_eq!(auto_batch(1, 4), 1);
    assert_eq!(auto_batch(10_000_000, 2), 312_500);
}

/// Under `dynamic, batch = auto`, a lane whose batches are quick claims up to 16
/// batches at once, never into the tail, which is still claimed in shrinking pieces;
/// a lane whose batches are slow claims one batch at a time.
#[test]
fn quick_batches_grow_the_claims_but_not_into_the_tail() {
    let (len, lanes) = (64_000, 2);
    let batch = auto_batch(len, lanes);
    let tail_start = len - batch * lanes * 2;
    let plan = Plan::new(Schedule::Dynamic, len, lanes, None);
    let mut cursor = LaneCursor::new(0);
    let mut sizes = Vec::new();
    while let Some(r) = plan.claim(&mut cursor) {
        assert!(
            r.start >= tail_start || r.end <= tail_start,
            "{r:?} crosses the tail"
        );
        sizes.push(r.len());
        cursor.took(Duration::from_micros(1));
    }
    // The bulk is 28 batches (32 less the tail's 4): 1 + 2 + 4 + 8, then the 13 left.
    assert_eq!(
        sizes[..5],
        [batch, 2 * batch, 4 * batch, 8 * batch, 13 * batch]
    );
    assert!(sizes.iter().all(|&n| n <= 16 * batch));
    assert_eq!(
        *sizes.last().unwrap(),
        1,
        "the tail shrinks to single items"
    );
    let plan = Plan::new(Schedule::Dynamic, len, lanes, None);
    let mut cursor = LaneCursor::new(0);
    while let Some(r) = plan.claim(&mut cursor) {
        if r.end <= tail_start {
            assert_eq!(r.len(), batch);
        }
        cursor.took(Duration::from_millis(1));
    }
    // A fixed batch never grows.
    let plan = Plan::new(Schedule::Dynamic, len, lanes, Some(10));
    let mut cursor = LaneCursor::new(0);
    while let Some(r) = plan.claim(&mut cursor) {
        assert!(r.len() <= 10);
        cursor.took(Duration::from_micros(1));
    }
}

/// Under `steal, batch = auto`, a claim in the bulk of a lane's run is one auto batch,
/// and the tail of the run is claimed in pieces down to a 64th of one.
#[test]
fn steal_claims_a_batch_in_the_bulk_and_64ths_of_one_at_the_end() {
    let (len, lanes) = (64_000, 2);
    let batch = auto_batch(len, lanes);
    // A unit is `ceil(len / (lanes × 1024))` items: 32 here, so a batch's worth of
    // units is 2,048 items, an auto batch (2,000) rounded up to whole units.
    let unit = len.div_ceil(lanes * 1024);
    let plan = Plan::new(Schedule::Steal, len, lanes, None);
    let mut cursor = LaneCursor::new(0);
    let mut sizes = Vec::new();
    while let Some(r) = plan.claim(&mut cursor) {
        sizes.push(r.len());
    }
    assert_eq!(sizes[0], 64 * unit);
    assert!(sizes[0] >= batch && sizes[0] < batch + 64, "{sizes:?}");
    assert_eq!(*sizes.iter().min().unwrap(), unit, "{sizes:?}");
    assert_eq!(
        sizes.iter().sum::<usize>(),
        len,
        "one lane ends up with every run"
    );
}

/// A sole claimer (the pool's dispatcher) moves the plan by load and store; it is
/// handed exactly the ranges a shared cursor would be, in the same order.
#[test]
fn a_sole_cursor_claims_what_a_shared_one_would() {
    for schedule in [Schedule::Dynamic, Schedule::Guided] {
        for len in [0, 1, 7, 100, 4097] {
            for lanes in [1, 3, 8] {
                for batch in [None, Some(1), Some(64)] {
                    let ranges = |mut cursor: LaneCursor| {
                        let plan = Plan::new(schedule, len, lanes, batch);
                        let mut got = Vec::new();
                        while let Some(r) = plan.claim(&mut cursor) {
                            got.push(r);
                            cursor.took(Duration::from_micros(1));
                        }
                        got
                    };
                    assert_eq!(
                        ranges(LaneCursor::sole(0)),
                        ranges(LaneCursor::new(0)),
                        "{schedule:?} len={len} lanes={lanes} batch={batch:?}"
                    );
                }
            }
        }
    }
}
