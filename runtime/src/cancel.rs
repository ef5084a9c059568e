//! Cancellation: the token a loop's `cancel = TOKEN` watches, and why a loop stopped
//! on its own (`on_full = reject`, `timeout`, `cancel`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

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
pub struct CancelToken(Arc<TokenState>);

#[derive(Default)]
struct TokenState {
    cancelled: AtomicBool,
    /// Runs that sleep while they watch this token (waiting for a `rate` token), woken
    /// when it is cancelled. Weak: a run that ended is no longer woken, and is pruned.
    sleepers: Mutex<Vec<Weak<dyn OnCancel>>>,
}

impl std::fmt::Debug for TokenState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancelToken")
            .field("cancelled", &self.cancelled.load(Ordering::Relaxed))
            .finish()
    }
}

/// Something that sleeps until a token is cancelled, among other things.
pub(crate) trait OnCancel: Send + Sync {
    /// The token was cancelled: stop sleeping.
    fn cancelled(&self);
}

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels: loops watching this token stop dispatching, and those waiting for a
    /// `rate` token stop waiting.
    pub fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::Release);
        let sleepers = std::mem::take(&mut *lock(&self.0.sleepers));
        for s in sleepers.iter().filter_map(Weak::upgrade) {
            s.cancelled();
        }
    }

    /// Whether [`cancel`](Self::cancel) was called on this token or a clone.
    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::Acquire)
    }

    /// Wakes `sleeper` when the token is cancelled (at once, if it already is).
    pub(crate) fn wake_on_cancel(&self, sleeper: Weak<dyn OnCancel>) {
        let mut sleepers = lock(&self.0.sleepers);
        if self.is_cancelled() {
            drop(sleepers);
            if let Some(s) = sleeper.upgrade() {
                s.cancelled();
            }
            return;
        }
        sleepers.retain(|s| s.strong_count() > 0);
        sleepers.push(sleeper);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
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
