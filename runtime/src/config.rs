//! The attribute's words as types: `batch`, `schedule`, `backend`, and the whole
//! [`Config`] of one loop. `limit` and `on_full` are words of [`crate::limit`], which
//! the pool shares.
//!
//! The macro turns each option into one of these values; nothing here knows about
//! syntax. Runtime values (`limit = n`) are checked when the loop starts, and a bad one
//! panics with the option's name and the loop's source location.

use std::num::NonZeroU32;
use std::time::Duration;

use crate::cancel::CancelToken;
pub use crate::limit::{available_cpus, Limit, OnFull, Rate};
use crate::pool::Pool;
use crate::stats::Site;

/// Items per dispatch unit (`batch = N | auto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchSize {
    /// Chosen from the input length and the limit (see the reference chapter).
    Auto,
    /// Exactly this many items per batch (the last one may be shorter).
    Fixed(usize),
}

impl BatchSize {
    /// `batch = N`.
    pub fn fixed(n: usize) -> Self {
        BatchSize::Fixed(n)
    }
}

/// How batches of an indexed input are distributed over the workers (OpenMP's `schedule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Schedule {
    /// Workers take the next batch from a shared counter as they become free.
    #[default]
    Dynamic,
    /// Batch `k` goes to worker `k % limit`, decided before the loop starts.
    Static,
    /// Batches start large and shrink as the input runs out (`remaining / (2 × limit)`).
    Guided,
    /// Each worker owns a contiguous run of batches and steals half of another's when done.
    Steal,
}

/// The engine that runs the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// Bounded lanes on rayon's global pool.
    #[default]
    Rayon,
    /// Everything on the calling thread, in input order.
    Serial,
    /// Batches dispatched through a bounded queue to lanes on a long-lived
    /// [`Pool`](crate::pool::Pool), for blocking work.
    Pool,
    /// Lanes as futures polled by the caller's task, for bodies that await.
    Async,
    /// Across the processes of a cluster on timely-dataflow (feature `timely`).
    Timely,
}

/// Everything a loop was told, resolved when it starts.
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) site: &'static Site,
    pub(crate) limit: Limit,
    pub(crate) batch: BatchSize,
    pub(crate) schedule: Schedule,
    pub(crate) backend: Backend,
    pub(crate) parallel_if: bool,
    pub(crate) keep_going: bool,
    pub(crate) queue: Option<usize>,
    pub(crate) on_full: OnFull,
    pub(crate) pool: Option<Pool>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) cancel: Option<CancelToken>,
    pub(crate) rayon_pool: Option<&'static rayon::ThreadPool>,
    pub(crate) early_exit: bool,
    /// `progress`: `Some(None)` labels the bar with the loop's name.
    pub(crate) progress: Option<Option<&'static str>>,
    /// `rate = …`: at most this many items start per unit of time.
    pub(crate) rate: Option<Rate>,
    /// `burst = B`: tokens the bucket holds at most (`None`: 1).
    pub(crate) burst: Option<u32>,
}

impl Config {
    /// The defaults of the reference chapter for the loop at `site`.
    pub fn new(site: &'static Site) -> Self {
        Config {
            site,
            limit: Limit::Cpus(1),
            batch: BatchSize::Auto,
            schedule: Schedule::Dynamic,
            backend: Backend::Rayon,
            parallel_if: true,
            keep_going: false,
            queue: None,
            on_full: OnFull::Block,
            pool: None,
            timeout: None,
            cancel: None,
            rayon_pool: None,
            early_exit: false,
            progress: None,
            rate: None,
            burst: None,
        }
    }

    /// `limit = …`
    pub fn limit(mut self, limit: Limit) -> Self {
        self.limit = limit;
        self
    }

    /// `batch = …`
    pub fn batch(mut self, batch: BatchSize) -> Self {
        self.batch = batch;
        self
    }

    /// `schedule = …`
    pub fn schedule(mut self, schedule: Schedule) -> Self {
        self.schedule = schedule;
        self
    }

    /// `backend = …`
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// `if = …`: when false the loop runs sequentially on the calling thread.
    pub fn parallel_if(mut self, parallel: bool) -> Self {
        self.parallel_if = parallel;
        self
    }

    /// `keep_going`: run every item even after errors.
    pub fn keep_going(mut self, keep_going: bool) -> Self {
        self.keep_going = keep_going;
        self
    }

    /// `queue = N`: at most `N` batches wait for a lane (pool backend); default `2 × limit`.
    pub fn queue(mut self, n: usize) -> Self {
        self.queue = Some(n);
        self
    }

    /// `on_full = …`: what the dispatcher does when the queue is full (pool backend).
    pub fn on_full(mut self, policy: OnFull) -> Self {
        self.on_full = policy;
        self
    }

    /// `pool = PATH`: run the lanes on this pool instead of the shared default one.
    pub fn pool(mut self, pool: &Pool) -> Self {
        self.pool = Some(pool.clone());
        self
    }

    /// `backend = rayon, pool = PATH`: run the lanes on this rayon pool instead of
    /// rayon's global one.
    pub fn rayon_pool(mut self, pool: &'static rayon::ThreadPool) -> Self {
        self.rayon_pool = Some(pool);
        self
    }

    /// `timeout = DURATION`: stop dispatching once this much time has passed since the
    /// loop started; the loop then fails with [`Cancelled`](crate::Cancelled).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// `cancel = TOKEN`: stop dispatching once the token is cancelled; the loop then
    /// fails with [`Cancelled`](crate::Cancelled).
    pub fn cancel(mut self, token: &CancelToken) -> Self {
        self.cancel = Some(token.clone());
        self
    }

    /// `rate = N / s` (or a [`Rate`] value): at most `N` items start per second, on
    /// every backend, from a token bucket of `burst` tokens (default 1).
    pub fn rate(mut self, rate: Rate) -> Self {
        self.rate = Some(rate);
        self
    }

    /// `burst = B`: up to `B` items may start at once after a quiet spell (needs `rate`).
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = Some(burst);
        self
    }

    /// `rate` and `burst`, once [`checked`](Self::checked).
    pub(crate) fn rate_and_burst(&self) -> Option<(Rate, NonZeroU32)> {
        let rate = self.rate?;
        let burst = NonZeroU32::new(self.burst.unwrap_or(1)).unwrap_or(NonZeroU32::MIN);
        rate.interval().map(|_| (rate, burst))
    }

    /// The body can `break` or `return`: an error then cuts the run at its item instead
    /// of stopping it, so the items before it still run and an earlier `break` still
    /// wins, as it would sequentially.
    pub fn early_exit(mut self, early_exit: bool) -> Self {
        self.early_exit = early_exit;
        self
    }

    /// `progress` (`label = None`: the loop's name) or `progress = "label"`: a bar on
    /// stderr when it is a terminal. Draws nothing without the `progress` feature (the
    /// option is then a compile error).
    pub fn progress(mut self, label: Option<&'static str>) -> Self {
        self.progress = Some(label);
        self
    }

    /// Whether the run shows a progress bar (it then runs in batches even on one lane,
    /// so the bar moves).
    pub(crate) fn shows_progress(&self) -> bool {
        cfg!(feature = "progress") && self.progress.is_some()
    }

    /// The loop's name in stats and messages.
    pub fn name(&self) -> &'static str {
        self.site.name()
    }

    /// The bound, checked: zero panics with the option's name, its value and the
    /// loop's location (also the panic's location, through `#[track_caller]`).
    #[track_caller]
    pub(crate) fn checked_limit(&self) -> usize {
        match self.limit_or_message() {
            Ok(n) => n,
            Err(message) => panic!("{message}"),
        }
    }

    fn limit_or_message(&self) -> Result<usize, String> {
        if let (Limit::Adaptive(_), Backend::Rayon | Backend::Serial) = (self.limit, self.backend) {
            return Err(format!(
                "bounded: `limit = adaptive(...)` works on `backend = pool` and `backend = async`, not `backend = {}`, in loop `{}` at {}",
                if self.backend == Backend::Rayon { "rayon" } else { "serial" },
                self.site.name(),
                self.site.location(),
            ));
        }
        let n = self.limit.resolve();
        if n > 0 {
            return Ok(n);
        }
        let what = match self.limit {
            Limit::Fixed(_) => "`limit = …` evaluated to 0".to_string(),
            Limit::Cpus(_) => "`limit = cpus * k` evaluated to 0 (k is 0)".to_string(),
            Limit::Little { rate, latency } => format!(
                "`limit = little(rate = {rate}, latency = {latency:?})` gives no item in flight"
            ),
            Limit::Adaptive(a) => a.problem().unwrap_or_default(),
        };
        Err(format!(
            "bounded: `limit` must be at least 1, but {what} in loop `{}` at {}",
            self.site.name(),
            self.site.location(),
        ))
    }

    /// `rate` and `burst`: a rate of zero (or over a unit of zero), a burst of zero, or a
    /// burst without a rate.
    fn rate_or_message(&self) -> Result<(), String> {
        let what = match (self.rate, self.burst) {
            (Some(rate), _) if rate.interval().is_none() => format!(
                "bounded: `rate` must let at least 1 item start per unit of time, but `rate = …` evaluated to {rate}"
            ),
            (Some(_), Some(0)) => {
                "bounded: `burst` must be at least 1, but `burst = …` evaluated to 0".to_string()
            }
            (None, Some(_)) => {
                "bounded: `burst` needs a `rate`: it is the bucket's size".to_string()
            }
            _ => return Ok(()),
        };
        Err(format!(
            "{what} in loop `{}` at {}",
            self.site.name(),
            self.site.location(),
        ))
    }

    fn batch_or_message(&self) -> Result<Option<usize>, String> {
        match self.batch {
            BatchSize::Auto => Ok(None),
            BatchSize::Fixed(0) => Err(format!(
                "bounded: `batch` must be at least 1, but `batch = …` evaluated to 0 in loop `{}` at {}",
                self.site.name(),
                self.site.location(),
            )),
            BatchSize::Fixed(n) => Ok(Some(n)),
        }
    }

    /// The pool backend's queue of batches (a bounded channel of `queue` slots, made
    /// when the loop starts; keyed loops split it between their lanes): a `queue` whose
    /// buffer cannot be allocated is refused with the option's name instead of aborting
    /// the process. The other backends allocate nothing up front for `queue`.
    fn queue_or_message<S: crate::input::Source>(&self, limit: usize) -> Result<(), String> {
        if self.backend != Backend::Pool {
            return Ok(());
        }
        let (n, what) = match self.queue {
            Some(n) => (n, format!("`queue = {n}`")),
            None => {
                let n = limit.saturating_mul(2);
                (n, format!("the default queue (2 × limit = {n})"))
            }
        };
        // A slot of the channel holds a batch beside its stamp.
        crate::limit::queue_buffer::<(usize, crate::run::feed::Work<'_, S>)>(n).map_err(|e| {
            format!(
                "bounded: {what} is too large: a queue of {n} batches needs {}, which cannot be allocated, in loop `{}` at {}; give a smaller `queue` (the default is 2 × limit)",
                e.size(),
                self.site.name(),
                self.site.location(),
            )
        })
    }

    /// `limit`, `batch`, `rate`, `burst` and the pool backend's `queue`, checked before the loop takes
    /// anything from its input. A bad value drops the input's items (none has run) and
    /// panics with the option's name, its value and the loop's location, at the user's
    /// call site.
    #[track_caller]
    pub(crate) fn checked<S: crate::input::Source>(&self, source: &S) -> (usize, Option<usize>) {
        match self.limit_or_message().and_then(|l| {
            let batch = self.batch_or_message()?;
            self.queue_or_message::<S>(l)?;
            self.rate_or_message()?;
            Ok((l, batch))
        }) {
            Ok(checked) => checked,
            Err(message) => {
                crate::input::discard_all(source);
                panic!("{message}")
            }
        }
    }

    /// `limit = adaptive(...)`'s words, when the limit is adaptive.
    pub(crate) fn adaptive(&self) -> Option<crate::limit::Adaptive> {
        match self.limit {
            Limit::Adaptive(a) => Some(a),
            _ => None,
        }
    }

    /// Whether this run may use more than the calling thread.
    pub(crate) fn wants_parallel(&self) -> bool {
        self.parallel_if && self.backend != Backend::Serial && !serial_from_env()
    }
}

/// `BOUNDED_SERIAL=1` (or any value but `0` and empty) runs every loop sequentially,
/// like `OMP_NUM_THREADS=1`. Read once per process.
pub fn serial_from_env() -> bool {
    static SERIAL: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SERIAL.get_or_init(|| {
        std::env::var_os("BOUNDED_SERIAL").is_some_and(|v| !v.is_empty() && v != "0")
    })
}
