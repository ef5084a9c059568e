//! What the body's `for` loop iterates: one batch of items, in input order.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use super::control::Control;
use crate::input::Source;

/// Where a lane's current batch is: the input position of the item the body is running
/// (kept by [`Checked`]), and of the first item that failed under `keep_going`. The lane
/// owns it; the engine reads it when a batch ends in an error, so the error is placed by
/// the failing *item*, not by its batch (keyed batches are not contiguous).
///
/// It also carries early exits: `break` (and `return`) mark the item they leave at, and
/// the engine then cuts the run there — items before it run to completion, items after
/// it do not start.
#[derive(Debug)]
pub struct Tracker {
    at: AtomicUsize,
    failed: AtomicUsize,
    broke: AtomicUsize,
}

impl Default for Tracker {
    fn default() -> Self {
        Tracker {
            at: AtomicUsize::new(usize::MAX),
            failed: AtomicUsize::new(usize::MAX),
            broke: AtomicUsize::new(usize::MAX),
        }
    }
}

impl Tracker {
    pub(crate) fn reset(&self, start: usize) {
        self.at.store(start, Relaxed);
        self.failed.store(usize::MAX, Relaxed);
        self.broke.store(usize::MAX, Relaxed);
    }

    pub(crate) fn set(&self, position: usize) {
        self.at.store(position, Relaxed);
    }

    /// The input position of the item the body is running.
    #[inline]
    pub fn position(&self) -> usize {
        self.at.load(Relaxed)
    }

    /// `break` (or `return`) at the item running now: the loop ends there, as if it ran
    /// sequentially.
    #[inline]
    pub fn broke(&self) {
        self.broke.store(self.at.load(Relaxed), Relaxed);
    }

    /// Whether the body has broken out of the loop in this batch (`keep_going` bodies,
    /// whose items run in closures of their own, ask after each item).
    #[inline]
    pub fn has_broken(&self) -> bool {
        self.broke.load(Relaxed) != usize::MAX
    }

    /// Where the batch broke out of the loop, if it did.
    pub(crate) fn broke_at(&self) -> Option<usize> {
        match self.broke.load(Relaxed) {
            usize::MAX => None,
            p => Some(p),
        }
    }

    /// The position of the item whose error the batch returned.
    pub(crate) fn error_position(&self) -> usize {
        match self.failed.load(Relaxed) {
            usize::MAX => self.at.load(Relaxed),
            p => p,
        }
    }

    /// `keep_going`: keeps the batch's first error, and remembers that it came from the
    /// item running now (later items of the batch run on).
    #[inline]
    pub fn keep_first<E>(&self, first: &mut Option<E>, error: E) {
        if first.is_none() {
            self.failed.store(self.at.load(Relaxed), Relaxed);
            *first = Some(error);
        }
    }
}

/// The items of one batch, in input order; the body is a `for` loop over it.
pub struct Batch<'a, S: Source + 'a> {
    pub(crate) cursor: S::Cursor<'a>,
    pub(crate) start: usize,
    /// The input position of each item, when the batch is not contiguous (keyed).
    pub(crate) positions: Option<&'a [usize]>,
    pub(crate) control: &'a Control,
    pub(crate) tracker: &'a Tracker,
}

impl<'a, S: Source + 'a> Batch<'a, S> {
    /// The position of the batch's first item in the input.
    pub fn start(&self) -> usize {
        self.start
    }

    /// The lane's tracker, for a `keep_going` body to place its first error.
    pub fn tracker(&self) -> &'a Tracker {
        self.tracker
    }

    /// The same items, but ending early once the run is stopping or an earlier item
    /// broke out of the loop: a fallible body (or one that can `break`) iterates this
    /// so that no new item starts after another lane's error, and so that an error or a
    /// `break` is placed at its item. Under `rate`, each item waits here for its token
    /// (every `rate` loop iterates this).
    #[inline]
    pub fn checked(self) -> Checked<'a, S> {
        Checked {
            batch: self,
            taken: 0,
        }
    }
}

impl<'a, S: Source + 'a> Iterator for Batch<'a, S> {
    type Item = S::Item;

    #[inline]
    fn next(&mut self) -> Option<S::Item> {
        self.cursor.next()
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.cursor.size_hint()
    }
}

/// A [`Batch`] that stops when its run stops, and tracks the item it is on.
pub struct Checked<'a, S: Source + 'a> {
    batch: Batch<'a, S>,
    taken: usize,
}

impl<'a, S: Source + 'a> Iterator for Checked<'a, S> {
    type Item = S::Item;

    #[inline]
    fn next(&mut self) -> Option<S::Item> {
        let b = &mut self.batch;
        if b.control.is_stopping() {
            return None;
        }
        let k = self.taken;
        let position = match b.positions {
            None => b.start + k,
            Some(p) => *p.get(k)?,
        };
        // After a `break` in input order, later items do not start.
        if position > b.control.cut() {
            return None;
        }
        let item = b.cursor.next()?;
        self.taken += 1;
        // `rate`: the item starts with a token. A stop while waiting drops it unrun.
        if !b.control.paced(position) {
            drop(item);
            return None;
        }
        b.tracker.at.store(position, Relaxed);
        Some(item)
    }
}
