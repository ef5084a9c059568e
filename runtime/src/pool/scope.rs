//! Scoped jobs: jobs that borrow from the caller's stack.
//!
//! Soundness rests on one rule: `run` does not return, normally or by unwinding,
//! before every job submitted through its [`Scope`] has been dropped — run or not
//! (refused, dropped by policy, cancelled by an abort). Each job carries a
//! [`ScopeRef`] that is dropped after the job itself; the scope waits until the
//! count of live refs is zero.

use std::any::Any;
use std::marker::PhantomData;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use super::shared::{Shared, Task};
use super::sync::{Arc, AtomicUsize, Condvar, Mutex};
use super::Outcome;
use crate::error::Rejected;
use crate::limit::OnFull;
use std::sync::atomic::Ordering::SeqCst;

#[derive(Default)]
pub(crate) struct ScopeState {
    /// Jobs not yet dropped. Counted without the lock; the lock is only taken to wake
    /// the waiter when the count reaches zero (and by the waiter to sleep).
    pending: AtomicUsize,
    panic: Mutex<Option<Box<dyn Any + Send>>>,
    done: Condvar,
}

/// One job's hold on its scope; dropping it tells the scope the job is over. It owns a
/// reference to the state, so the decrement that lets the waiter return can be
/// followed by the wake-up without touching freed memory.
pub(crate) struct ScopeRef(Arc<ScopeState>);

impl ScopeRef {
    fn new(state: &Arc<ScopeState>) -> Self {
        state.pending.fetch_add(1, SeqCst);
        ScopeRef(state.clone())
    }

    /// Keeps the first panic of the scope's jobs, to re-raise in the caller.
    pub(crate) fn panicked(&self, payload: Box<dyn Any + Send>) {
        lock(&self.0.panic).get_or_insert(payload);
    }
}

impl Drop for ScopeRef {
    fn drop(&mut self) {
        if self.0.pending.fetch_sub(1, SeqCst) == 1 {
            // Taking the lock orders this wake-up after the waiter's check, so it
            // cannot fall between the waiter's check and its sleep.
            drop(lock(&self.0.panic));
            self.0.done.notify_all();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> super::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Submits jobs that may borrow anything that outlives the [`Pool::scope`] call.
///
/// [`Pool::scope`]: super::Pool::scope
pub struct Scope<'env, S: Send + 'static = ()> {
    shared: Arc<Shared<S>>,
    state: Arc<ScopeState>,
    // Invariant in 'env, as scoped-thread APIs must be.
    _env: PhantomData<&'env mut &'env ()>,
}

impl<'env, S: Send + 'static> Scope<'env, S> {
    /// Runs `job` on the pool under its `on_full` policy (see [`Pool::execute`]).
    ///
    /// [`Pool::execute`]: super::Pool::execute
    pub fn execute<F, R>(&self, job: F) -> Result<(), Rejected>
    where
        F: FnOnce() -> R + Send + 'env,
        R: Outcome,
    {
        self.execute_with(move |_: &mut S| job())
    }

    /// Runs `job` with the worker's state.
    pub fn execute_with<F, R>(&self, job: F) -> Result<(), Rejected>
    where
        F: FnOnce(&mut S) -> R + Send + 'env,
        R: Outcome,
    {
        self.submit(job, self.shared.on_full)
    }

    /// Runs `job` if a worker or the queue can take it now; `Err(Rejected)` otherwise.
    pub fn try_execute<F, R>(&self, job: F) -> Result<(), Rejected>
    where
        F: FnOnce() -> R + Send + 'env,
        R: Outcome,
    {
        self.submit(move |_: &mut S| job(), OnFull::Reject)
    }

    /// Runs `job` if a worker or the queue can take it now, never on this thread;
    /// false otherwise, without counting the refusal (a loop's lanes: one the pool does
    /// not take is simply not started).
    pub(crate) fn offer<F>(&self, job: F) -> bool
    where
        F: FnOnce() + Send + 'env,
    {
        let job = move |_: &mut S| {
            job();
            false
        };
        // SAFETY: as in `submit`.
        let task = unsafe { Task::scoped(job, ScopeRef::new(&self.state)) };
        self.shared.offer(task)
    }

    fn submit<F, R>(&self, job: F, policy: OnFull) -> Result<(), Rejected>
    where
        F: FnOnce(&mut S) -> R + Send + 'env,
        R: Outcome,
    {
        let job = move |state: &mut S| job(state).failed();
        // SAFETY: `run` waits for this task's ScopeRef, which is dropped after the job,
        // before it returns or unwinds, so the job never outlives 'env.
        let task = unsafe { Task::scoped(job, ScopeRef::new(&self.state)) };
        self.shared.submit(task, policy)
    }

    fn wait(&self) {
        let compensated = self.shared.enter_blocking();
        let mut guard = lock(&self.state.panic);
        while self.state.pending.load(SeqCst) > 0 {
            guard = self
                .state
                .done
                .wait(guard)
                .unwrap_or_else(|e| e.into_inner());
        }
        drop(guard);
        if compensated {
            self.shared.exit_blocking();
        }
    }
}

pub(crate) fn run<'env, S, F, T>(shared: &Arc<Shared<S>>, f: F) -> T
where
    S: Send + 'static,
    F: FnOnce(&Scope<'env, S>) -> T,
{
    let scope = Scope {
        shared: shared.clone(),
        state: Arc::new(ScopeState::default()),
        _env: PhantomData,
    };
    let result = catch_unwind(AssertUnwindSafe(|| f(&scope)));
    scope.wait();
    let job_panic = lock(&scope.state.panic).take();
    match result {
        Err(payload) => resume_unwind(payload),
        Ok(_) if job_panic.is_some() => resume_unwind(job_panic.unwrap()),
        Ok(value) => value,
    }
}
