//! Each run's own figures (`bounded::stats::last_run`): counts that equal what the run
//! did, on every backend, and where its time went.

use std::time::Duration;

use bounded::par_bounded;
use bounded::stats::{last_run, RunEnd};

#[test]
fn a_run_reports_its_own_items_batches_and_time() {
    let xs: Vec<u64> = (0..10_000).collect();
    for round in 0..3 {
        let mut total = 0u64;
        par_bounded!(limit = 3, batch = 100, name = "run-stats-rayon", reduce(total: +); for x in &xs {
            total += x;
        });
        assert_eq!(total, 49_995_000);
        let run = last_run("run-stats-rayon").expect("the loop ran");
        // The figures are this run's, not the site's running totals.
        assert_eq!((run.items, run.batches), (10_000, 100), "round {round}");
        assert_eq!(run.mean_batch(), 100.0);
        assert_eq!(run.ended, RunEnd::Completed);
        assert!(run.lanes >= 1 && run.lanes <= 3, "{run:?}");
        assert!(run.peak_running <= 3, "{run:?}");
        assert!(
            run.wall > Duration::ZERO && run.busy > Duration::ZERO,
            "{run:?}"
        );
    }
}

fn grouped_serial(xs: &[u64]) -> Result<u64, bounded::Cancelled> {
    let mut total = 0u64;
    par_bounded!(backend = serial, batch = 1, timeout = 600s, name = "run-stats-groups-serial", reduce(total: +); for x in xs {
        if *x == 12_345 {
            std::thread::sleep(Duration::from_millis(5));
        }
        total += x;
    });
    Ok(total)
}

fn grouped_rayon(xs: &[u64]) -> Result<u64, bounded::Cancelled> {
    let mut total = 0u64;
    par_bounded!(limit = 3, batch = 1, timeout = 600s, name = "run-stats-groups-rayon", reduce(total: +); for x in xs {
        if *x == 12_345 {
            std::thread::sleep(Duration::from_millis(5));
        }
        total += x;
    });
    Ok(total)
}

#[test]
fn quick_batches_timed_in_groups_still_account_for_every_item_and_all_the_time() {
    // Batches of one cheap item: lanes time them in groups of up to eight, one clock
    // read a group. Every item is still in the latency figures, the busy time is the
    // bodies' (all of the slow item's, and no more than the wall time of all lanes),
    // and the slow item shows at least at its group's mean (an eighth of it).
    let xs: Vec<u64> = (0..20_000).collect();
    type Loop = fn(&[u64]) -> Result<u64, bounded::Cancelled>;
    let loops: [(&str, Loop); 2] = [
        ("run-stats-groups-serial", grouped_serial),
        ("run-stats-groups-rayon", grouped_rayon),
    ];
    for (label, run) in loops {
        assert_eq!(run(&xs), Ok(199_990_000), "{label}");
        let run = last_run(label).expect("the loop ran");
        assert_eq!(
            (run.items, run.batches),
            (20_000, 20_000),
            "{label}: {run:?}"
        );
        assert_eq!(run.latency.items, 20_000, "{label}: {run:?}");
        assert!(
            run.latency.max >= Duration::from_millis(5) / 8,
            "{label}: {run:?}"
        );
        assert!(
            run.busy >= Duration::from_millis(5)
                && run.busy <= run.wall * u32::try_from(run.lanes.max(1)).unwrap(),
            "{label}: {run:?}"
        );
    }
}

#[test]
fn shed_failed_and_cancelled_runs_say_so() {
    let items: Vec<u64> = (0..300).collect();
    par_bounded!(backend = pool, limit = 1, queue = 1, batch = 2, on_full = drop, name = "run-stats-drop"; for x in &items {
        std::thread::sleep(Duration::from_micros(100));
        std::hint::black_box(x);
    });
    let run = last_run("run-stats-drop").unwrap();
    assert_eq!(run.items + run.dropped, 300, "{run:?}");
    assert_eq!(run.ended, RunEnd::Completed);

    fn failing(xs: &[u64]) -> Result<(), u64> {
        par_bounded!(limit = 2, batch = 4, name = "run-stats-fail"; for x in xs {
            if *x == 50 {
                return Err(*x);
            }
        });
        Ok(())
    }
    let result: Result<(), u64> = (|| {
        par_bounded!(limit = 2, batch = 4, name = "run-stats-try"; for x in &items {
            let checked: Result<u64, u64> = if *x == 50 { Err(*x) } else { Ok(*x) };
            checked?;
        });
        Ok(())
    })();
    assert_eq!(result, Err(50));
    let run = last_run("run-stats-try").unwrap();
    assert_eq!(run.ended, RunEnd::Failed);
    assert_eq!(run.failed, 1);
    // Which item the error came from.
    assert_eq!(run.failed_at, Some(50));
    assert_eq!(failing(&items), Err(50));
    assert_eq!(last_run("run-stats-fail").unwrap().ended, RunEnd::Exited);

    let token = bounded::CancelToken::new();
    token.cancel();
    let cancelled: Result<(), bounded::Cancelled> = (|| {
        par_bounded!(limit = 2, cancel = token, name = "run-stats-cancel"; for x in &items {
            std::hint::black_box(x);
        });
        Ok(())
    })();
    assert!(cancelled.is_err());
    let run = last_run("run-stats-cancel").unwrap();
    assert_eq!((run.ended, run.items), (RunEnd::Cancelled, 0));
}

#[test]
fn async_runs_report_too() {
    let xs: Vec<u64> = (0..500).collect();
    let total = futures::executor::block_on(async {
        let mut total = 0u64;
        par_bounded!(limit = 4, batch = 10, name = "run-stats-async", reduce(total: +); for x in &xs {
            futures::future::ready(()).await;
            total += x;
        });
        total
    });
    assert_eq!(total, 124_750);
    let run = last_run("run-stats-async").unwrap();
    assert_eq!(
        (run.items, run.batches, run.ended),
        (500, 50, RunEnd::Completed)
    );
    assert!(run.lanes <= 4 && run.peak_running <= 4, "{run:?}");
}

/// The item-latency percentiles reflect what the body took, on every backend: each
/// item sleeps 3 ms (batches of 4, so the batch time is divided by its items), and
/// one in ten sleeps 12 ms.
#[test]
fn item_latency_percentiles_reflect_the_body_on_every_backend() {
    fn sleep_for(x: u64) {
        let ms = if x % 10 == 9 { 12 } else { 3 };
        std::thread::sleep(Duration::from_millis(ms));
    }
    let xs: Vec<u64> = (0..80).collect();
    par_bounded!(backend = serial, batch = 1, name = "latency-serial"; for x in &xs { sleep_for(*x); });
    par_bounded!(limit = 4, batch = 1, name = "latency-rayon"; for x in &xs { sleep_for(*x); });
    par_bounded!(backend = pool, limit = 4, batch = 1, name = "latency-pool"; for x in &xs { sleep_for(*x); });
    par_bounded!(backend = pool, limit = 4, batch = 1, key = *x % 4, name = "latency-keyed"; for x in &xs { sleep_for(*x); });
    futures::executor::block_on(async {
        par_bounded!(limit = 4, batch = 1, name = "latency-async"; for x in &xs {
            futures::future::ready(()).await;
            sleep_for(*x);
        });
    });
    // A serial run that nothing can stop early is one batch: its items share its time,
    // so each reports the mean, (72 × 3 + 8 × 12) / 80 = 3.9 ms.
    let serial = last_run("latency-serial").unwrap().latency;
    assert_eq!(serial.items, 80);
    let mean = serial.p50.as_secs_f64() * 1e3;
    assert!(
        (3.9..7.0).contains(&mean) && serial.p50 == serial.p99,
        "{serial:?}"
    );
    for name in [
        "latency-rayon",
        "latency-pool",
        "latency-keyed",
        "latency-async",
    ] {
        let run = last_run(name).expect("the loop ran");
        let l = run.latency;
        assert_eq!(l.items, 80, "{name}: {l:?}");
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        // A sleep never returns early; a loaded host wakes it late, by a few ms at most
        // for most items.
        assert!((3.0..8.0).contains(&ms(l.p50)), "{name}: {l:?}");
        assert!(ms(l.p99) >= 12.0 && ms(l.max) >= 12.0, "{name}: {l:?}");
        assert!(
            l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.max,
            "{name}: {l:?}"
        );
    }
    // A batch's time is shared by its items.
    par_bounded!(backend = pool, limit = 2, batch = 4, name = "latency-batched"; for x in &xs {
        let _ = x;
        std::thread::sleep(Duration::from_millis(2));
    });
    let l = last_run("latency-batched").unwrap().latency;
    assert_eq!(l.items, 80);
    assert!(
        l.p50 >= Duration::from_millis(2) && l.p50 < Duration::from_millis(6),
        "{l:?}"
    );
}
