//! One process's part of an indexed input: a window of indices, read in place.

use std::ops::Range;

use crate::input::{Shape, Source};

/// The indices of an indexed input that one process runs: process `p` of `n` gets the
/// `p`-th of `n` contiguous, nearly equal windows, so no item moves between processes
/// and the windows, in process order, are the input in order. Positions inside are the
/// window's own (`0..len`); the driver adds [`Part::offset`] where a position leaves
/// the process.
///
/// Items of an owned input outside the window are this process's too (every process
/// holds the whole input): they are dropped when the part is, without running.
#[derive(Debug)]
pub struct Part<S: Source> {
    source: S,
    window: Range<usize>,
}

#[cfg_attr(not(feature = "timely"), allow(dead_code))]
impl<S: Source> Part<S> {
    /// Process `process` of `processes`' window of `source`.
    pub(crate) fn new(source: S, process: usize, processes: usize) -> Self {
        let window = match source.shape() {
            Shape::Indexed(len) => {
                let at = |p: usize| (len as u128 * p as u128 / processes as u128) as usize;
                at(process)..at(process + 1)
            }
            Shape::Pulled { .. } => 0..0,
        };
        Part { source, window }
    }

    /// The whole input (a loop that runs on one process alone: `if = false`,
    /// `BOUNDED_SERIAL`).
    pub(crate) fn whole(source: S) -> Self {
        let window = match source.shape() {
            Shape::Indexed(len) => 0..len,
            Shape::Pulled { .. } => 0..0,
        };
        Part { source, window }
    }

    /// The input position of the window's first item.
    pub(crate) fn offset(&self) -> usize {
        self.window.start
    }

    fn inner(&self, range: Range<usize>) -> Range<usize> {
        range.start + self.window.start..range.end + self.window.start
    }
}

impl<S: Source> Drop for Part<S> {
    fn drop(&mut self) {
        // The items before and after the window: never handed out here.
        if let (Shape::Indexed(len), true) = (self.source.shape(), self.source.owns_items()) {
            // SAFETY: the ranges outside the window are in bounds, disjoint from the
            // window (all the runtime ever handed out), and discarded once, here.
            unsafe {
                self.source.discard(0..self.window.start);
                self.source.discard(self.window.end..len);
            }
        }
    }
}

// SAFETY: every range the runtime passes is within `0..window.len()` and disjoint from
// the others (the caller's contract); shifted by `window.start` it stays within the
// window, which lies within the source, and shifting keeps ranges disjoint. The ranges
// outside the window are discarded once, when the part is dropped, and never handed out.
unsafe impl<S: Source> Source for Part<S> {
    type Item = S::Item;
    type Cursor<'a>
        = S::Cursor<'a>
    where
        Self: 'a;
    type Scratch = S::Scratch;

    fn shape(&self) -> Shape {
        Shape::Indexed(self.window.len())
    }

    unsafe fn range(&self, range: Range<usize>) -> Self::Cursor<'_> {
        // SAFETY: see the impl's comment.
        unsafe { self.source.range(self.inner(range)) }
    }

    unsafe fn discard(&self, range: Range<usize>) {
        // SAFETY: see the impl's comment.
        unsafe { self.source.discard(self.inner(range)) }
    }

    fn owns_items(&self) -> bool {
        self.source.owns_items()
    }
}
