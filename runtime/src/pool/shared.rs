//! The state every handle and worker of one pool shares: the queue, the worker
//! bookkeeping, the counters. One mutex guards the queue and the counts that decide
//! where a job goes; the outcome counters are atomics, so reading stats never blocks
//! a worker.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::time::{Duration, Instant};

use super::builder::Workers;
use super::scope::ScopeRef;
use super::sync::{thread, Arc, AtomicBool, AtomicU64, AtomicUsize, Condvar, Mutex, MutexGuard};
use super::{PoolStats, Shutdown};
use crate::error::Rejected;
use crate::limit::{when_full, Full, OnFull, WhenFull};
use crate::stats::Histogram;

type Job<S> = Box<dyn FnOnce(&mut S) -> bool + Send + 'static>;

/// One accepted job.
pub(crate) struct Task<S> {
    // Field order matters: the job (and what it borrows) is dropped before the scope
    // hears that the job is over.
    job: Job<S>,
    submitted: Instant,
    scope: Option<ScopeRef>,
}

impl<S> Task<S> {
    pub(crate) fn new<F, R>(job: F, scope: Option<ScopeRef>) -> Self
    where
        F: FnOnce(&mut S) -> R + Send + 'static,
        R: super::Outcome,
    {
        Task {
            job: Box::new(move |state: &mut S| job(state).failed()),
            submitted: Instant::now(),
            scope,
        }
    }

    /// A job whose captures live only as long as `scope` waits.
    ///
    /// # Safety
    ///
    /// The caller guarantees that everything `job` borrows outlives the moment the
    /// returned task is dropped (after running or not), which a scope ensures by waiting
    /// for its [`ScopeRef`]s before returning.
    pub(crate) unsafe fn scoped<'env>(
        job: Box<dyn FnOnce(&mut S) -> bool + Send + 'env>,
        scope: ScopeRef,
    ) -> Self {
        // SAFETY: only the lifetime changes; the caller upholds that the job is dropped
        // before `'env` ends.
        let job: Job<S> = unsafe {
            std::mem::transmute::<
                Box<dyn FnOnce(&mut S) -> bool + Send + 'env>,
                Box<dyn FnOnce(&mut S) -> bool + Send + 'static>,
            >(job)
        };
        Task {
            job,
            submitted: Instant::now(),
            scope: Some(scope),
        }
    }
}

struct State<S> {
    queue: VecDeque<Task<S>>,
    /// Workers waiting for a job and not yet woken for one.
    idle: usize,
    /// Wake-ups granted to idle workers for jobs pushed to the queue.
    tokens: usize,
    /// Worker threads alive (or being started).
    workers: usize,
    /// Workers of this pool blocked in a scope wait: the pool may start as many extra
    /// workers, so waiting on the pool's own jobs cannot starve it.
    blocked_workers: usize,
    /// Submitters waiting for room.
    waiting_submitters: usize,
    /// Worker threads counted in `workers` whose handle is not in `threads` yet:
    /// shutdown waits for them too, so it never returns before it can join them.
    starting: usize,
    closed: bool,
    threads: Vec<(usize, thread::JoinHandle<()>)>,
    /// Workers that retired after an idle timeout: still running their last steps
    /// (dropping their state), so shutdown joins them too. Finished ones are pruned
    /// whenever another worker retires.
    retired: Vec<thread::JoinHandle<()>>,
}

/// Outcome counters, split by who writes them so submitters and workers do not
/// contend for one cache line.
#[derive(Default)]
struct Counters {
    /// Written by submitters.
    submit: Padded<SubmitCounters>,
    /// Written by workers (and by submitters running a job themselves).
    run: Padded<RunCounters>,
    peak_workers: AtomicUsize,
}

#[derive(Default)]
struct SubmitCounters {
    submitted: AtomicU64,
    rejected: AtomicU64,
    dropped: AtomicU64,
    cancelled: AtomicU64,
    caller_ran: AtomicU64,
}

#[derive(Default)]
struct RunCounters {
    completed: AtomicU64,
    failed: AtomicU64,
    panicked: AtomicU64,
}

/// Aligned to two cache lines (adjacent-line prefetching pairs them on x86).
#[derive(Default)]
#[repr(align(128))]
struct Padded<T>(T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

enum Next<S> {
    Run(Task<S>),
    Retired,
    Closed,
}

pub(crate) struct Shared<S> {
    pub(crate) name: String,
    min: usize,
    max: usize,
    idle_timeout: Duration,
    capacity: usize,
    pub(crate) on_full: OnFull,
    make_state: Arc<dyn Fn() -> S + Send + Sync>,
    pin_cores: bool,
    state: Mutex<State<S>>,
    /// Idle workers wait here for jobs.
    work: Condvar,
    /// Blocked submitters wait here for room.
    room: Condvar,
    /// Shutdown waits here for workers to exit.
    exited: Condvar,
    aborting: Arc<AtomicBool>,
    /// The queue's length, readable without the lock (workers spin on it before they
    /// sleep).
    queued: AtomicUsize,
    /// Workers between two jobs: done with one, not yet asleep or on the next.
    finishing: AtomicUsize,
    next_worker: AtomicUsize,
    counters: Counters,
    /// Submission-to-end latency, sharded by worker so workers finishing similar jobs
    /// do not all increment the same bucket.
    latency: Box<[Histogram]>,
}

const LATENCY_SHARDS: usize = 4;

#[cfg(not(loom))]
mod current {
    use std::cell::RefCell;
    use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
    use std::sync::Arc;

    thread_local! {
        /// The pool this thread works for: its identity and its abort flag.
        static CURRENT: RefCell<Option<(usize, Arc<AtomicBool>)>> = const { RefCell::new(None) };
    }

    pub(super) fn enter(pool: usize, aborting: Arc<AtomicBool>) {
        CURRENT.with(|c| *c.borrow_mut() = Some((pool, aborting)));
    }

    pub(super) fn leave() {
        CURRENT.with(|c| *c.borrow_mut() = None);
    }

    pub(super) fn pool() -> Option<usize> {
        CURRENT.with(|c| c.borrow().as_ref().map(|(id, _)| *id))
    }

    pub(super) fn aborting() -> bool {
        CURRENT.with(|c| c.borrow().as_ref().is_some_and(|(_, a)| a.load(Relaxed)))
    }
}

#[cfg(loom)]
mod current {
    use super::{Arc, AtomicBool};
    pub(super) fn enter(_: usize, _: Arc<AtomicBool>) {}
    pub(super) fn leave() {}
    pub(super) fn pool() -> Option<usize> {
        None
    }
    pub(super) fn aborting() -> bool {
        false
    }
}

pub(crate) fn current_aborting() -> bool {
    current::aborting()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Jobs never run under this lock, so a poisoned lock only means a bookkeeping
    // panic elsewhere; the state itself is consistent at every unlock.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<S: Send + 'static> Shared<S> {
    pub(crate) fn new(
        name: String,
        workers: Workers,
        idle_timeout: Duration,
        capacity: usize,
        on_full: OnFull,
        make_state: Arc<dyn Fn() -> S + Send + Sync>,
        pin_cores: bool,
    ) -> Self {
        Shared {
            name,
            min: workers.min,
            max: workers.max,
            idle_timeout,
            capacity,
            on_full,
            make_state,
            pin_cores,
            state: Mutex::new(State {
                queue: VecDeque::new(),
                idle: 0,
                tokens: 0,
                workers: 0,
                blocked_workers: 0,
                waiting_submitters: 0,
                starting: 0,
                closed: false,
                threads: Vec::new(),
                retired: Vec::new(),
            }),
            work: Condvar::new(),
            room: Condvar::new(),
            exited: Condvar::new(),
            aborting: Arc::new(AtomicBool::new(false)),
            queued: AtomicUsize::new(0),
            finishing: AtomicUsize::new(0),
            next_worker: AtomicUsize::new(0),
            counters: Counters::default(),
            latency: (0..LATENCY_SHARDS).map(|_| Histogram::default()).collect(),
        }
    }

    fn id(&self) -> usize {
        self as *const Self as usize
    }

    pub(crate) fn is_current_worker(&self) -> bool {
        current::pool() == Some(self.id())
    }

    pub(crate) fn prestart(this: &Arc<Self>) {
        let mut st = lock(&this.state);
        while st.workers < this.min {
            st.workers += 1;
            st.starting += 1;
            this.note_workers(st.workers);
            drop(st);
            let spawned = Self::spawn(this, None);
            st = lock(&this.state);
            st.starting -= 1;
            this.exited.notify_all();
            match spawned {
                Ok(entry) => st.threads.push(entry),
                Err(_) => {
                    st.workers -= 1;
                    break;
                }
            }
        }
    }

    fn note_workers(&self, now: usize) {
        self.counters.peak_workers.fetch_max(now, Relaxed);
    }

    /// Offers `task` to the pool under `policy`.
    pub(crate) fn submit(self: &Arc<Self>, task: Task<S>, policy: OnFull) -> Result<(), Rejected> {
        self.place(task, policy, true)
    }

    /// Places `task` only if a worker or the queue can take it now, never on this
    /// thread; a refusal is not counted (the job was never the pool's).
    pub(crate) fn offer(self: &Arc<Self>, task: Task<S>) -> bool {
        self.place(task, OnFull::Reject, false).is_ok()
    }

    fn place(
        self: &Arc<Self>,
        task: Task<S>,
        policy: OnFull,
        counted: bool,
    ) -> Result<(), Rejected> {
        self.counters.submit.submitted.fetch_add(1, Relaxed);
        let refuse = |task: Task<S>| {
            if counted {
                self.counters.submit.rejected.fetch_add(1, Relaxed);
            } else {
                self.counters.submit.submitted.fetch_sub(1, Relaxed);
            }
            drop(task);
            Err(Rejected)
        };
        let mut st = lock(&self.state);
        loop {
            if st.closed {
                drop(st);
                return refuse(task);
            }
            if st.idle > 0 {
                // Hand the job to a waiting worker.
                st.idle -= 1;
                st.tokens += 1;
                st.queue.push_back(task);
                self.queued.store(st.queue.len(), Relaxed);
                drop(st);
                self.work.notify_one();
                return Ok(());
            }
            // A worker that just finished a job is about to look for the next: give it
            // this one rather than start a thread (loops that run back to back would
            // otherwise grow the pool past what they use).
            let unpromised = st.queue.len().saturating_sub(st.tokens);
            if self.finishing.load(Relaxed) > unpromised {
                st.queue.push_back(task);
                self.queued.store(st.queue.len(), Relaxed);
                return Ok(());
            }
            if st.workers < self.max + st.blocked_workers {
                st.workers += 1;
                st.starting += 1;
                self.note_workers(st.workers);
                drop(st);
                let spawned = Self::spawn(self, Some(task));
                st = lock(&self.state);
                st.starting -= 1;
                match spawned {
                    Ok(entry) => {
                        st.threads.push(entry);
                        drop(st);
                        self.exited.notify_all();
                        return Ok(());
                    }
                    Err(task_back) => {
                        // The OS refused a thread: carry on with the workers there are.
                        let task_back = task_back.expect("the task was not taken");
                        st.workers -= 1;
                        self.exited.notify_all();
                        if st.workers == 0 {
                            drop(st);
                            return refuse(task_back);
                        }
                        st.queue.push_back(task_back);
                        self.queued.store(st.queue.len(), Relaxed);
                        return Ok(());
                    }
                }
            }
            if st.queue.len() < self.capacity + st.tokens {
                st.queue.push_back(task);
                self.queued.store(st.queue.len(), Relaxed);
                return Ok(());
            }
            // A worker blocking on its own pool's full queue could wait for itself: it
            // runs the job instead.
            let full = Full {
                can_run_here: true,
                waiting_could_deadlock: self.is_current_worker(),
            };
            match when_full(policy, full) {
                WhenFull::Wait => {
                    st.waiting_submitters += 1;
                    st = self.room.wait(st).unwrap_or_else(|e| e.into_inner());
                    st.waiting_submitters -= 1;
                }
                WhenFull::RunHere => {
                    drop(st);
                    self.counters.submit.caller_ran.fetch_add(1, Relaxed);
                    self.run_task(task, &mut None, 0);
                    return Ok(());
                }
                WhenFull::Shed => {
                    drop(st);
                    self.counters.submit.dropped.fetch_add(1, Relaxed);
                    drop(task);
                    return Ok(());
                }
                WhenFull::Refuse => {
                    drop(st);
                    return refuse(task);
                }
            }
        }
    }

    /// Starts a worker thread, giving it `first` to run. On failure gives the task back.
    #[allow(clippy::type_complexity)]
    fn spawn(
        this: &Arc<Self>,
        first: Option<Task<S>>,
    ) -> Result<(usize, thread::JoinHandle<()>), Option<Task<S>>> {
        let index = this.next_worker.fetch_add(1, Relaxed);
        let shared = this.clone();
        // The task travels through a slot so it can be recovered if the spawn fails.
        let slot = Arc::new(Mutex::new(first));
        let slot_in = slot.clone();
        let spawned = spawn_named(format!("{}-{}", this.name, index), move || {
            let first = lock(&slot_in).take();
            shared.work_loop(index, first);
        });
        match spawned {
            Ok(handle) => Ok((index, handle)),
            Err(()) => Err(lock(&slot).take()),
        }
    }

    fn work_loop(self: Arc<Self>, index: usize, first: Option<Task<S>>) {
        current::enter(self.id(), self.aborting.clone());
        if self.pin_cores {
            pin::to_core(index);
        }
        let mut state: Option<S> = None;
        if let Some(task) = first {
            self.run_task(task, &mut state, index);
        }
        let retired = loop {
            self.finishing.fetch_add(1, Relaxed);
            match self.next_task(index) {
                Next::Run(task) => self.run_task(task, &mut state, index),
                Next::Retired => break true,
                Next::Closed => break false,
            }
        };
        drop(state);
        current::leave();
        if !retired {
            lock(&self.state).workers -= 1;
            self.exited.notify_all();
        }
    }

    /// Waits for the next job.
    /// The caller counted itself in `finishing`; this takes it out again when the
    /// worker takes a job, sleeps, or leaves.
    fn next_task(&self, index: usize) -> Next<S> {
        let mut st = lock(&self.state);
        let mut spun = false;
        let mut finishing = true;
        let done_finishing = |finishing: &mut bool| {
            if std::mem::take(finishing) {
                self.finishing.fetch_sub(1, Relaxed);
            }
        };
        loop {
            if let Some(task) = st.queue.pop_front() {
                done_finishing(&mut finishing);
                self.queued.store(st.queue.len(), Relaxed);
                if st.waiting_submitters > 0 {
                    self.room.notify_one();
                }
                return Next::Run(task);
            }
            if st.closed {
                done_finishing(&mut finishing);
                return Next::Closed;
            }
            if !spun {
                // Jobs often arrive back to back: look for one briefly before sleeping,
                // so a busy submitter does not pay a wake-up per job.
                drop(st);
                self.spin_for_work();
                st = lock(&self.state);
                spun = true;
                continue;
            }
            spun = false;
            done_finishing(&mut finishing);
            st.idle += 1;
            if st.waiting_submitters > 0 {
                // An idle worker is room for a hand-off.
                self.room.notify_one();
            }
            let (guard, timeout) = self
                .work
                .wait_timeout(st, self.idle_timeout)
                .unwrap_or_else(|e| e.into_inner());
            st = guard;
            if st.tokens > 0 {
                st.tokens -= 1;
            } else {
                st.idle -= 1;
                if timeout.timed_out()
                    && st.queue.is_empty()
                    && !st.closed
                    && st.workers > self.min + st.blocked_workers
                {
                    // Leave the count under the same lock that decided it, so no
                    // submitter counts on this worker; nobody joins it: detach.
                    st.workers -= 1;
                    if let Some(k) = st.threads.iter().position(|(i, _)| *i == index) {
                        let (_, handle) = st.threads.swap_remove(k);
                        st.retired.retain(|h| !finished(h));
                        st.retired.push(handle);
                    }
                    drop(st);
                    self.exited.notify_all();
                    return Next::Retired;
                }
            }
        }
    }

    /// Runs one task; its state is made first if this thread has none yet (inside the
    /// same panic guard, so a panicking constructor counts as that job's panic).
    /// Spins, then yields, for a few microseconds while the queue is empty.
    fn spin_for_work(&self) {
        for step in 0..10u32 {
            if self.queued.load(Relaxed) > 0 {
                return;
            }
            if step < 6 {
                for _ in 0..(1u32 << step) {
                    std::hint::spin_loop();
                }
            } else {
                thread::yield_now();
            }
        }
    }

    fn run_task(&self, task: Task<S>, state: &mut Option<S>, shard: usize) {
        let make = &self.make_state;
        let Task {
            job,
            submitted,
            scope,
        } = task;
        let result = catch_unwind(AssertUnwindSafe(
            || job(state.get_or_insert_with(|| make())),
        ));
        self.finish(shard, result, submitted, scope);
    }

    fn finish(
        &self,
        shard: usize,
        result: std::thread::Result<bool>,
        submitted: Instant,
        scope: Option<ScopeRef>,
    ) {
        match result {
            Ok(false) => self.counters.run.completed.fetch_add(1, Relaxed),
            Ok(true) => self.counters.run.failed.fetch_add(1, Relaxed),
            Err(payload) => {
                if let Some(scope) = &scope {
                    scope.panicked(payload);
                }
                self.counters.run.panicked.fetch_add(1, Relaxed)
            }
        };
        self.latency[shard % LATENCY_SHARDS].record(submitted.elapsed());
        drop(scope);
    }

    /// A worker of this pool is about to block until other jobs finish (a scope wait):
    /// let the pool start a replacement so those jobs can run.
    pub(crate) fn enter_blocking(self: &Arc<Self>) -> bool {
        if !self.is_current_worker() {
            return false;
        }
        let mut st = lock(&self.state);
        st.blocked_workers += 1;
        let replace = !st.queue.is_empty() && st.idle == 0 && !st.closed;
        if replace {
            st.workers += 1;
            st.starting += 1;
            self.note_workers(st.workers);
        }
        drop(st);
        if replace {
            let spawned = Self::spawn(self, None);
            let mut st = lock(&self.state);
            st.starting -= 1;
            match spawned {
                Ok(entry) => st.threads.push(entry),
                Err(_) => st.workers -= 1,
            }
            drop(st);
            self.exited.notify_all();
        }
        true
    }

    pub(crate) fn exit_blocking(&self) {
        lock(&self.state).blocked_workers -= 1;
    }

    pub(crate) fn shutdown(&self, mode: Shutdown) {
        let mut st = lock(&self.state);
        st.closed = true;
        drop(st);
        self.work.notify_all();
        self.room.notify_all();
        let deadline = match mode {
            Shutdown::Drain => None,
            Shutdown::Abort => Some(Instant::now()),
            Shutdown::DrainWithin(d) => Some(Instant::now() + d),
        };
        // Our own worker (the last handle dropped by a job) cannot wait for itself.
        let me = usize::from(self.is_current_worker());
        let mut st = lock(&self.state);
        let mut aborted = false;
        while st.workers > me || st.starting > 0 {
            match deadline {
                Some(deadline) if !aborted && Instant::now() >= deadline => {
                    aborted = true;
                    self.aborting.store(true, SeqCst);
                    let queued: Vec<Task<S>> = st.queue.drain(..).collect();
                    self.queued.store(0, Relaxed);
                    drop(st);
                    self.counters
                        .submit
                        .cancelled
                        .fetch_add(queued.len() as u64, Relaxed);
                    drop(queued);
                    st = lock(&self.state);
                }
                Some(deadline) if !aborted => {
                    let wait = deadline.saturating_duration_since(Instant::now());
                    st = self
                        .exited
                        .wait_timeout(st, wait)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                _ => st = self.exited.wait(st).unwrap_or_else(|e| e.into_inner()),
            }
        }
        if me == 0 && !aborted && !st.queue.is_empty() {
            // No worker left to run them (every spawn failed): they are cancelled.
            let queued: Vec<Task<S>> = st.queue.drain(..).collect();
            self.queued.store(0, Relaxed);
            self.counters
                .submit
                .cancelled
                .fetch_add(queued.len() as u64, Relaxed);
            drop(st);
            drop(queued);
            st = lock(&self.state);
        }
        let mut threads = std::mem::take(&mut st.threads);
        threads.extend(std::mem::take(&mut st.retired).into_iter().map(|h| (0, h)));
        drop(st);
        let own = thread::current().id();
        for (_, handle) in threads {
            if handle.thread().id() != own {
                let _ = handle.join();
            }
        }
    }

    pub(crate) fn stats(&self) -> PoolStats {
        let st = lock(&self.state);
        let (workers, queued) = (st.workers, st.queue.len());
        let busy = st.workers.saturating_sub(st.idle + st.tokens);
        drop(st);
        let c = &self.counters;
        PoolStats {
            name: self.name.clone(),
            workers,
            peak_workers: c.peak_workers.load(Relaxed),
            busy,
            queued,
            submitted: c.submit.submitted.load(Relaxed),
            completed: c.run.completed.load(Relaxed),
            failed: c.run.failed.load(Relaxed),
            panicked: c.run.panicked.load(Relaxed),
            rejected: c.submit.rejected.load(Relaxed),
            dropped: c.submit.dropped.load(Relaxed),
            cancelled: c.submit.cancelled.load(Relaxed),
            caller_ran: c.submit.caller_ran.load(Relaxed),
            p50: Histogram::percentile_of(&self.latency, 0.50),
            p90: Histogram::percentile_of(&self.latency, 0.90),
            p99: Histogram::percentile_of(&self.latency, 0.99),
        }
    }
}

#[cfg(not(loom))]
fn finished(handle: &thread::JoinHandle<()>) -> bool {
    handle.is_finished()
}

#[cfg(loom)]
fn finished(_: &thread::JoinHandle<()>) -> bool {
    false
}

#[cfg(not(loom))]
fn spawn_named(
    name: String,
    f: impl FnOnce() + Send + 'static,
) -> Result<thread::JoinHandle<()>, ()> {
    thread::Builder::new().name(name).spawn(f).map_err(|_| ())
}

#[cfg(loom)]
fn spawn_named(
    _name: String,
    f: impl FnOnce() + Send + 'static,
) -> Result<thread::JoinHandle<()>, ()> {
    Ok(thread::spawn(f))
}

#[cfg(all(feature = "pinning", target_os = "linux", not(loom)))]
mod pin {
    /// Pins the calling thread to the `index`-th CPU of the process's affinity mask.
    pub(super) fn to_core(index: usize) {
        // SAFETY: `cpu_set_t` is plain data; the libc calls get valid pointers and the
        // size of the set they point to.
        unsafe {
            let mut allowed: libc::cpu_set_t = std::mem::zeroed();
            if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut allowed) != 0
            {
                return;
            }
            let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
                .filter(|&c| libc::CPU_ISSET(c, &allowed))
                .collect();
            if cpus.is_empty() {
                return;
            }
            let mut one: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpus[index % cpus.len()], &mut one);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &one);
        }
    }
}

#[cfg(not(all(feature = "pinning", target_os = "linux", not(loom))))]
mod pin {
    pub(super) fn to_core(_: usize) {}
}
