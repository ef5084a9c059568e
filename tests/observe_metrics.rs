//! Feature `prometheus`: the text exposition of every loop, pool and gate, parsed back,
//! agrees with the runs' own figures, under drops and errors too.
#![cfg(feature = "prometheus")]

use std::collections::HashMap;
use std::sync::LazyLock;
use std::thread;
use std::time::Duration;

use bounded::metrics::prometheus_client::encoding::text::encode;
use bounded::metrics::prometheus_client::registry::Registry;
use bounded::{gate, par_bounded, Pool};

/// `name{labels}` -> value, from one scrape.
fn scrape() -> HashMap<String, f64> {
    let mut registry = Registry::default();
    bounded::metrics::register(&mut registry);
    let mut text = String::new();
    encode(&mut text, &registry).unwrap();
    let mut series = HashMap::new();
    for line in text.lines() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (key, value) = line.rsplit_once(' ').expect("`series value`");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("a number: {line}"));
        assert!(
            series.insert(key.to_string(), value).is_none(),
            "twice: {line}"
        );
    }
    series
}

fn get(series: &HashMap<String, f64>, key: &str) -> f64 {
    *series
        .get(key)
        .unwrap_or_else(|| panic!("no series {key} in {:#?}", series.keys()))
}

#[test]
fn item_counts_are_the_items_of_the_runs() {
    let xs: Vec<u64> = (0..1000).collect();
    for _ in 0..3 {
        par_bounded!(limit = 3, batch = 7, name = "metrics-ok"; for x in &xs {
            std::hint::black_box(x);
        });
    }
    let s = scrape();
    let run = bounded::stats::last_run("metrics-ok").unwrap();
    assert_eq!(run.items, 1000);
    assert_eq!(
        get(&s, r#"bounded_loop_items_total{loop="metrics-ok"}"#),
        3000.0
    );
    assert_eq!(
        get(&s, r#"bounded_loop_runs_total{loop="metrics-ok"}"#),
        3.0
    );
    assert_eq!(
        get(&s, r#"bounded_loop_batches_total{loop="metrics-ok"}"#),
        3.0 * 143.0
    );
    assert_eq!(
        get(&s, r#"bounded_loop_failed_total{loop="metrics-ok"}"#),
        0.0
    );
    assert_eq!(get(&s, r#"bounded_loop_running{loop="metrics-ok"}"#), 0.0);
    assert!(get(&s, r#"bounded_loop_peak_running{loop="metrics-ok"}"#) <= 3.0);
    assert_eq!(
        get(&s, r#"bounded_loop_run_seconds_count{loop="metrics-ok"}"#),
        3.0
    );
    assert_eq!(
        get(
            &s,
            r#"bounded_loop_run_seconds_bucket{le="+Inf",loop="metrics-ok"}"#
        ),
        3.0
    );
}

#[test]
fn shed_items_are_counted_apart_from_run_items() {
    let items: Vec<u32> = (0..200).collect();
    par_bounded!(backend = pool, limit = 1, queue = 1, batch = 1, on_full = drop, name = "metrics-drop"; for _x in &items {
        thread::sleep(Duration::from_micros(300));
    });
    let run = bounded::stats::last_run("metrics-drop").unwrap();
    assert!(run.dropped > 0);
    let s = scrape();
    let items = get(&s, r#"bounded_loop_items_total{loop="metrics-drop"}"#);
    let dropped = get(&s, r#"bounded_loop_dropped_total{loop="metrics-drop"}"#);
    assert_eq!(items, run.items as f64);
    assert_eq!(dropped, run.dropped as f64);
    assert_eq!(items + dropped, 200.0);
}

#[derive(Debug, PartialEq)]
struct Bad(u64);

#[test]
fn failed_batches_are_counted_and_their_items_too() {
    let xs: Vec<u64> = (0..100).collect();
    let r = (|| -> Result<(), Bad> {
        par_bounded!(limit = 2, batch = 10, keep_going, name = "metrics-error"; for x in &xs {
            if x % 25 == 0 {
                Err(Bad(*x))?;
            }
        });
        Ok(())
    })();
    assert_eq!(r, Err(Bad(0)));
    let run = bounded::stats::last_run("metrics-error").unwrap();
    let s = scrape();
    assert_eq!(
        get(&s, r#"bounded_loop_items_total{loop="metrics-error"}"#),
        run.items as f64
    );
    assert_eq!(run.items, 100);
    assert_eq!(run.failed, 4);
    assert_eq!(
        get(&s, r#"bounded_loop_failed_total{loop="metrics-error"}"#),
        4.0
    );
}

static WATCHED: LazyLock<Pool> =
    LazyLock::new(|| Pool::builder().name("watched").workers(2).build().unwrap());

/// `watch_pool` is deprecated (every pool is exposed without it) and still harmless:
/// a pool watched twice is exposed once.
#[test]
#[allow(deprecated)]
fn watched_pools_are_exposed() {
    bounded::metrics::watch_pool(&WATCHED);
    bounded::metrics::watch_pool(&WATCHED);
    let xs: Vec<u64> = (0..64).collect();
    par_bounded!(pool = WATCHED, limit = 2, batch = 4; for x in &xs {
        std::hint::black_box(x);
    });
    let stats = WATCHED.stats();
    let s = scrape();
    assert_eq!(
        get(&s, r#"bounded_pool_workers{pool="watched"}"#),
        stats.workers as f64
    );
    assert_eq!(
        get(&s, r#"bounded_pool_submitted_total{pool="watched"}"#),
        stats.submitted as f64
    );
    assert_eq!(get(&s, r#"bounded_pool_queued{pool="watched"}"#), 0.0);
    assert!(s.contains_key(r#"bounded_pool_latency_seconds{pool="watched",quantile="0.99"}"#));
}

#[gate(limit = 2, name = "metrics-gate")]
fn gated(x: u64) -> u64 {
    x + 1
}

#[test]
fn gates_are_exposed() {
    for x in 0..5 {
        assert_eq!(gated(x), x + 1);
    }
    let s = scrape();
    assert_eq!(
        get(&s, r#"bounded_gate_calls_total{gate="metrics-gate"}"#),
        5.0
    );
    assert_eq!(get(&s, r#"bounded_gate_limit{gate="metrics-gate"}"#), 2.0);
    assert_eq!(get(&s, r#"bounded_gate_running{gate="metrics-gate"}"#), 0.0);
}

/// The series of pool `label`, by metric name.
fn pool_series(series: &HashMap<String, f64>, label: &str) -> Vec<String> {
    let tag = format!("pool=\"{label}\"");
    let mut names: Vec<String> = series
        .keys()
        .filter(|k| k.contains(&tag))
        .map(|k| k.split('{').next().unwrap().to_string())
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn every_live_pool_is_exposed_until_it_is_dropped() {
    let pool = Pool::builder()
        .name("metrics-live")
        .workers(1..=3)
        .build()
        .unwrap();
    let xs: Vec<u64> = (0..40).collect();
    par_bounded!(pool = pool, limit = 3, batch = 2; for x in &xs {
        std::hint::black_box(x);
    });
    // Workers count as running until they are back waiting for work.
    let settled = std::time::Instant::now();
    while pool.stats().busy > 0 && settled.elapsed() < Duration::from_secs(5) {
        thread::sleep(Duration::from_millis(1));
    }
    let stats = pool.stats();
    let s = scrape();
    for (name, value) in [
        ("bounded_pool_limit", 3.0),
        ("bounded_pool_workers", stats.workers as f64),
        ("bounded_pool_running", stats.busy as f64),
        ("bounded_pool_queued", 0.0),
        ("bounded_pool_submitted_total", stats.submitted as f64),
        ("bounded_pool_completed_total", stats.completed as f64),
    ] {
        assert_eq!(
            get(&s, &format!("{name}{{pool=\"metrics-live\"}}")),
            value,
            "{name}"
        );
    }
    assert!(stats.submitted > 0);
    assert_eq!(stats.busy, 0);
    drop(pool);
    let s = scrape();
    assert_eq!(
        pool_series(&s, "metrics-live"),
        Vec::<String>::new(),
        "a dropped pool leaves the exposition"
    );
}

#[test]
fn pool_gauges_read_the_pool_while_it_works() {
    let pool = Pool::builder()
        .name("metrics-busy")
        .workers(1..=1)
        .queue(8)
        .build()
        .unwrap();
    let (started_tx, started) = std::sync::mpsc::channel();
    let (release, release_rx) = std::sync::mpsc::channel::<()>();
    pool.execute(move || {
        started_tx.send(()).unwrap();
        release_rx.recv().unwrap();
    })
    .unwrap();
    started.recv().unwrap();
    for _ in 0..3 {
        pool.execute(|| ()).unwrap();
    }
    let s = scrape();
    assert_eq!(get(&s, r#"bounded_pool_running{pool="metrics-busy"}"#), 1.0);
    assert_eq!(get(&s, r#"bounded_pool_queued{pool="metrics-busy"}"#), 3.0);
    assert_eq!(get(&s, r#"bounded_pool_workers{pool="metrics-busy"}"#), 1.0);
    assert_eq!(get(&s, r#"bounded_pool_limit{pool="metrics-busy"}"#), 1.0);
    release.send(()).unwrap();
    let stats = pool.shutdown(bounded::pool::Shutdown::Drain);
    assert_eq!(stats.completed, 4);
    let s = scrape();
    assert_eq!(get(&s, r#"bounded_pool_queued{pool="metrics-busy"}"#), 0.0);
    assert_eq!(
        get(&s, r#"bounded_pool_completed_total{pool="metrics-busy"}"#),
        4.0
    );
}

#[test]
fn pools_of_one_name_get_labels_of_their_own() {
    let first = Pool::builder().name("metrics-twin").build().unwrap();
    let second = Pool::builder().name("metrics-twin").build().unwrap();
    second.execute(|| ()).unwrap();
    let second_stats = second.shutdown(bounded::pool::Shutdown::Drain);
    // `scrape` fails on a series seen twice.
    let s = scrape();
    let labels: Vec<String> = bounded::pool::live()
        .into_iter()
        .map(|p| p.label)
        .filter(|l| l.starts_with("metrics-twin"))
        .collect();
    assert_eq!(labels.len(), 2, "{labels:?}");
    assert_eq!(labels[0], "metrics-twin");
    assert!(labels[1].starts_with("metrics-twin#"), "{labels:?}");
    assert_eq!(
        get(
            &s,
            &format!("bounded_pool_submitted_total{{pool=\"{}\"}}", labels[1])
        ),
        second_stats.submitted as f64
    );
    assert_eq!(
        get(&s, r#"bounded_pool_submitted_total{pool="metrics-twin"}"#),
        0.0
    );
    drop(first);
}

#[test]
fn the_loop_limit_gauge_reads_the_running_limit() {
    let xs: Vec<u64> = (0..64).collect();
    for limit in [3usize, 5] {
        let seen = std::sync::Mutex::new(Vec::new());
        par_bounded!(limit = limit, batch = 8, name = "metrics-limit"; for x in &xs {
            if *x == 0 {
                let s = scrape();
                seen.lock().unwrap().push(get(&s, r#"bounded_loop_limit{loop="metrics-limit"}"#));
            }
        });
        assert_eq!(*seen.lock().unwrap(), vec![limit as f64], "while it runs");
        let s = scrape();
        assert_eq!(
            get(&s, r#"bounded_loop_limit{loop="metrics-limit"}"#),
            limit as f64,
            "after it ran"
        );
    }
    let site = bounded::stats::loops()
        .into_iter()
        .find(|l| l.name == "metrics-limit")
        .unwrap();
    assert_eq!(site.limit, 5);
}
