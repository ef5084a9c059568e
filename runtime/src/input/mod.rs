//! How a loop's input is cut into batches.
//!
//! Indexed inputs (slices, `Vec`, `&mut` slices, integer ranges) are split by index:
//! a worker claims a range of indices from the schedule and reads it without locking.
//! Any other iterator is *pulled*: a worker locks the iterator just long enough to move
//! one batch into its own buffer, so memory stays bounded by `limit × batch` items
//! however long (or endless) the input is.
//!
//! The macro picks the kind from the input's type at the call site, with method
//! resolution ("autoref specialisation"): `(&Input::new(x)).to_source()` finds
//! [`ViaIndexed`] when `x` is an indexed type, and falls back to [`ViaPulled`] for any
//! other `IntoIterator`.

use std::cell::Cell;
use std::ops::Range;

mod ints;
mod owned;
mod pulled;
mod slices;
mod stream;

pub use ints::{Ints, IntsCursor};
pub use owned::{Owned, OwnedCursor};
pub use pulled::{EnumCursor, Enumerated, Pulled};
pub use slices::{Slice, SliceCursor, SliceCursorMut, SliceMut};
pub use stream::Streamed;

/// What the schedulers need to know about an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `len` items addressable by index.
    Indexed(usize),
    /// Items come from an iterator; `hint` is its exact length when it knows it.
    Pulled {
        /// `Some(n)` when the iterator's size hint is exact.
        hint: Option<usize>,
    },
}

/// A loop input the runtime can cut into batches.
///
/// # Safety
///
/// For an [`Shape::Indexed`] source, `range` and `discard` hand out the items of the
/// given index range by value (or by unique reference); the runtime guarantees that the
/// ranges it passes are within `0..len` and pairwise disjoint, and implementations may
/// rely on it. An implementation must return items only of the range it was given.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a parallel loop's input: its items must move to worker threads",
    label = "items of this input go to other threads",
    note = "a loop's items must be `Send`, the elements of a borrowed slice `Sync`, and an iterator that is not a slice, `Vec` or range must be `Send` too"
)]
pub unsafe trait Source: Sync {
    /// One item, as the loop pattern binds it.
    type Item: Send;
    /// The iterator one batch's body runs over.
    type Cursor<'a>: Iterator<Item = Self::Item>
    where
        Self: 'a;
    /// A worker's own buffer (pulled sources keep one batch in it).
    type Scratch: Default + Send + Buffer;

    /// Indexed or pulled.
    fn shape(&self) -> Shape;

    /// The items of `range` (indexed sources).
    ///
    /// # Safety
    ///
    /// `range` lies within `0..len` and is disjoint from every other range passed to
    /// `range` or `discard` on this source.
    unsafe fn range(&self, range: Range<usize>) -> Self::Cursor<'_>;

    /// Drops the items of `range` without running the body (used after a loop stopped
    /// early, so every owned item is still dropped exactly once).
    ///
    /// # Safety
    ///
    /// As for [`Source::range`].
    unsafe fn discard(&self, range: Range<usize>) {
        // SAFETY: the caller's contract for `discard` is the one `range` needs.
        unsafe { self.range(range) }.for_each(drop);
    }

    /// Whether unclaimed items must be discarded one by one (owned items with a `Drop`).
    fn owns_items(&self) -> bool {
        false
    }

    /// Moves up to `max` items into `scratch` and returns the offset of the first in the
    /// input; `None` once the input is exhausted (pulled sources only).
    fn fill(&self, max: usize, scratch: &mut Self::Scratch) -> Option<usize> {
        let _ = (max, scratch);
        unreachable_pull()
    }

    /// A cursor over the items `fill` moved into `scratch`, the first at `start`.
    fn drain<'a>(&'a self, scratch: &'a mut Self::Scratch, start: usize) -> Self::Cursor<'a> {
        let _ = (scratch, start);
        unreachable_pull()
    }

    /// Appends one item to a batch buffer (keyed dispatch regroups pulled items by key).
    fn push(scratch: &mut Self::Scratch, item: Self::Item) {
        let _ = (scratch, item);
        unreachable_pull()
    }

    /// [`fill`](Source::fill) for a future: sources that must wait for items (streams)
    /// override it; the others are always ready.
    fn poll_fill(
        &self,
        cx: &mut std::task::Context<'_>,
        max: usize,
        scratch: &mut Self::Scratch,
    ) -> std::task::Poll<Option<usize>> {
        let _ = cx;
        std::task::Poll::Ready(self.fill(max, scratch))
    }

    /// [`fill`](Source::fill) then [`drain`](Source::drain): one batch for a worker.
    fn pull<'a>(
        &'a self,
        max: usize,
        scratch: &'a mut Self::Scratch,
    ) -> Option<(usize, Self::Cursor<'a>)> {
        let start = self.fill(max, scratch)?;
        Some((start, self.drain(scratch, start)))
    }
}

/// A worker's batch buffer: how many items it holds.
pub trait Buffer {
    /// Items in the buffer.
    fn items(&self) -> usize;
}

impl Buffer for () {
    fn items(&self) -> usize {
        0
    }
}

impl<T> Buffer for Vec<T> {
    fn items(&self) -> usize {
        self.len()
    }
}

/// The macro's handle on a loop input, for picking its [`Source`] by type.
pub struct Input<T>(Cell<Option<T>>);

impl<T> Input<T> {
    /// Wraps the loop's input expression.
    pub fn new(input: T) -> Self {
        Input(Cell::new(Some(input)))
    }

    fn take(&self) -> T {
        self.0
            .take()
            .expect("a loop input is turned into a source once")
    }
}

/// Picks an index-split source for indexed input types (tried first).
///
/// The picks ask nothing of the items: whether they may cross threads is checked once
/// the source is picked ([`input`]), so that rustc names the item type that is not
/// `Send` or `Sync` rather than failing to find a method.
pub trait ViaIndexed {
    /// The source.
    type Source;
    /// Turns the input into its source.
    fn to_source(&self) -> Self::Source;
}

/// Picks a stream source for a `futures::Stream` input (async loops only).
pub trait ViaStream {
    /// The source.
    type Source: Source;
    /// Turns the input into its source.
    fn to_source(&self) -> Self::Source;
}

impl<St> ViaStream for &Input<St>
where
    St: futures_core::Stream + Send,
    St::Item: Send,
{
    type Source = Streamed<St>;
    fn to_source(&self) -> Self::Source {
        Streamed::new(self.take())
    }
}

/// Picks a pulled source for any other `IntoIterator` (the fallback).
pub trait ViaPulled {
    /// The source.
    type Source;
    /// Turns the input into its source.
    fn to_source(&self) -> Self::Source;
}

impl<I: IntoIterator> ViaPulled for &Input<I> {
    type Source = Pulled<I::IntoIter>;
    fn to_source(&self) -> Self::Source {
        Pulled::new(self.take().into_iter())
    }
}

/// The loop's input, checked where the user wrote it: its items move to (or are shared
/// with) worker threads, so they must be `Send` (`Sync` for the elements of a borrowed
/// slice), and an iterator that is pulled from on workers must be `Send` itself.
///
/// ```
/// use bounded_runtime::input::{input, Input, ViaIndexed as _, ViaPulled as _};
/// let xs = vec![1u32, 2, 3];
/// let _source = input((&Input::new(&xs)).to_source());
/// ```
pub fn input<S: Source>(source: S) -> S {
    source
}

/// Drops every item of an input no lane has touched (a loop whose options were
/// refused at run time).
pub(crate) fn discard_all<S: Source>(source: &S) {
    if let Shape::Indexed(len) = source.shape() {
        if source.owns_items() {
            // SAFETY: nothing was handed out yet: the whole input is ours, once.
            unsafe { source.discard(0..len) };
        }
    }
}

fn unreachable_pull() -> ! {
    unreachable!("bounded: an indexed source is never pulled")
}
