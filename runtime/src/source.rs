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
use std::marker::PhantomData;
use std::ops::Range;
use std::sync::Mutex;

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
        // SAFETY: forwarded contract.
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
pub trait ViaIndexed {
    /// The source.
    type Source: Source;
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
    type Source: Source;
    /// Turns the input into its source.
    fn to_source(&self) -> Self::Source;
}

impl<I> ViaPulled for &Input<I>
where
    I: IntoIterator,
    I::IntoIter: Send,
    I::Item: Send,
{
    type Source = Pulled<I::IntoIter>;
    fn to_source(&self) -> Self::Source {
        Pulled::new(self.take().into_iter())
    }
}

fn unreachable_pull() -> ! {
    unreachable!("bounded: an indexed source is never pulled")
}

// ---------------------------------------------------------------- shared slices

/// `&[T]`, `&Vec<T>`, `&[T; N]`, `slice.iter()`: items are `&T`.
#[derive(Debug)]
pub struct Slice<'s, T>(&'s [T]);

// SAFETY: hands out shared references only; `T: Sync` makes them shareable.
unsafe impl<'s, T: Sync> Source for Slice<'s, T> {
    type Item = &'s T;
    type Cursor<'a>
        = std::slice::Iter<'s, T>
    where
        Self: 'a;
    type Scratch = ();

    fn shape(&self) -> Shape {
        Shape::Indexed(self.0.len())
    }

    unsafe fn range(&self, range: Range<usize>) -> Self::Cursor<'_> {
        self.0[range].iter()
    }

    unsafe fn discard(&self, _: Range<usize>) {}
}

macro_rules! via_slice {
    ($($ty:ty => |$x:ident| $conv:expr;)*) => {$(
        impl<'s, T: Sync> ViaIndexed for Input<$ty> {
            type Source = Slice<'s, T>;
            fn to_source(&self) -> Self::Source {
                let $x = self.take();
                Slice($conv)
            }
        }
    )*};
}

via_slice! {
    &'s [T] => |x| x;
    &'s Vec<T> => |x| x.as_slice();
    &'s Box<[T]> => |x| x;
    std::slice::Iter<'s, T> => |x| x.as_slice();
}

impl<'s, T: Sync, const N: usize> ViaIndexed for Input<&'s [T; N]> {
    type Source = Slice<'s, T>;
    fn to_source(&self) -> Self::Source {
        Slice(self.take())
    }
}

// ---------------------------------------------------------------- unique slices

/// `&mut [T]`, `&mut Vec<T>`, `slice.iter_mut()`: items are `&mut T`, each handed out once.
#[derive(Debug)]
pub struct SliceMut<'s, T> {
    ptr: *mut T,
    len: usize,
    _borrow: PhantomData<&'s mut [T]>,
}

// SAFETY: the source only hands out `&mut T` for disjoint ranges (the `Source`
// contract), so sharing the source between threads shares no item; `T: Send` lets each
// `&mut T` move to the worker that runs it.
unsafe impl<T: Send> Sync for SliceMut<'_, T> {}

impl<'s, T> SliceMut<'s, T> {
    fn new(slice: &'s mut [T]) -> Self {
        SliceMut {
            ptr: slice.as_mut_ptr(),
            len: slice.len(),
            _borrow: PhantomData,
        }
    }
}

// SAFETY: see the `Sync` impl; `range` stays within `0..len`.
unsafe impl<'s, T: Send> Source for SliceMut<'s, T> {
    type Item = &'s mut T;
    type Cursor<'a>
        = std::slice::IterMut<'s, T>
    where
        Self: 'a;
    type Scratch = ();

    fn shape(&self) -> Shape {
        Shape::Indexed(self.len)
    }

    unsafe fn range(&self, range: Range<usize>) -> Self::Cursor<'_> {
        assert!(range.start <= range.end && range.end <= self.len);
        // SAFETY: in bounds (asserted); disjoint from every other range handed out
        // (caller's contract), so no two live `&mut` alias; the borrow lives for `'s`.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(range.start), range.len()) }.iter_mut()
    }

    unsafe fn discard(&self, _: Range<usize>) {}
}

macro_rules! via_slice_mut {
    ($($ty:ty => |$x:ident| $conv:expr;)*) => {$(
        impl<'s, T: Send> ViaIndexed for Input<$ty> {
            type Source = SliceMut<'s, T>;
            fn to_source(&self) -> Self::Source {
                let $x = self.take();
                SliceMut::new($conv)
            }
        }
    )*};
}

via_slice_mut! {
    &'s mut [T] => |x| x;
    &'s mut Vec<T> => |x| x.as_mut_slice();
    &'s mut Box<[T]> => |x| x;
    std::slice::IterMut<'s, T> => |x| x.into_slice();
}

impl<'s, T: Send, const N: usize> ViaIndexed for Input<&'s mut [T; N]> {
    type Source = SliceMut<'s, T>;
    fn to_source(&self) -> Self::Source {
        SliceMut::new(self.take())
    }
}

// ---------------------------------------------------------------- owned vectors

/// `Vec<T>`, `vec.into_iter()`: items are moved out, each exactly once; the ones a
/// stopped loop never ran are dropped by [`Source::discard`].
#[derive(Debug)]
pub struct Owned<T> {
    ptr: *mut T,
    len: usize,
    cap: usize,
}

// SAFETY: items are moved out of disjoint ranges (the `Source` contract), never shared;
// `T: Send` lets them move to the worker that runs them.
unsafe impl<T: Send> Sync for Owned<T> {}

impl<T> Owned<T> {
    fn new(vec: Vec<T>) -> Self {
        let mut vec = std::mem::ManuallyDrop::new(vec);
        Owned {
            ptr: vec.as_mut_ptr(),
            len: vec.len(),
            cap: vec.capacity(),
        }
    }
}

impl<T> Drop for Owned<T> {
    fn drop(&mut self) {
        // SAFETY: the buffer came from a `Vec<T>` with this pointer and capacity. Its
        // items were moved out or dropped by `range`/`discard` (each at most once), so
        // the vector is rebuilt with length 0 and only the allocation is freed. Items
        // that were never claimed (impossible through the runtime) would leak, not be
        // dropped twice.
        unsafe { drop(Vec::from_raw_parts(self.ptr, 0, self.cap)) }
    }
}

/// The items of one batch of an [`Owned`] source; drops the ones not taken.
#[derive(Debug)]
pub struct OwnedCursor<'a, T> {
    ptr: *mut T,
    next: usize,
    end: usize,
    _source: PhantomData<&'a Owned<T>>,
}

impl<T> Iterator for OwnedCursor<'_, T> {
    type Item = T;

    #[inline]
    fn next(&mut self) -> Option<T> {
        if self.next < self.end {
            let i = self.next;
            self.next += 1;
            // SAFETY: `i` is in this cursor's range, which it owns exclusively (the
            // `Source` contract), and each index is read once because `next` advances.
            Some(unsafe { self.ptr.add(i).read() })
        } else {
            None
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.end - self.next;
        (n, Some(n))
    }
}

impl<T> ExactSizeIterator for OwnedCursor<'_, T> {}

impl<T> Drop for OwnedCursor<'_, T> {
    fn drop(&mut self) {
        if std::mem::needs_drop::<T>() {
            let rest = self.end - self.next;
            // SAFETY: the items `next..end` are owned by this cursor and not yet read.
            unsafe {
                std::ptr::drop_in_place(std::ptr::slice_from_raw_parts_mut(
                    self.ptr.add(self.next),
                    rest,
                ))
            };
            self.next = self.end;
        }
    }
}

// SAFETY: `range` checks bounds; disjointness is the caller's contract.
unsafe impl<T: Send> Source for Owned<T> {
    type Item = T;
    type Cursor<'a>
        = OwnedCursor<'a, T>
    where
        Self: 'a;
    type Scratch = ();

    fn shape(&self) -> Shape {
        Shape::Indexed(self.len)
    }

    unsafe fn range(&self, range: Range<usize>) -> Self::Cursor<'_> {
        assert!(range.start <= range.end && range.end <= self.len);
        OwnedCursor {
            ptr: self.ptr,
            next: range.start,
            end: range.end,
            _source: PhantomData,
        }
    }

    fn owns_items(&self) -> bool {
        std::mem::needs_drop::<T>()
    }
}

impl<T: Send> ViaIndexed for Input<Vec<T>> {
    type Source = Owned<T>;
    fn to_source(&self) -> Self::Source {
        Owned::new(self.take())
    }
}

impl<T: Send> ViaIndexed for Input<std::vec::IntoIter<T>> {
    type Source = Owned<T>;
    fn to_source(&self) -> Self::Source {
        // Collecting a `vec::IntoIter` into a `Vec` reuses its allocation.
        Owned::new(self.take().collect())
    }
}

// ---------------------------------------------------------------- integer ranges

/// `a..b` and `a..=b` over primitive integers: items are computed, not stored.
#[derive(Debug, Clone, Copy)]
pub struct Ints<T> {
    start: T,
    len: usize,
}

/// The values of one batch of an integer range: a first value and a count, so a batch
/// may end at the type's `MAX` (`0..=u8::MAX`), which a half-open range cannot.
#[derive(Debug, Clone)]
pub struct IntsCursor<T> {
    next: T,
    left: usize,
}

macro_rules! int_ranges {
    ($($t:ty),*) => {$(
        impl Iterator for IntsCursor<$t> {
            type Item = $t;

            #[inline]
            fn next(&mut self) -> Option<$t> {
                if self.left == 0 {
                    return None;
                }
                let value = self.next;
                self.left -= 1;
                // Wraps only past the last value, which is never read.
                self.next = self.next.wrapping_add(1);
                Some(value)
            }

            #[inline]
            fn size_hint(&self) -> (usize, Option<usize>) {
                (self.left, Some(self.left))
            }
        }

        // SAFETY: items are plain values; nothing is shared or owned.
        unsafe impl Source for Ints<$t> {
            type Item = $t;
            type Cursor<'a> = IntsCursor<$t>;
            type Scratch = ();

            fn shape(&self) -> Shape {
                Shape::Indexed(self.len)
            }

            unsafe fn range(&self, range: Range<usize>) -> IntsCursor<$t> {
                // `start + offset` stays within the original range, so the cast is exact.
                let first = (self.start as i128 + range.start as i128) as $t;
                IntsCursor { next: first, left: range.len() }
            }

            unsafe fn discard(&self, _: Range<usize>) {}
        }

        impl ViaIndexed for Input<Range<$t>> {
            type Source = Ints<$t>;
            fn to_source(&self) -> Ints<$t> {
                let r = self.take();
                let len = (r.end as i128 - r.start as i128).max(0);
                Ints { start: r.start, len: range_len(len) }
            }
        }

        impl ViaIndexed for Input<std::ops::RangeInclusive<$t>> {
            type Source = Ints<$t>;
            fn to_source(&self) -> Ints<$t> {
                let r = self.take();
                let (start, end) = (*r.start(), *r.end());
                let len = if r.is_empty() { 0 } else { end as i128 - start as i128 + 1 };
                Ints { start, len: range_len(len) }
            }
        }
    )*};
}

fn range_len(len: i128) -> usize {
    usize::try_from(len).expect("bounded: the range has more items than `usize` can count")
}

int_ranges!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

// ---------------------------------------------------------------- pulled iterators

/// Any other iterator: workers take turns moving one batch into their own buffer.
#[derive(Debug)]
pub struct Pulled<I: Iterator> {
    state: Mutex<PullState<I>>,
    hint: Option<usize>,
}

#[derive(Debug)]
struct PullState<I> {
    iter: I,
    offset: usize,
    done: bool,
}

impl<I: Iterator> Pulled<I> {
    /// Pulls from `input`'s iterator, whatever its type (a keyed loop's input).
    pub fn of<T: IntoIterator<IntoIter = I>>(input: T) -> Self {
        Self::new(input.into_iter())
    }

    fn new(iter: I) -> Self {
        let hint = match iter.size_hint() {
            (lo, Some(hi)) if lo == hi => Some(lo),
            _ => None,
        };
        Pulled {
            state: Mutex::new(PullState {
                iter,
                offset: 0,
                done: false,
            }),
            hint,
        }
    }
}

// SAFETY: never indexed; `pull` hands out items moved out of the iterator under a lock.
unsafe impl<I> Source for Pulled<I>
where
    I: Iterator + Send,
    I::Item: Send,
{
    type Item = I::Item;
    type Cursor<'a>
        = std::vec::Drain<'a, I::Item>
    where
        Self: 'a;
    type Scratch = Vec<I::Item>;

    fn shape(&self) -> Shape {
        Shape::Pulled { hint: self.hint }
    }

    unsafe fn range(&self, _: Range<usize>) -> Self::Cursor<'_> {
        unreachable!("bounded: a pulled source is never indexed")
    }

    unsafe fn discard(&self, _: Range<usize>) {}

    fn fill(&self, max: usize, scratch: &mut Vec<I::Item>) -> Option<usize> {
        scratch.clear();
        // A panic inside the user's iterator poisons the lock; the loop is stopping
        // anyway, so later pulls see an exhausted input.
        let mut state = self.state.lock().ok()?;
        if state.done {
            return None;
        }
        scratch.extend(state.iter.by_ref().take(max));
        if scratch.len() < max {
            state.done = true;
        }
        let offset = state.offset;
        state.offset += scratch.len();
        drop(state);
        (!scratch.is_empty()).then_some(offset)
    }

    fn drain<'a>(&'a self, scratch: &'a mut Vec<I::Item>, _: usize) -> Self::Cursor<'a> {
        scratch.drain(..)
    }

    fn push(scratch: &mut Vec<I::Item>, item: I::Item) {
        scratch.push(item);
    }
}

// ---------------------------------------------------------------- enumerate

/// `input.enumerate()`: the source of `input`, with each item's position in the input.
#[derive(Debug)]
pub struct Enumerated<S>(pub S);

/// A batch of an [`Enumerated`] source.
#[derive(Debug)]
pub struct EnumCursor<C> {
    index: usize,
    inner: C,
}

impl<C: Iterator> Iterator for EnumCursor<C> {
    type Item = (usize, C::Item);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let item = self.inner.next()?;
        let i = self.index;
        self.index += 1;
        Some((i, item))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

// SAFETY: forwards to `S` with the same ranges.
unsafe impl<S: Source> Source for Enumerated<S> {
    type Item = (usize, S::Item);
    type Cursor<'a>
        = EnumCursor<S::Cursor<'a>>
    where
        Self: 'a;
    type Scratch = S::Scratch;

    fn shape(&self) -> Shape {
        self.0.shape()
    }

    unsafe fn range(&self, range: Range<usize>) -> Self::Cursor<'_> {
        let index = range.start;
        // SAFETY: forwarded contract.
        EnumCursor {
            index,
            inner: unsafe { self.0.range(range) },
        }
    }

    unsafe fn discard(&self, range: Range<usize>) {
        // SAFETY: forwarded contract.
        unsafe { self.0.discard(range) }
    }

    fn owns_items(&self) -> bool {
        self.0.owns_items()
    }

    fn fill(&self, max: usize, scratch: &mut S::Scratch) -> Option<usize> {
        self.0.fill(max, scratch)
    }

    fn drain<'a>(&'a self, scratch: &'a mut S::Scratch, start: usize) -> Self::Cursor<'a> {
        EnumCursor {
            index: start,
            inner: self.0.drain(scratch, start),
        }
    }
}

// ---------------------------------------------------------------- streams

/// A `futures::Stream` input of an async loop. Lanes take turns polling it; a lane
/// that finds it pending is woken whenever another lane makes progress, so no lane
/// waits on a wake-up the stream gave to someone else.
pub struct Streamed<St: futures_core::Stream> {
    state: Mutex<StreamState<St>>,
}

struct StreamState<St: futures_core::Stream> {
    stream: std::pin::Pin<Box<St>>,
    offset: usize,
    done: bool,
    waiting: Vec<std::task::Waker>,
}

impl<St: futures_core::Stream> Streamed<St> {
    fn new(stream: St) -> Self {
        Streamed {
            state: Mutex::new(StreamState {
                stream: Box::pin(stream),
                offset: 0,
                done: false,
                waiting: Vec::new(),
            }),
        }
    }
}

// SAFETY: never indexed; items are moved out of the stream under a lock.
unsafe impl<St> Source for Streamed<St>
where
    St: futures_core::Stream + Send,
    St::Item: Send,
{
    type Item = St::Item;
    type Cursor<'a>
        = std::vec::Drain<'a, St::Item>
    where
        Self: 'a;
    type Scratch = Vec<St::Item>;

    fn shape(&self) -> Shape {
        Shape::Pulled { hint: None }
    }

    unsafe fn range(&self, _: Range<usize>) -> Self::Cursor<'_> {
        unreachable!("bounded: a stream source is never indexed")
    }

    unsafe fn discard(&self, _: Range<usize>) {}

    fn fill(&self, _: usize, _: &mut Vec<St::Item>) -> Option<usize> {
        panic!(
            "bounded: a `Stream` input needs a loop whose body awaits (it is polled by the loop's futures)"
        )
    }

    fn poll_fill(
        &self,
        cx: &mut std::task::Context<'_>,
        max: usize,
        scratch: &mut Vec<St::Item>,
    ) -> std::task::Poll<Option<usize>> {
        use std::task::Poll;
        scratch.clear();
        let Ok(mut st) = self.state.lock() else {
            return Poll::Ready(None);
        };
        if st.done {
            return Poll::Ready(None);
        }
        while scratch.len() < max {
            match st.stream.as_mut().poll_next(cx) {
                Poll::Ready(Some(item)) => scratch.push(item),
                Poll::Ready(None) => {
                    st.done = true;
                    break;
                }
                Poll::Pending => break,
            }
        }
        if scratch.is_empty() && !st.done {
            // The stream keeps only the last waker it was given: remember ours too.
            if !st.waiting.iter().any(|w| w.will_wake(cx.waker())) {
                st.waiting.push(cx.waker().clone());
            }
            return Poll::Pending;
        }
        // Progress (items or the end): let the lanes that found it pending look again.
        for w in st.waiting.drain(..) {
            w.wake();
        }
        if scratch.is_empty() {
            return Poll::Ready(None);
        }
        let offset = st.offset;
        st.offset += scratch.len();
        Poll::Ready(Some(offset))
    }

    fn drain<'a>(&'a self, scratch: &'a mut Vec<St::Item>, _: usize) -> Self::Cursor<'a> {
        scratch.drain(..)
    }
}
