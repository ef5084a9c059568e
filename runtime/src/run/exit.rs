//! `return EXPR` from a parallel loop's body: the value of the first returning item in
//! input order, unless a `break` or an error came before it.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;

use super::batch::Tracker;

/// Where a loop whose body returns keeps the returned value. The generated code makes
/// one per loop run, hands it the `break`s and `return`s of the body, and after the run
/// returns [`Exit::take`]'s value from the enclosing function.
///
/// ```
/// use bounded_runtime::run::Exit;
/// let exit = Exit::<&str>::new();
/// assert_eq!(exit.take(), None);
/// ```
#[derive(Debug)]
pub struct Exit<R> {
    value: Mutex<Option<(usize, R)>>,
    /// The earliest `break` or `return` seen.
    cut: AtomicUsize,
}

impl<R> Default for Exit<R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R> Exit<R> {
    /// Nothing returned yet.
    pub fn new() -> Self {
        Exit {
            value: Mutex::new(None),
            cut: AtomicUsize::new(usize::MAX),
        }
    }

    /// `return value` at the item `tracker` is on; the loop ends there.
    pub fn returned(&self, tracker: &Tracker, value: R) {
        let at = tracker.position();
        tracker.broke();
        self.cut.fetch_min(at, Relaxed);
        let mut slot = self.value.lock().unwrap_or_else(|e| e.into_inner());
        if slot.as_ref().is_none_or(|(first, _)| at < *first) {
            *slot = Some((at, value));
        }
    }

    /// `break` at the item `tracker` is on, in a loop that can also return.
    pub fn broke(&self, tracker: &Tracker) {
        tracker.broke();
        self.cut.fetch_min(tracker.position(), Relaxed);
    }

    /// The value to return from the function: that of the first returning item, if no
    /// `break` came before it in input order. (An earlier error is returned by the run
    /// itself, before this is asked.)
    pub fn take(&self) -> Option<R> {
        let (at, value) = self
            .value
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()?;
        (at <= self.cut.load(Relaxed)).then_some(value)
    }
}
