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
