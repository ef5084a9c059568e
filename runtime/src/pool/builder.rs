//! Configuring a pool: every setting is checked in [`PoolBuilder::build`], so a bad
//! configuration is an `Err` there and never a panic later.

use std::fmt;
use std::ops::RangeInclusive;
use std::panic::Location;
use std::time::Duration;

use super::shared::{Shared, Task};
use super::sync::Arc;
use super::{Handle, Pool};
use crate::limit::{available_cpus, queue_buffer, OnFull};

/// How many worker threads a pool may have: a fixed number or an elastic `min..=max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workers {
    /// Workers kept alive even when idle.
    pub min: usize,
    /// Workers alive at most.
    pub max: usize,
}

impl From<usize> for Workers {
    fn from(n: usize) -> Self {
        Workers { min: n, max: n }
    }
}

impl From<RangeInclusive<usize>> for Workers {
    fn from(r: RangeInclusive<usize>) -> Self {
        Workers {
            min: *r.start(),
            max: *r.end(),
        }
    }
}

/// Why [`PoolBuilder::build`] refused a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildError {
    /// `workers(0)` or `workers(n..=0)`: a pool needs at least one worker.
    NoWorkers,
    /// `workers(min..=max)` with `min > max`.
    MinAboveMax {
        /// The lower bound given.
        min: usize,
        /// The upper bound given.
        max: usize,
    },
    /// `idle_timeout(Duration::ZERO)`: workers above `min` would retire between jobs.
    ZeroIdleTimeout,
    /// `prestart()` with `min = 0`: there is nothing to start.
    PrestartWithoutMin,
    /// A queue of this many jobs could not be held in memory (its buffer's size does
    /// not fit in the address space, or the allocator refuses it).
    QueueTooLarge {
        /// The queue's length in jobs.
        queue: usize,
        /// Where `queue(n)` was called; `None` for the default queue (2 × max workers).
        at: Option<&'static Location<'static>>,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::NoWorkers => {
                f.write_str("a pool needs at least one worker: use `workers(n)` with n >= 1")
            }
            BuildError::MinAboveMax { min, max } => write!(
                f,
                "`workers({min}..={max})`: the minimum is above the maximum"
            ),
            BuildError::ZeroIdleTimeout => f.write_str(
                "`idle_timeout` must be above zero (use `workers(n)` for workers that never retire)",
            ),
            BuildError::PrestartWithoutMin => f.write_str(
                "`prestart` starts the minimum number of workers, but it is 0: use `workers(min..=max)` with min >= 1",
            ),
            BuildError::QueueTooLarge { queue, at } => {
                match at {
                    Some(at) => write!(f, "`queue({queue})` at {at}")?,
                    None => write!(f, "the default queue (2 × max workers = {queue})")?,
                }
                write!(
                    f,
                    " is too large: a queue of {queue} jobs cannot be allocated; give a smaller `queue(n)`"
                )
            }
        }
    }
}

impl std::error::Error for BuildError {}

/// Builds a [`Pool`]; start with [`Pool::builder`].
///
/// ```
/// use bounded_runtime::pool::{BuildError, Pool};
/// use bounded_runtime::OnFull;
/// use std::time::Duration;
///
/// let pool = Pool::builder()
///     .name("uploads")
///     .workers(2..=16)
///     .idle_timeout(Duration::from_secs(30))
///     .prestart()
///     .queue(64)
///     .on_full(OnFull::CallerRuns)
///     .build()
///     .unwrap();
/// assert_eq!(pool.stats().workers, 2);
///
/// assert_eq!(
///     Pool::builder().workers(8..=2).build().unwrap_err(),
///     BuildError::MinAboveMax { min: 8, max: 2 }
/// );
/// ```
pub struct PoolBuilder<S = ()> {
    name: String,
    workers: Option<Workers>,
    idle_timeout: Duration,
    prestart: bool,
    /// `queue(n)`, and where it was called.
    queue: Option<(usize, &'static Location<'static>)>,
    on_full: OnFull,
    state: Arc<dyn Fn() -> S + Send + Sync>,
    pin_cores: bool,
}

impl PoolBuilder<()> {
    pub(super) fn new() -> Self {
        PoolBuilder {
            name: "pool".to_owned(),
            workers: None,
            idle_timeout: Duration::from_secs(10),
            prestart: false,
            queue: None,
            on_full: OnFull::Block,
            state: Arc::new(|| ()),
            pin_cores: false,
        }
    }
}

impl<S: Send + 'static> PoolBuilder<S> {
    /// Names the pool in stats and its threads (`name-0`, `name-1`, …).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// `workers(n)`: exactly `n` threads; `workers(min..=max)`: threads start on demand
    /// up to `max` and those above `min` retire after [`idle_timeout`](Self::idle_timeout).
    /// Default `1..=available_cpus()`.
    pub fn workers(mut self, workers: impl Into<Workers>) -> Self {
        self.workers = Some(workers.into());
        self
    }

    /// How long a worker above the minimum waits for a job before it exits. Default 10 s.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Starts the minimum number of workers (and their state) in `build`, so the first
    /// jobs do not pay for thread start-up.
    pub fn prestart(mut self) -> Self {
        self.prestart = true;
        self
    }

    /// At most `n` jobs wait for a worker; `0` means direct hand-off (a job is accepted
    /// only when a worker can take it at once). Default `2 × max workers`. A queue
    /// whose buffer cannot be allocated is an `Err` from [`build`](Self::build) that
    /// names this call's location.
    ///
    /// ```
    /// use bounded_runtime::pool::{BuildError, Pool};
    /// let err = Pool::builder().queue(usize::MAX).build().unwrap_err();
    /// assert!(matches!(err, BuildError::QueueTooLarge { queue: usize::MAX, at: Some(_) }));
    /// ```
    #[track_caller]
    pub fn queue(mut self, n: usize) -> Self {
        self.queue = Some((n, Location::caller()));
        self
    }

    /// What [`Pool::execute`] does when the queue is full. Default [`OnFull::Block`].
    pub fn on_full(mut self, policy: OnFull) -> Self {
        self.on_full = policy;
        self
    }

    /// Per-worker state: `make` runs on each worker before its first job, and the state
    /// is handed to every job that worker runs ([`Pool::execute_with`]). A job run on the
    /// submitting thread (`on_full = caller_runs`) gets a state made for it.
    pub fn state<T: Send + 'static>(
        self,
        make: impl Fn() -> T + Send + Sync + 'static,
    ) -> PoolBuilder<T> {
        PoolBuilder {
            name: self.name,
            workers: self.workers,
            idle_timeout: self.idle_timeout,
            prestart: self.prestart,
            queue: self.queue,
            on_full: self.on_full,
            state: Arc::new(make),
            pin_cores: self.pin_cores,
        }
    }

    /// Pins worker `k` to the `k`-th CPU this process may run on (round robin), like Go's
    /// `LockOSThread` plus an affinity mask: for cache-heavy per-worker state. Needs the
    /// `pinning` feature; Linux only.
    ///
    /// ```
    /// # #[cfg(all(feature = "pinning", target_os = "linux"))] {
    /// let pool = bounded_runtime::pool::Pool::builder().workers(2).pin_cores(true).build().unwrap();
    /// # drop(pool);
    /// # }
    /// ```
    #[cfg(all(feature = "pinning", target_os = "linux"))]
    pub fn pin_cores(mut self, pin: bool) -> Self {
        self.pin_cores = pin;
        self
    }

    /// Checks the configuration and starts the pool (and, with `prestart`, its workers).
    pub fn build(self) -> Result<Pool<S>, BuildError> {
        let workers = self.workers.unwrap_or(Workers {
            min: 1,
            max: available_cpus(),
        });
        if workers.max == 0 {
            return Err(BuildError::NoWorkers);
        }
        if workers.min > workers.max {
            return Err(BuildError::MinAboveMax {
                min: workers.min,
                max: workers.max,
            });
        }
        if self.idle_timeout.is_zero() {
            return Err(BuildError::ZeroIdleTimeout);
        }
        if self.prestart && workers.min == 0 {
            return Err(BuildError::PrestartWithoutMin);
        }
        let (queue, at) = match self.queue {
            Some((n, at)) => (n, Some(at)),
            None => (workers.max.saturating_mul(2), None),
        };
        if queue_buffer::<Task<S>>(queue).is_err() {
            return Err(BuildError::QueueTooLarge { queue, at });
        }
        let shared = Arc::new(Shared::new(
            self.name,
            workers,
            self.idle_timeout,
            queue,
            self.on_full,
            self.state,
            self.pin_cores,
        ));
        #[cfg(not(loom))]
        super::live::register(&shared, workers.max);
        if self.prestart {
            Shared::prestart(&shared);
        }
        Ok(Pool {
            handle: Arc::new(Handle { shared }),
        })
    }
}
