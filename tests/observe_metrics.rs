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

#[test]
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
