//! Cancellation: the token a loop's `cancel = TOKEN` watches, and why a loop stopped
//! on its own (`on_full = reject`, `timeout`, `cancel`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::{Cancelled, Rejected};

/// A cancellation flag shared by clones: cancel one, every clone sees it.
///
/// ```
/// use bounded_runtime::CancelToken;
/// let token = CancelToken::new();
/// let seen_by_loop = token.clone();
/// assert!(!seen_by_loop.is_cancelled());
/// token.cancel();
/// assert!(seen_by_loop.is_cancelled());
/// ```
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels: loops watching this token stop dispatching.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Whether [`cancel`](Self::cancel) was called on this token or a clone.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Why a loop stopped on its own rather than because of the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The queue was full under `on_full = reject`.
    Rejected(Rejected),
    /// The deadline of `timeout` passed or the `cancel` token was cancelled.
    Cancelled(Cancelled),
}

impl Stop {
    /// For loops that use none of the options that can stop them: never called.
    pub fn unexpected<E>(self) -> E {
        unreachable!("bounded: the loop stopped with {self:?} but has no option that can stop it")
    }
}
