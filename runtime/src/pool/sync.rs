//! The synchronisation primitives the pool and the permits (`limit/permits.rs`) are
//! written against: `std`'s, or loom's under `--cfg loom`, so the model checker can
//! explore their interleavings.

// `Arc` stays std's: reference counts are not what the models check, and methods
// taking `self: &Arc<Self>` need std's.
pub(crate) use std::sync::Arc;

#[cfg(loom)]
pub(crate) use loom::sync::{
    atomic::{AtomicBool, AtomicU64, AtomicUsize},
    Condvar, Mutex, MutexGuard,
};
#[cfg(loom)]
pub(crate) use loom::thread;

#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{AtomicBool, AtomicU64, AtomicUsize},
    Condvar, Mutex, MutexGuard,
};
#[cfg(not(loom))]
pub(crate) use std::thread;

#[cfg(loom)]
pub(crate) use loom::sync::atomic::fence;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::fence;

/// The pool's queue: an unbounded lock-free FIFO (crossbeam's injector), so a submitter
/// and the workers hand jobs over without a lock. Its length is bounded by the pool's
/// own reservation counter. Under loom it is a locked `VecDeque`: the models check the
/// pool's protocol around the queue, taking the queue itself as linearizable.
#[cfg(not(loom))]
pub(crate) struct Queue<T>(crossbeam_deque::Injector<T>);

#[cfg(not(loom))]
impl<T> Queue<T> {
    pub(crate) fn new() -> Self {
        Queue(crossbeam_deque::Injector::new())
    }

    pub(crate) fn push(&self, item: T) {
        self.0.push(item);
    }

    pub(crate) fn pop(&self) -> Option<T> {
        loop {
            match self.0.steal() {
                crossbeam_deque::Steal::Success(item) => return Some(item),
                crossbeam_deque::Steal::Empty => return None,
                crossbeam_deque::Steal::Retry => std::hint::spin_loop(),
            }
        }
    }
}

#[cfg(loom)]
pub(crate) struct Queue<T>(Mutex<std::collections::VecDeque<T>>);

#[cfg(loom)]
impl<T> Queue<T> {
    pub(crate) fn new() -> Self {
        Queue(Mutex::new(std::collections::VecDeque::new()))
    }

    pub(crate) fn push(&self, item: T) {
        self.0.lock().unwrap().push_back(item);
    }

    pub(crate) fn pop(&self) -> Option<T> {
        self.0.lock().unwrap().pop_front()
    }
}
