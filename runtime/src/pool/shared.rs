//! The state every handle and worker of one pool shares: the queue, the worker
//! bookkeeping, the counters. One mutex guards the queue and the counts that decide
//! where a job goes; the outcome counters are atomics, so reading stats never blocks
//! a worker.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::time::{Duration, Instant};

use super::builder::Workers;
use super::scope::ScopeRef;
use super::sync::{
    fence, thread, Arc, AtomicBool, AtomicU64, AtomicUsize, Condvar, Mutex, MutexGuard, Queue,
};
use super::{PoolStats, Shutdown};
use crate::error::Rejected;
use crate::limit::{when_full, Full, OnFull, WhenFull};
use crate::padded::Padded;
use crate::stats::Histogram;

use super::job::Job;

/// One accepted job.
pub(crate) struct Task<S> {
    // Field order matters: the job (and what it borrows) is dropped before the scope
    // hears that the job is over.
    job: Job<S>,
    /// When it was submitted, for the latency percentiles: set for the jobs sampled
    /// (`place`).
    submitted: Option<Instant>,
    scope: Option<ScopeRef>,
}

impl<S> Task<S> {
    pub(crate) fn new<F, R>(job: F, scope: Option<ScopeRef>) -> Self
    where
        F: FnOnce(&mut S) -> R + Send + 'static,
        R: super::Outcome,
    {
        Task {
            job: Job::new_static(move |state: &mut S| job(state).failed()),
            submitted: None,
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
    pub(crate) unsafe fn scoped<F>(job: F, scope: ScopeRef) -> Self
    where
        F: FnOnce(&mut S) -> bool + Send,
    {
        Task {
            // SAFETY: the caller upholds that the job is dropped before what it borrows.
            job: unsafe { Job::new(job) },
            submitted: None,
            scope: Some(scope),
        }
    }
}

struct State {
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
    /// Written by workers (and by submitters running a job themselves), sharded by
    /// worker like the latency, so workers do not contend for one line.
    run: [Padded<RunCounters>; SHARDS],
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

/// Where a job runs: on the worker with this index, or on its submitter's thread
/// (`on_full = caller_runs`).
#[derive(Clone, Copy)]
enum RunsOn {
    Worker(usize),
    Caller,
}
use RunsOn::{Caller, Worker};

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
    state: Mutex<State>,
    /// The accepted jobs not yet taken by a worker, in order. Pushed and popped without
    /// the lock; `queued` bounds it.
    queue: Queue<Task<S>>,
    /// Idle workers wait here for jobs.
    work: Condvar,
    /// Blocked submitters wait here for room.
    room: Condvar,
    /// Shutdown waits here for workers to exit.
    exited: Condvar,
    aborting: Arc<AtomicBool>,
    /// Places taken in the queue: jobs pushed and not yet popped, plus places reserved
    /// by submitters about to push. A submitter reserves before it pushes, so the
    /// queue never holds more than its room; workers spin on it before they sleep. Its
    /// top bit is `CLOSED`: a shut pool takes no reservation, and its workers leave
    /// once the count (every reservation pushed and popped) is zero.
    queued: Padded<AtomicUsize>,
    view: Padded<View>,
    /// Workers between two jobs: done with one, not yet asleep or on the next.
    finishing: Padded<AtomicUsize>,
    next_worker: AtomicUsize,
    counters: Counters,
    /// Submission-to-end latency, sharded by worker so workers finishing similar jobs
    /// do not all increment the same bucket.
    latency: Box<[Histogram]>,
}

/// The latency percentiles time every job of a pool's first `SAMPLE_ALL`, then one in
/// `SAMPLE_EVERY`: two clock reads per job were a fifth of what handing a small job
/// over cost, and a sample of one in eight keeps the percentiles of any pool busy
/// enough for them to matter.
const SAMPLE_ALL: u64 = 256;
const SAMPLE_EVERY: u64 = 8;

/// Shards of the workers' counters and latency histogram.
const SHARDS: usize = 4;

/// The bit of `queued` that says the pool is closed: set, no reservation succeeds.
const CLOSED: usize = 1 << (usize::BITS - 1);

/// What the lock-free paths read of `State` (copied under the lock by `publish`), and
/// the one count workers keep without it. Written when workers sleep or wake, read by
/// every submission: on a line of its own.
#[derive(Default)]
struct View {
    /// `State::idle`: workers waiting and not yet woken.
    idle: AtomicUsize,
    /// `State::tokens`: wake-ups granted.
    tokens: AtomicUsize,
    /// `State::waiting_submitters`.
    waiting: AtomicUsize,
    /// The pool runs all the workers it may (so no job needs a new thread), and is open.
    full_size: AtomicBool,
    /// Workers not waiting on `work`: running a job, looking for one, starting, or
    /// between. A job pushed while none is awake and none is waiting to be woken needs
    /// a wake-up (or a worker) from its submitter.
    awake: AtomicUsize,
}

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
            queue: Queue::new(),
            aborting: Arc::new(AtomicBool::new(false)),
            queued: Padded(AtomicUsize::new(0)),
            view: Padded(View::default()),
            finishing: Padded(AtomicUsize::new(0)),
            next_worker: AtomicUsize::new(0),
            counters: Counters::default(),
            latency: (0..SHARDS).map(|_| Histogram::default()).collect(),
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
        this.publish(&st);
    }

    /// Copies the counts the lock-free paths read. Called under the lock after every
    /// change to them.
    fn publish(&self, st: &State) {
        let view = &self.view;
        view.idle.store(st.idle, SeqCst);
        view.tokens.store(st.tokens, Relaxed);
        view.waiting.store(st.waiting_submitters, SeqCst);
        view.full_size.store(
            !st.closed && st.workers >= self.max + st.blocked_workers,
            Relaxed,
        );
    }

    /// Reserves a place in the queue if it has room for one more job (`queue` places,
    /// plus one for each worker woken for a job, which is not waiting in it).
    fn reserve(&self, tokens: usize) -> bool {
        let room = self.capacity.saturating_add(tokens);
        let before = self.queued.fetch_add(1, SeqCst);
        if before & CLOSED == 0 && before < room {
            true
        } else {
            self.queued.fetch_sub(1, SeqCst);
            false
        }
    }

    /// The path of a job when the pool runs all its workers and none waits to be
    /// woken: a place reserved and the job pushed, without the lock. Gives the job
    /// back when the lock-holding path must decide (a worker to wake or to start, a
    /// full queue, a closed pool).
    fn push_fast(self: &Arc<Self>, task: Task<S>) -> Result<(), Task<S>> {
        let view = &self.view;
        if !view.full_size.load(Relaxed)
            || view.idle.load(Relaxed) > 0
            || !self.reserve(view.tokens.load(Relaxed))
        {
            return Err(task);
        }
        // A reservation taken before the pool closed is pushed even if it closes now:
        // its workers stay until the count is zero.
        self.queue.push(task);
        // Pairs with the fence of a worker going to sleep: either it sees this job, or
        // this sees it waiting (or sees nobody awake to take the job).
        fence(SeqCst);
        let stranded = view.idle.load(SeqCst) > 0 || view.awake.load(SeqCst) == 0;
        if stranded {
            self.wake_for_queued();
        }
        Ok(())
    }

    /// A job was pushed while a worker went to sleep or none was awake: wake one for
    /// it, or start one if the pool has none left.
    fn wake_for_queued(self: &Arc<Self>) {
        let mut st = lock(&self.state);
        if st.idle > 0 && self.count() > st.tokens {
            st.idle -= 1;
            st.tokens += 1;
            self.publish(&st);
            drop(st);
            self.work.notify_one();
        } else if st.workers == 0 && !st.closed {
            // The last worker retired as the job came: start one for it.
            self.start_worker(st);
        }
        // Otherwise every worker is awake, starting or already woken, and each looks at
        // the queue before it sleeps.
    }

    /// Starts one more worker with no first job (it takes its first from the queue).
    fn start_worker(self: &Arc<Self>, mut st: MutexGuard<'_, State>) {
        st.workers += 1;
        st.starting += 1;
        self.note_workers(st.workers);
        self.publish(&st);
        drop(st);
        let spawned = Self::spawn(self, None);
        let mut st = lock(&self.state);
        st.starting -= 1;
        match spawned {
            Ok(entry) => st.threads.push(entry),
            Err(_) => st.workers -= 1,
        }
        self.publish(&st);
        drop(st);
        self.exited.notify_all();
    }

    /// Jobs queued or reserved, without the closed bit.
    fn count(&self) -> usize {
        self.queued.load(SeqCst) & !CLOSED
    }

    /// Takes the next job off the queue to run, and lets a submitter waiting for room
    /// know once the queue is down to half its places: woken at every free place, a
    /// submitter ahead of its workers would pay a wake-up per job, and take a core from
    /// them to push one job at a time; woken at half, it pushes the other half in one
    /// go. A job taken after an abort began is cancelled instead.
    fn pop(&self) -> Option<Task<S>> {
        loop {
            let task = self.queue.pop()?;
            let left = (self.queued.fetch_sub(1, SeqCst) & !CLOSED) - 1;
            fence(SeqCst);
            // Every pop from the full queue down to this mark sees a submitter that
            // started waiting before it (the fences pair), so the one that reaches the
            // mark wakes it; pops below the mark wake the others.
            if left <= self.capacity / 2 && self.view.waiting.load(SeqCst) > 0 {
                let _st = lock(&self.state);
                self.room.notify_one();
            }
            if !self.aborting.load(Relaxed) {
                return Some(task);
            }
            self.counters.submit.cancelled.fetch_add(1, Relaxed);
            drop(task);
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
        let nth = self.counters.submit.submitted.fetch_add(1, Relaxed);
        let mut task = task;
        if nth < SAMPLE_ALL || nth % SAMPLE_EVERY == 0 {
            task.submitted = Some(Instant::now());
        }
        let refuse = |task: Task<S>| {
            if counted {
                self.counters.submit.rejected.fetch_add(1, Relaxed);
            } else {
                self.counters.submit.submitted.fetch_sub(1, Relaxed);
            }
            drop(task);
            Err(Rejected)
        };
        let task = match self.push_fast(task) {
            Ok(()) => return Ok(()),
            Err(task) => task,
        };
        let mut st = lock(&self.state);
        let mut spun = false;
        loop {
            if st.closed {
                drop(st);
                return refuse(task);
            }
            if st.idle > 0 {
                // Hand the job to a waiting worker.
                st.idle -= 1;
                st.tokens += 1;
                self.queued.fetch_add(1, SeqCst);
                self.queue.push(task);
                self.publish(&st);
                drop(st);
                self.work.notify_one();
                return Ok(());
            }
            // A worker that just finished a job is about to look for the next, and one
            // woken for a job another worker took will find none: give it this one
            // rather than start a thread (loops that run back to back would otherwise
            // grow the pool past what they use).
            if self.finishing.load(Relaxed) + st.tokens > self.count() {
                self.queued.fetch_add(1, SeqCst);
                self.queue.push(task);
                return Ok(());
            }
            if st.workers < self.max + st.blocked_workers {
                st.workers += 1;
                st.starting += 1;
                self.note_workers(st.workers);
                self.publish(&st);
                drop(st);
                let spawned = Self::spawn(self, Some(task));
                st = lock(&self.state);
                st.starting -= 1;
                match spawned {
                    Ok(entry) => {
                        st.threads.push(entry);
                        self.publish(&st);
                        drop(st);
                        self.exited.notify_all();
                        return Ok(());
                    }
                    Err(task_back) => {
                        // The OS refused a thread: carry on with the workers there are.
                        let task_back = task_back.expect("the task was not taken");
                        st.workers -= 1;
                        self.publish(&st);
                        self.exited.notify_all();
                        if st.workers == 0 {
                            drop(st);
                            return refuse(task_back);
                        }
                        self.queued.fetch_add(1, SeqCst);
                        self.queue.push(task_back);
                        return Ok(());
                    }
                }
            }
            if self.reserve(st.tokens) {
                self.queue.push(task);
                return Ok(());
            }
            // A worker blocking on its own pool's full queue could wait for itself: it
            // runs the job instead.
            let full = Full {
                can_run_here: true,
                waiting_could_deadlock: self.is_current_worker(),
            };
            match when_full(policy, full) {
                WhenFull::Wait if !spun => {
                    // Workers take jobs back to back: wait for a place briefly before
                    // sleeping, so a submitter ahead of them does not pay a wake-up
                    // per job.
                    drop(st);
                    let room = self.capacity.saturating_add(self.view.tokens.load(Relaxed));
                    self.spin_until(|| self.count() < room);
                    spun = true;
                    st = lock(&self.state);
                }
                WhenFull::Wait => {
                    spun = false;
                    st.waiting_submitters += 1;
                    self.publish(&st);
                    // Pairs with the fence of a worker taking a job (`pop`): either this
                    // sees the place it freed, or it sees this submitter waiting.
                    fence(SeqCst);
                    let room = self.capacity.saturating_add(st.tokens);
                    if self.count() >= room {
                        st = self.room.wait(st).unwrap_or_else(|e| e.into_inner());
                    }
                    st.waiting_submitters -= 1;
                    self.publish(&st);
                }
                WhenFull::RunHere => {
                    drop(st);
                    self.counters.submit.caller_ran.fetch_add(1, Relaxed);
                    self.run_task(task, &mut None, Caller);
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
        self.view.awake.fetch_add(1, SeqCst);
        current::enter(self.id(), self.aborting.clone());
        if self.pin_cores {
            pin::to_core(index);
        }
        let mut state: Option<S> = None;
        // Whether this worker counted itself in `finishing` as its last job ended
        // (`Shared::finish`).
        let mut counted = false;
        if let Some(task) = first {
            counted = self.run_task(task, &mut state, Worker(index));
        }
        let retired = loop {
            // The next job, if one is queued, before counting this worker as finishing:
            // a worker kept busy touches no shared count between its jobs.
            if let Some(task) = self.pop() {
                if std::mem::take(&mut counted) {
                    self.finishing.fetch_sub(1, Relaxed);
                }
                counted = self.run_task(task, &mut state, Worker(index));
                continue;
            }
            if !std::mem::take(&mut counted) {
                self.finishing.fetch_add(1, Relaxed);
            }
            match self.next_task(index) {
                Next::Run(task) => counted = self.run_task(task, &mut state, Worker(index)),
                Next::Retired => break true,
                Next::Closed => break false,
            }
        };
        drop(state);
        current::leave();
        if !retired {
            self.view.awake.fetch_sub(1, SeqCst);
            let mut st = lock(&self.state);
            st.workers -= 1;
            self.publish(&st);
            drop(st);
            self.exited.notify_all();
        }
    }

    /// Waits for the next job.
    /// The caller counted itself in `finishing`; this takes it out again when the
    /// worker takes a job, sleeps, or leaves.
    fn next_task(&self, index: usize) -> Next<S> {
        let mut spun = false;
        let mut finishing = true;
        let done_finishing = |finishing: &mut bool| {
            if std::mem::take(finishing) {
                self.finishing.fetch_sub(1, Relaxed);
            }
        };
        loop {
            if let Some(task) = self.pop() {
                done_finishing(&mut finishing);
                return Next::Run(task);
            }
            let queued = self.queued.load(SeqCst);
            if queued & CLOSED != 0 {
                // A closed pool's workers leave once every job reserved before it closed
                // has been pushed and taken.
                if queued == CLOSED {
                    done_finishing(&mut finishing);
                    return Next::Closed;
                }
                thread::yield_now();
                continue;
            }
            if !spun {
                // Jobs often arrive back to back: look for one briefly before sleeping,
                // so a busy submitter does not pay a wake-up per job.
                self.spin_until(|| self.queued.load(Relaxed) & !CLOSED > 0);
                spun = true;
                continue;
            }
            spun = false;
            let mut st = lock(&self.state);
            if st.closed {
                continue;
            }
            st.idle += 1;
            self.publish(&st);
            self.view.awake.fetch_sub(1, SeqCst);
            // Pairs with the fence of a submitter pushing without the lock: either it
            // sees this worker waiting, or this sees its job.
            fence(SeqCst);
            if self.count() > 0 {
                // A job is queued, or about to be: its submitter reserved the place
                // and is pushing. Let it.
                st.idle -= 1;
                self.publish(&st);
                self.view.awake.fetch_add(1, SeqCst);
                drop(st);
                thread::yield_now();
                continue;
            }
            done_finishing(&mut finishing);
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
                // Woken for a job: until it takes one, it counts as finishing, as a
                // worker just done with a job does, so a submitter queues for it
                // rather than start a thread beside it.
                st.tokens -= 1;
                self.finishing.fetch_add(1, Relaxed);
                finishing = true;
                self.publish(&st);
            } else {
                st.idle -= 1;
                self.publish(&st);
                fence(SeqCst);
                if timeout.timed_out()
                    && self.count() == 0
                    && !st.closed
                    && st.workers > self.min + st.blocked_workers
                {
                    // Leave the count under the same lock that decided it, so no
                    // submitter counts on this worker; nobody joins it: detach. A job
                    // pushed without the lock meanwhile sees no worker waiting and wakes
                    // or starts one (`wake_for_queued`).
                    st.workers -= 1;
                    self.publish(&st);
                    if let Some(k) = st.threads.iter().position(|(i, _)| *i == index) {
                        let (_, handle) = st.threads.swap_remove(k);
                        st.retired.retain(|h| !finished(h));
                        st.retired.push(handle);
                    }
                    drop(st);
                    self.exited.notify_all();
                    return Next::Retired;
                }
                // Awake without a job (its wait timed out, or woke spuriously): it looks
                // at the queue again before it sleeps, so until then it counts as
                // finishing too, and a submitter queues for it instead of starting a
                // thread beside it.
                self.finishing.fetch_add(1, Relaxed);
                finishing = true;
            }
            self.view.awake.fetch_add(1, SeqCst);
        }
    }

    /// Spins, then yields, for a few microseconds until `ready`: jobs often come, and
    /// places free up, back to back, and a wait this short costs less than a wake-up.
    fn spin_until(&self, ready: impl Fn() -> bool) {
        if cfg!(loom) {
            // An optimisation only: the models check the protocol without it.
            return;
        }
        for step in 0..10u32 {
            if ready() {
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

    /// Runs one task; its state is made first if this thread has none yet (inside the
    /// same panic guard, so a panicking constructor counts as that job's panic).
    /// Runs one job on a worker (or on its submitter: `Caller`). Returns whether the
    /// worker already counted itself in `finishing` (see [`Shared::finish`]).
    fn run_task(&self, task: Task<S>, state: &mut Option<S>, on: RunsOn) -> bool {
        let make = &self.make_state;
        let Task {
            job,
            submitted,
            scope,
        } = task;
        let result = catch_unwind(AssertUnwindSafe(|| {
            job.run(state.get_or_insert_with(|| make()))
        }));
        self.finish(on, result, submitted, scope)
    }

    /// Counts a job's outcome and ends its hold on its scope. Ending that hold may
    /// let the scope's caller go on and start its next loop at once: a worker that
    /// would then find no queued job counts itself in `finishing` *before* it, so that
    /// loop's jobs are queued for it instead of starting threads beside it (a worker
    /// descheduled between its last job and its count would otherwise be invisible).
    /// Returns whether it did.
    fn finish(
        &self,
        on: RunsOn,
        result: std::thread::Result<bool>,
        submitted: Option<Instant>,
        scope: Option<ScopeRef>,
    ) -> bool {
        let shard = match on {
            Worker(index) => index,
            Caller => 0,
        };
        match result {
            Ok(false) => self.counters.run[shard % SHARDS]
                .completed
                .fetch_add(1, Relaxed),
            Ok(true) => self.counters.run[shard % SHARDS]
                .failed
                .fetch_add(1, Relaxed),
            Err(payload) => {
                if let Some(scope) = &scope {
                    scope.panicked(payload);
                }
                self.counters.run[shard % SHARDS]
                    .panicked
                    .fetch_add(1, Relaxed)
            }
        };
        if let Some(submitted) = submitted {
            self.latency[shard % SHARDS].record(submitted.elapsed());
        }
        let counted = matches!(on, Worker(_)) && scope.is_some();
        if counted {
            self.finishing.fetch_add(1, Relaxed);
        }
        drop(scope);
        counted
    }

    /// A worker of this pool is about to block until other jobs finish (a scope wait):
    /// let the pool start a replacement so those jobs can run.
    pub(crate) fn enter_blocking(self: &Arc<Self>) -> bool {
        if !self.is_current_worker() {
            return false;
        }
        let mut st = lock(&self.state);
        st.blocked_workers += 1;
        self.publish(&st);
        if self.count() > 0 && st.idle == 0 && !st.closed {
            self.start_worker(st);
        }
        true
    }

    pub(crate) fn exit_blocking(&self) {
        let mut st = lock(&self.state);
        st.blocked_workers -= 1;
        self.publish(&st);
    }

    pub(crate) fn shutdown(&self, mode: Shutdown) {
        let mut st = lock(&self.state);
        st.closed = true;
        self.queued.fetch_or(CLOSED, SeqCst);
        self.publish(&st);
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
                    let queued = self.drain_queue();
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
        if me == 0 && self.count() > 0 {
            // No worker left to run them (every spawn failed, or the last one retired
            // as a job came without the lock): they are cancelled. A job whose place
            // was reserved before the pool closed may still be on its way in.
            loop {
                let queued = self.drain_queue();
                self.counters
                    .submit
                    .cancelled
                    .fetch_add(queued.len() as u64, Relaxed);
                drop(st);
                drop(queued);
                let done = self.count() == 0;
                if !done {
                    thread::yield_now();
                }
                st = lock(&self.state);
                if done {
                    break;
                }
            }
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

    /// Takes every queued job out (an abort, or a pool with no worker left).
    /// Takes every job in the queue out (an abort, or a pool with no worker left).
    /// A job reserved before the pool closed and pushed after this is taken by a
    /// worker, which cancels it (abort) or runs it; a pool has such a job only while it
    /// has workers, since only a pool running all its workers takes the lock-free path,
    /// and its workers leave only once no reservation is left.
    fn drain_queue(&self) -> Vec<Task<S>> {
        let mut taken = Vec::new();
        while let Some(task) = self.queue.pop() {
            self.queued.fetch_sub(1, SeqCst);
            taken.push(task);
        }
        taken
    }

    pub(crate) fn stats(&self) -> PoolStats {
        let st = lock(&self.state);
        let (workers, queued) = (st.workers, self.count());
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
            completed: c.run.iter().map(|r| r.completed.load(Relaxed)).sum(),
            failed: c.run.iter().map(|r| r.failed.load(Relaxed)).sum(),
            panicked: c.run.iter().map(|r| r.panicked.load(Relaxed)).sum(),
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
