//! A long-lived channel worker pool for blocking work: [`Pool`].
//!
//! What Go users assemble from a buffered channel, a `sync.WaitGroup` and a handful of
//! goroutines, as one type: a bounded queue with a policy for when it is full, elastic
//! workers that start on demand and retire when idle, per-worker state, scopes whose
//! jobs borrow from the caller's stack, shutdown by intent, and counters that always
//! add up. The design notes are in `README.md` next to this file.
//!
//! ```
//! use bounded_runtime::pool::{Pool, Shutdown};
//! use std::sync::atomic::{AtomicUsize, Ordering};
//!
//! let pool = Pool::builder().name("io").workers(1..=4).queue(8).build().unwrap();
//! let done = AtomicUsize::new(0);
//! pool.scope(|s| {
//!     for _ in 0..100 {
//!         s.execute(|| {
//!             done.fetch_add(1, Ordering::Relaxed);
//!         })
//!         .unwrap();
//!     }
//! });
//! assert_eq!(done.load(Ordering::Relaxed), 100);
//! let stats = pool.shutdown(Shutdown::Drain);
//! assert_eq!((stats.submitted, stats.completed), (100, 100));
//! ```

mod builder;
mod job;
mod live;
mod scope;
mod shared;
pub(crate) mod sync;
#[cfg(all(test, not(loom)))]
mod test;

use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

pub use builder::{BuildError, PoolBuilder, Workers};
pub use live::{live, LivePool};
pub use scope::Scope;

use self::shared::{Shared, Task};
use self::sync::Arc;
use crate::error::Rejected;
use crate::limit::OnFull;

/// A pool of worker threads fed through a bounded queue.
///
/// Cloning a `Pool` gives another handle on the same workers. When the last handle is
/// dropped the pool shuts down with [`Shutdown::Drain`]: every accepted job runs, and
/// every worker thread has exited before the drop returns (unless the last handle is
/// dropped by one of the pool's own jobs, whose thread exits right after).
///
/// `S` is the per-worker state ([`PoolBuilder::state`]): each worker creates one before
/// its first job and hands it to every job it runs with [`Pool::execute_with`].
pub struct Pool<S: Send + 'static = ()> {
    handle: Arc<Handle<S>>,
}

struct Handle<S: Send + 'static> {
    shared: Arc<Shared<S>>,
}

impl<S: Send + 'static> Drop for Handle<S> {
    fn drop(&mut self) {
        self.shared.shutdown(Shutdown::Drain);
    }
}

impl<S: Send + 'static> Clone for Pool<S> {
    fn clone(&self) -> Self {
        Pool {
            handle: self.handle.clone(),
        }
    }
}

impl<S: Send + 'static> fmt::Debug for Pool<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("name", &self.shared().name)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Pool<()> {
    /// A builder with the defaults: `workers(1..=available_cpus())`, `queue(2 × max)`,
    /// `on_full = block`, idle workers retire after 10 s.
    pub fn builder() -> PoolBuilder<()> {
        PoolBuilder::new()
    }
}

/// How [`Pool::shutdown`] ends the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// Refuse new jobs, run every accepted one, then stop the workers.
    Drain,
    /// Refuse new jobs, drop the queued ones (counted as cancelled), tell running jobs
    /// to stop ([`cancelled`] turns true) and wait for them.
    Abort,
    /// [`Shutdown::Drain`] for at most this long, then [`Shutdown::Abort`].
    DrainWithin(Duration),
}

/// What a job's return value says about it: `()` always completed, a `Result` failed
/// when it is `Err` (the error itself is the job's to report; the pool counts it).
pub trait Outcome {
    /// Whether the job failed.
    fn failed(&self) -> bool;
}

impl Outcome for () {
    fn failed(&self) -> bool {
        false
    }
}

impl<T, E> Outcome for Result<T, E> {
    fn failed(&self) -> bool {
        self.is_err()
    }
}

/// A job that never returns (`|| panic!(…)`, `|| loop { … }`): its return type is `!`,
/// which a closure's inferred return type falls back to in edition 2024 (and which the
/// 2021 edition refuses to fall back to `()` for under a trait bound).
impl Outcome for never::Never {
    fn failed(&self) -> bool {
        match *self {}
    }
}

/// `!` by a name stable Rust accepts in an impl header: the return type of `fn() -> !`.
mod never {
    pub trait Returns {
        type Output;
    }

    impl<T> Returns for fn() -> T {
        type Output = T;
    }

    pub type Never = <fn() -> ! as Returns>::Output;
}

/// Whether the pool running the current job is being aborted: long jobs poll it to stop
/// cooperatively. Always false outside a pool's worker.
///
/// ```
/// assert!(!bounded_runtime::pool::cancelled());
/// ```
pub fn cancelled() -> bool {
    shared::current_aborting()
}

/// A snapshot of a pool's counters.
///
/// Once the pool is idle (or shut down), `submitted == completed + failed + panicked +
/// rejected + dropped + cancelled`: every job is accounted for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// The pool's name.
    pub name: String,
    /// Worker threads alive now.
    pub workers: usize,
    /// The most worker threads ever alive at once.
    pub peak_workers: usize,
    /// Workers running a job now.
    pub busy: usize,
    /// Jobs waiting for a worker now.
    pub queued: usize,
    /// Jobs offered to the pool (including refused ones).
    pub submitted: u64,
    /// Jobs that returned normally (and not `Err`).
    pub completed: u64,
    /// Jobs that returned `Err`.
    pub failed: u64,
    /// Jobs that panicked.
    pub panicked: u64,
    /// Jobs refused: a full queue under `on_full = reject`, `try_execute`, or a pool
    /// that was shutting down.
    pub rejected: u64,
    /// Jobs skipped under `on_full = drop`.
    pub dropped: u64,
    /// Jobs dropped from the queue by [`Shutdown::Abort`].
    pub cancelled: u64,
    /// Jobs run on the submitting thread under `on_full = caller_runs` (also counted
    /// in `completed`, `failed` or `panicked`).
    pub caller_ran: u64,
    /// Median time from submission to the end of the job. The percentiles time every
    /// job of the pool's first 256, then one in eight.
    pub p50: Duration,
    /// 90th percentile of the same.
    pub p90: Duration,
    /// 99th percentile of the same.
    pub p99: Duration,
}

impl PoolStats {
    /// Jobs with an outcome: everything but the ones still queued or running.
    pub fn accounted(&self) -> u64 {
        self.completed + self.failed + self.panicked + self.rejected + self.dropped + self.cancelled
    }
}

impl<S: Send + 'static> Pool<S> {
    fn shared(&self) -> &Arc<Shared<S>> {
        &self.handle.shared
    }

    /// Runs `job` on a worker, applying the pool's `on_full` policy when the queue is
    /// full. `Err(Rejected)` under `on_full = reject` or once the pool shuts down; a job
    /// skipped under `on_full = drop` returns `Ok` and is counted in `dropped`.
    ///
    /// ```
    /// use bounded_runtime::pool::{Pool, Shutdown};
    /// let pool = Pool::builder().workers(2).build().unwrap();
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// pool.execute(move || tx.send(6 * 7).unwrap()).unwrap();
    /// assert_eq!(rx.recv().unwrap(), 42);
    /// // A job that only panics is counted as panicked; the worker lives on.
    /// pool.execute(|| panic!("a job that never returns")).unwrap();
    /// assert_eq!(pool.shutdown(Shutdown::Drain).panicked, 1);
    /// ```
    pub fn execute<F, R>(&self, job: F) -> Result<(), Rejected>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Outcome,
    {
        self.execute_with(move |_: &mut S| job())
    }

    /// Like [`Pool::execute`], with the worker's state (`PoolBuilder::state`).
    ///
    /// ```
    /// use bounded_runtime::pool::Pool;
    /// let pool = Pool::builder().workers(1).state(|| Vec::<u8>::with_capacity(64)).build().unwrap();
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// pool.execute_with(move |buf: &mut Vec<u8>| {
    ///     buf.clear();
    ///     buf.extend_from_slice(b"reused");
    ///     tx.send(buf.len()).unwrap();
    /// })
    /// .unwrap();
    /// assert_eq!(rx.recv().unwrap(), 6);
    /// ```
    pub fn execute_with<F, R>(&self, job: F) -> Result<(), Rejected>
    where
        F: FnOnce(&mut S) -> R + Send + 'static,
        R: Outcome,
    {
        let shared = self.shared();
        shared.submit(Task::new(job, None), shared.on_full)
    }

    /// Runs `job` on a worker if one can take it or the queue has room; otherwise
    /// returns `Err(Rejected)` at once, whatever the `on_full` policy (Go's `TrySubmit`).
    ///
    /// ```
    /// use bounded_runtime::pool::Pool;
    /// use std::sync::mpsc::channel;
    /// let pool = Pool::builder().workers(1).queue(0).build().unwrap();
    /// let (release, wait) = channel::<()>();
    /// let (started, on_start) = channel::<()>();
    /// pool.execute(move || {
    ///     started.send(()).unwrap();
    ///     wait.recv().unwrap();
    /// })
    /// .unwrap();
    /// on_start.recv().unwrap();
    /// // One worker, busy, and no queue: the next job is refused rather than waiting.
    /// assert!(pool.try_execute(|| ()).is_err());
    /// release.send(()).unwrap();
    /// ```
    pub fn try_execute<F, R>(&self, job: F) -> Result<(), Rejected>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Outcome,
    {
        self.shared()
            .submit(Task::new(move |_: &mut S| job(), None), OnFull::Reject)
    }

    /// Runs `f`, whose jobs may borrow from the caller's stack, and waits for all of
    /// them. Re-raises the first job panic after every job has ended; if `f` itself
    /// panics, still waits for the jobs it started before unwinding.
    ///
    /// ```
    /// use bounded_runtime::pool::Pool;
    /// let pool = Pool::builder().workers(2).build().unwrap();
    /// let mut parts = vec![0u64; 4];
    /// pool.scope(|s| {
    ///     for (i, part) in parts.iter_mut().enumerate() {
    ///         s.execute(move || *part = (i as u64 + 1) * 10).unwrap();
    ///     }
    /// });
    /// assert_eq!(parts, [10, 20, 30, 40]);
    /// ```
    pub fn scope<'env, F, T>(&self, f: F) -> T
    where
        F: FnOnce(&Scope<'env, S>) -> T,
    {
        scope::run(&self.handle.shared, f)
    }

    /// Ends the pool (every handle) and waits for its workers; returns the final counts.
    /// Later submissions are rejected. Calling it again is harmless.
    ///
    /// ```
    /// use bounded_runtime::pool::{Pool, Shutdown};
    /// use std::time::Duration;
    /// let pool = Pool::builder().workers(1).queue(100).build().unwrap();
    /// for _ in 0..10 {
    ///     pool.execute(|| std::thread::sleep(Duration::from_millis(20))).unwrap();
    /// }
    /// let stats = pool.shutdown(Shutdown::Abort);
    /// // The running job finished; the queued ones were dropped, and each is counted.
    /// assert_eq!(stats.completed + stats.cancelled, 10);
    /// assert!(stats.cancelled >= 8);
    /// assert_eq!(stats.workers, 0);
    /// assert!(pool.execute(|| ()).is_err());
    /// ```
    pub fn shutdown(&self, mode: Shutdown) -> PoolStats {
        self.shared().shutdown(mode);
        self.stats()
    }

    /// The counters now.
    pub fn stats(&self) -> PoolStats {
        self.shared().stats()
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.shared().name
    }

    /// Whether the current thread is one of this pool's workers.
    pub fn is_worker_thread(&self) -> bool {
        self.shared().is_current_worker()
    }
}

/// The pool `backend = pool` uses when no `pool = PATH` is given: started on first use,
/// reused by every loop, threads started on demand and retired after 10 idle seconds.
///
/// ```
/// let pool = bounded_runtime::pool::shared_io_pool();
/// assert_eq!(pool.name(), "bounded-io");
/// ```
pub fn shared_io_pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        Pool::builder()
            .name("bounded-io")
            .workers(Workers { min: 0, max: 1024 })
            .queue(1024)
            .idle_timeout(Duration::from_secs(10))
            .build()
            .expect("the shared pool's configuration is valid")
    })
}
