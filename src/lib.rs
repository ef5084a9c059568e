//! # bounded
//!
//! Declarative bounded parallelism. Write an ordinary `for` loop, annotate it, and get
//! chunked parallel code whose concurrency bound, batching, reductions and fail-fast
//! error handling are declared in the attribute instead of written by hand.
//!
//! ```
//! use bounded::bounded;
//!
//! #[bounded(limit = 8, batch = 256, reduce(total: +))]
//! fn total_len(lines: &[String]) -> usize {
//!     let mut total = 0;
//!     for line in lines {
//!         total += line.len();
//!     }
//!     total
//! }
//!
//! let lines: Vec<String> = (0..10_000).map(|i| i.to_string()).collect();
//! assert_eq!(total_len(&lines), lines.iter().map(|l| l.len()).sum::<usize>());
//! ```
//!
//! `par_bounded!` is the same loop as an expression, usable anywhere:
//!
//! ```
//! use bounded::par_bounded;
//!
//! let xs: Vec<u64> = (1..=1000).collect();
//! let squares: Vec<u64> = par_bounded!(limit = 4; for x in &xs => x * x);
//! assert_eq!(squares[9], 100);
//! ```
//!
//! The book (`book/` in the repository) documents every option, every error message
//! and the code each pattern generates.
#![deny(missing_docs)]

pub use bounded_macros::{bounded, gate, par_bounded};
pub use bounded_runtime::pool::Pool;
pub use bounded_runtime::{
    available_cpus, CancelToken, Cancelled, IsOverloaded, Overloaded, Rate, Rejected,
};

/// Reductions: the operators of `reduce(VAR: OP)` and the traits that extend them.
pub mod reduce {
    pub use bounded_runtime::reduce::{op, Append, ExtendFrom, Extremes, Merge, One, Reducer};
}

/// Per-loop counters.
///
/// ```
/// use bounded::par_bounded;
///
/// let data = vec![1u64; 1000];
/// par_bounded!(limit = 2, batch = 100, name = "stats-doc"; for x in &data {
///     std::hint::black_box(x);
/// });
/// let all = bounded::stats::loops();
/// let this = all.iter().find(|s| s.name == "stats-doc").unwrap();
/// assert_eq!((this.runs, this.items, this.batches), (1, 1000, 10));
/// assert!(this.peak_running <= 2);
/// ```
pub mod stats {
    pub use bounded_runtime::limit::gate::{gates, GateStats};
    pub use bounded_runtime::stats::{
        last_run, loops, ItemLatency, LoopStats, RunEnd, RunStats, SiteLocation,
    };
}

/// A simulated downstream service for tests, benchmarks and demonstrations: capacity,
/// base latency, jitter, a knee, a hard limit answering [`Overloaded`], a step change.
pub mod sim {
    pub use bounded_runtime::sim::{Downstream, DownstreamBuilder, DownstreamStats};
}

/// Loops, pools and gates as Prometheus metrics (feature `prometheus`): [`register`]
/// adds them to a `prometheus_client` registry; every loop that has run, every gate
/// and every pool alive at the scrape is in it.
///
/// ```
/// use bounded::metrics::prometheus_client::{encoding::text::encode, registry::Registry};
///
/// let mut registry = Registry::default();
/// bounded::metrics::register(&mut registry);
/// let data = vec![1u64; 100];
/// bounded::par_bounded!(limit = 2, name = "metrics-doc"; for x in &data {
///     std::hint::black_box(x);
/// });
/// let mut text = String::new();
/// encode(&mut text, &registry).unwrap();
/// assert!(text.contains(r#"bounded_loop_items_total{loop="metrics-doc"} 100"#));
/// ```
///
/// [`register`]: metrics::register
#[cfg(feature = "prometheus")]
pub mod metrics {
    #[allow(deprecated)]
    pub use bounded_runtime::metrics::watch_pool;
    pub use bounded_runtime::metrics::{prometheus_client, register};
}

/// The configuration types the attribute's options become.
pub mod config {
    pub use bounded_runtime::config::{Backend, BatchSize, Limit, OnFull, Rate, Schedule};
    pub use bounded_runtime::limit::Adaptive;
}

/// The channel worker pool for blocking work: [`Pool`], its builder, scopes, shutdown
/// modes and counters.
pub mod pool {
    pub use bounded_runtime::pool::{
        cancelled, live, shared_io_pool, BuildError, LivePool, Outcome, Pool, PoolBuilder,
        PoolStats, Scope, Shutdown, Workers,
    };
}

/// `backend = timely` across processes (feature `timely`): the cluster from the
/// environment, [`run_local`](cluster::run_local) to start local processes, and
/// [`shutdown`](cluster::shutdown) to leave the cluster cleanly.
///
/// ```no_run
/// use bounded::cluster::{run_local, Role};
///
/// #[bounded::bounded(backend = timely, reduce(total: +))]
/// fn sum_of_squares(n: u64) -> u64 {
///     let mut total = 0;
///     for x in 0..n {
///         total += x * x;
///     }
///     total
/// }
///
/// let _member = match run_local(2, 1) {
///     Role::Launcher(done) => std::process::exit(if done.success() { 0 } else { 1 }),
///     Role::Member(member) => member,
/// };
/// assert_eq!(sum_of_squares(1000), (0..1000u64).map(|x| x * x).sum());
/// ```
#[cfg(feature = "timely")]
pub mod cluster {
    pub use bounded_runtime::cluster::{
        run_local, shutdown, Launch, Launched, Member, MemberOutput, Role,
    };
}

/// Everything a parallel loop needs in scope: `use bounded::prelude::*;`.
pub mod prelude {
    pub use crate::reduce::Merge;
    pub use bounded_macros::{bounded, gate, par_bounded};
}

/// What the generated code names. Not a public API: it may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::{crosses, progress_label, run_timely, Progress, Timely};
    pub use bounded_runtime::capture::{Cap, CapCopy, CapRef};
    pub use bounded_runtime::cluster::{Never, Part};
    pub use bounded_runtime::config::{Backend, BatchSize, Config, Limit, OnFull, Rate, Schedule};
    pub use bounded_runtime::input::Pulled;
    pub use bounded_runtime::input::{input, Enumerated, Input, ViaIndexed, ViaPulled, ViaStream};
    pub use bounded_runtime::limit::coalesce::{
        assert_coalesce_key, assert_coalesce_result, Flights,
    };
    pub use bounded_runtime::limit::gate::{weight, Gate};
    pub use bounded_runtime::limit::permits::LoopPermits;
    pub use bounded_runtime::limit::Adaptive;
    pub use bounded_runtime::reduce::{op, ReduceSet, Typed};
    pub use bounded_runtime::stats::Site;
    pub use bounded_runtime::{hash_key, run, run_keyed, run_stoppable, Stop};
    pub use bounded_runtime::{run_adaptive, OverloadProbe, ViaIsOverloaded, ViaNotOverloaded};
    pub use bounded_runtime::{AsyncRun, Exit};
}

/// The `progress` option's check: implemented only with the `progress` feature, so that
/// without it the option is one error at the option.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "the `progress` option draws a bar only with the `progress` feature of bounded\nhelp: enable the `progress` feature of bounded",
    label = "needs the `progress` feature",
    note = "in Cargo.toml: `bounded = {{ version = \"0.1\", features = [\"progress\"] }}`"
)]
pub trait ProgressFeature {}

/// What the `progress` option passes to [`ProgressFeature`]'s check.
#[doc(hidden)]
pub struct Progress;

#[cfg(feature = "progress")]
impl ProgressFeature for Progress {}

/// `progress` / `progress = "label"`: the label, once the feature is checked.
#[doc(hidden)]
pub fn progress_label<P: ProgressFeature>(
    _: P,
    label: Option<&'static str>,
) -> Option<&'static str> {
    label
}

/// The `backend = timely` option's check: implemented only with the `timely` feature,
/// so that without it the option is one error at the option.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`backend = timely` runs the loop across processes only with the `timely` feature of bounded\nhelp: enable the `timely` feature of bounded",
    label = "needs the `timely` feature",
    note = "in Cargo.toml: `bounded = {{ version = \"0.1\", features = [\"timely\"] }}`"
)]
pub trait TimelyFeature {}

/// What `backend = timely` passes to [`TimelyFeature`]'s check.
#[doc(hidden)]
pub struct Timely;

#[cfg(feature = "timely")]
impl TimelyFeature for Timely {}

/// A `backend = timely` loop: the runtime's `run_timely` once the feature is checked.
#[doc(hidden)]
#[track_caller]
pub fn run_timely<T, S, R, W, E, Init, F>(
    _feature: T,
    config: bounded_runtime::Config,
    source: S,
    reducers: &R,
    init: Init,
    body: F,
) -> Result<R::Acc, E>
where
    T: TimelyFeature,
    S: TimelySource,
    R: bounded_runtime::reduce::ReduceSet + Sync,
    R::Acc: Send + TimelyPartials,
    E: Send + TimelyError,
    Init: Fn() -> W + Sync,
    F: Fn(
            &mut W,
            R::Acc,
            bounded_runtime::Batch<'_, bounded_runtime::cluster::Part<S>>,
        ) -> Result<R::Acc, E>
        + Sync,
{
    #[cfg(feature = "timely")]
    return bounded_runtime::run_timely(config, source, reducers, init, body);
    #[cfg(not(feature = "timely"))]
    {
        let _ = (config, source, reducers, init, body);
        unreachable!("`TimelyFeature` has no implementation without the `timely` feature")
    }
}

/// A `backend = timely` reduction, checked to be serializable on its own, so that the
/// error names its type.
#[doc(hidden)]
pub fn crosses<R, T: TimelyPartials, O>(
    typed: bounded_runtime::reduce::Typed<R, T, O>,
) -> bounded_runtime::reduce::Typed<R, T, O> {
    typed
}

#[cfg(feature = "timely")]
#[doc(hidden)]
pub use bounded_runtime::{
    cluster::Carry as TimelySource, LoopError as TimelyError, Partials as TimelyPartials,
};

/// Without the feature the loop is one error at `backend = timely`: these accept anything.
#[cfg(not(feature = "timely"))]
#[doc(hidden)]
pub use bounded_runtime::cluster::Carry as TimelySource;
#[cfg(not(feature = "timely"))]
#[doc(hidden)]
pub trait TimelyPartials {}
#[cfg(not(feature = "timely"))]
impl<T> TimelyPartials for T {}
#[cfg(not(feature = "timely"))]
#[doc(hidden)]
pub trait TimelyError {}
#[cfg(not(feature = "timely"))]
impl<T> TimelyError for T {}

/// The book's chapters, so that every Rust snippet in them is compiled and run by
/// `cargo test`.
#[cfg(doctest)]
mod book {
    macro_rules! chapters {
        ($($name:ident => $path:literal),* $(,)?) => {$(
            #[doc = include_str!(concat!("../book/src/", $path))]
            struct $name;
        )*};
    }

    chapters! {
        PatternPool => "patterns/pool.md",
        PatternBackpressure => "patterns/backpressure.md",
        PatternLoadShedding => "patterns/load-shedding.md",
        PatternKeyed => "patterns/keyed.md",
        PatternShutdown => "patterns/shutdown.md",
        PatternAsync => "patterns/async.md",
        PatternGate => "patterns/gate.md",
        Introduction => "introduction.md",
        GettingStarted => "getting-started.md",
        Reference => "reference.md",
        Guarantees => "guarantees.md",
        Audit => "audit.md",
        PatternFanOut => "patterns/fan-out.md",
        PatternBatching => "patterns/batching.md",
        PatternPerWorkerState => "patterns/per-worker-state.md",
        PatternReductions => "patterns/reductions.md",
        PatternFailFast => "patterns/fail-fast.md",
        PatternEarlyExit => "patterns/early-exit.md",
        PatternSchedules => "patterns/schedules.md",
        PatternRightSizing => "patterns/right-sizing.md",
        PatternRate => "patterns/rate.md",
        PatternNested => "patterns/nested.md",
        PatternObservability => "patterns/observability.md",
        PatternBeyondOneMachine => "patterns/beyond-one-machine.md",
        Playbook => "playbook.md",
    }
}
