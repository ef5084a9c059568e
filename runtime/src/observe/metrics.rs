//! Loops, pools and gates as Prometheus metrics (feature `prometheus`).
//!
//! [`register`] adds one collector to a `prometheus_client` registry. It reads the
//! counters the runtime keeps anyway ([`crate::stats::loops`], [`crate::limit::gate::gates`]
//! and every live pool, [`crate::pool::live`]) at scrape time, so metrics cost nothing
//! between scrapes; only the per-run wall-time histogram is recorded, once per run.
//!
//! ```
//! use prometheus_client::registry::Registry;
//!
//! let mut registry = Registry::default();
//! bounded_runtime::metrics::register(&mut registry);
//! let mut text = String::new();
//! prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
//! assert!(text.ends_with("# EOF\n"));
//! ```

use std::sync::LazyLock;
use std::time::Duration;

pub use prometheus_client;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::limit::gate::{gates, GateStats};
use crate::pool::{live, LivePool, Pool};
use crate::stats::{loops, LoopStats};

type Labels = Vec<(&'static str, String)>;
type Runs = Family<Labels, Histogram, fn() -> Histogram>;
/// A pool counter's name, help and field.
type PoolCounter = (
    &'static str,
    &'static str,
    fn(&crate::pool::PoolStats) -> u64,
);

/// Per-run wall time, by loop: 100 µs to about 7 minutes, ×4 per bucket.
fn run_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1e-4, 4.0, 12))
}

static RUN_SECONDS: LazyLock<Runs> =
    LazyLock::new(|| Family::new_with_constructor(run_histogram as fn() -> Histogram));

/// Records one run's wall time (called once per run, when it ends).
pub(crate) fn record_run(name: &'static str, wall: Duration) {
    RUN_SECONDS
        .get_or_create(&vec![("loop", name.to_string())])
        .observe(wall.as_secs_f64());
}

/// Adds the metrics of every loop, gate and live pool to `registry`. Call it once per
/// registry.
pub fn register(registry: &mut Registry) {
    registry.register_collector(Box::new(BoundedCollector));
}

/// Once the way to expose a pool; every pool is exposed now, from the moment it is
/// built until it is dropped (labelled with its name, see
/// [`LivePool::label`](crate::pool::LivePool::label)), so this does nothing.
///
/// ```
/// #![allow(deprecated)]
/// bounded_runtime::metrics::watch_pool(bounded_runtime::pool::shared_io_pool());
/// ```
#[deprecated(
    since = "0.1.0",
    note = "every live pool is exposed without it: remove the call"
)]
pub fn watch_pool<S: Send + 'static>(pool: &'static Pool<S>)
where
    Pool<S>: Sync,
{
    let _ = pool;
}

#[derive(Debug)]
struct BoundedCollector;

/// Encodes one metric family: one series per element of `rows`.
fn family<T, V: EncodeMetric>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    kind: MetricType,
    rows: &[(Labels, T)],
    value: impl Fn(&T) -> V,
) -> Result<(), std::fmt::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
    for (labels, row) in rows {
        value(row).encode(metric.encode_family(labels)?)?;
    }
    Ok(())
}

fn counter(v: u64) -> ConstCounter<u64> {
    ConstCounter::new(v)
}

fn gauge(v: usize) -> ConstGauge<i64> {
    ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX))
}

impl Collector for BoundedCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use MetricType::{Counter, Gauge};
        let sites: Vec<(Labels, LoopStats)> = loops()
            .into_iter()
            .map(|s| (vec![("loop", s.name.to_string())], s))
            .collect();
        let e = &mut e;
        family(
            e,
            "bounded_loop_runs",
            "Runs started.",
            Counter,
            &sites,
            |s| counter(s.runs),
        )?;
        family(
            e,
            "bounded_loop_items",
            "Items handed to the body.",
            Counter,
            &sites,
            |s| counter(s.items),
        )?;
        family(
            e,
            "bounded_loop_batches",
            "Batches handed to the body.",
            Counter,
            &sites,
            |s| counter(s.batches),
        )?;
        family(
            e,
            "bounded_loop_failed",
            "Batches that ended in an error.",
            Counter,
            &sites,
            |s| counter(s.failed),
        )?;
        family(
            e,
            "bounded_loop_panicked",
            "Batches that panicked.",
            Counter,
            &sites,
            |s| counter(s.panicked),
        )?;
        family(
            e,
            "bounded_loop_dropped",
            "Items shed by on_full = drop.",
            Counter,
            &sites,
            |s| counter(s.dropped),
        )?;
        family(
            e,
            "bounded_loop_running",
            "Lanes running now.",
            Gauge,
            &sites,
            |s| gauge(s.running),
        )?;
        family(
            e,
            "bounded_loop_limit",
            "The limit its latest run works under now (moves with an adaptive limit).",
            Gauge,
            &sites,
            |s| gauge(s.limit),
        )?;
        family(
            e,
            "bounded_loop_peak_running",
            "The most lanes ever running at once (at most limit).",
            Gauge,
            &sites,
            |s| gauge(s.peak_running),
        )?;
        let runs = e.encode_descriptor(
            "bounded_loop_run_seconds",
            "Wall time of each run, from its start to its result.",
            None,
            MetricType::Histogram,
        )?;
        RUN_SECONDS.encode(runs)?;

        let pools: Vec<(Labels, LivePool)> = live()
            .into_iter()
            .map(|p| (vec![("pool", p.label.clone())], p))
            .collect();
        family(
            e,
            "bounded_pool_workers",
            "Worker threads alive.",
            Gauge,
            &pools,
            |p| gauge(p.stats.workers),
        )?;
        family(
            e,
            "bounded_pool_running",
            "Jobs running now (workers busy).",
            Gauge,
            &pools,
            |p| gauge(p.stats.busy),
        )?;
        family(
            e,
            "bounded_pool_queued",
            "Jobs waiting for a worker.",
            Gauge,
            &pools,
            |p| gauge(p.stats.queued),
        )?;
        family(
            e,
            "bounded_pool_limit",
            "The most workers the pool may run at once.",
            Gauge,
            &pools,
            |p| gauge(p.max_workers),
        )?;
        let pool_counters: [PoolCounter; 8] = [
            ("bounded_pool_submitted", "Jobs offered to the pool.", |s| {
                s.submitted
            }),
            (
                "bounded_pool_completed",
                "Jobs that returned normally.",
                |s| s.completed,
            ),
            ("bounded_pool_failed", "Jobs that returned Err.", |s| {
                s.failed
            }),
            ("bounded_pool_panicked", "Jobs that panicked.", |s| {
                s.panicked
            }),
            ("bounded_pool_rejected", "Jobs refused.", |s| s.rejected),
            (
                "bounded_pool_dropped",
                "Jobs skipped under on_full = drop.",
                |s| s.dropped,
            ),
            (
                "bounded_pool_cancelled",
                "Jobs dropped by Shutdown::Abort.",
                |s| s.cancelled,
            ),
            (
                "bounded_pool_caller_ran",
                "Jobs run by the submitting thread.",
                |s| s.caller_ran,
            ),
        ];
        for (name, help, read) in pool_counters {
            family(e, name, help, Counter, &pools, |p| counter(read(&p.stats)))?;
        }
        if !pools.is_empty() {
            let mut m = e.encode_descriptor(
                "bounded_pool_latency_seconds",
                "Time from submission to the end of a job, at the quantile.",
                None,
                Gauge,
            )?;
            for (labels, p) in &pools {
                let s = &p.stats;
                for (q, d) in [("0.5", s.p50), ("0.9", s.p90), ("0.99", s.p99)] {
                    let mut l = labels.clone();
                    l.push(("quantile", q.to_string()));
                    ConstGauge::new(d.as_secs_f64()).encode(m.encode_family(&l)?)?;
                }
            }
        }

        let gates: Vec<(Labels, GateStats)> = gates()
            .into_iter()
            .map(|g| (vec![("gate", g.name.to_string())], g))
            .collect();
        family(
            e,
            "bounded_gate_limit",
            "The gate's limit.",
            Gauge,
            &gates,
            |g| gauge(g.limit),
        )?;
        family(
            e,
            "bounded_gate_running",
            "Calls running now.",
            Gauge,
            &gates,
            |g| gauge(g.running),
        )?;
        family(
            e,
            "bounded_gate_waiting",
            "Calls waiting for a permit.",
            Gauge,
            &gates,
            |g| gauge(g.waiting),
        )?;
        family(
            e,
            "bounded_gate_peak_used",
            "The most permits ever in use.",
            Gauge,
            &gates,
            |g| gauge(g.peak_used),
        )?;
        family(
            e,
            "bounded_gate_calls",
            "Calls made.",
            Counter,
            &gates,
            |g| counter(g.calls),
        )?;
        family(
            e,
            "bounded_gate_rejected",
            "Calls refused.",
            Counter,
            &gates,
            |g| counter(g.rejected),
        )?;
        family(
            e,
            "bounded_gate_coalesced",
            "Calls answered by another's result.",
            Counter,
            &gates,
            |g| counter(g.coalesced),
        )?;
        Ok(())
    }
}
