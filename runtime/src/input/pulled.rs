//! Any other iterator, pulled batch by batch under a lock; and `enumerate()`.

use std::ops::Range;
use std::sync::Mutex;

use super::{Shape, Source};

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

    pub(crate) fn new(iter: I) -> Self {
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

// SAFETY: never indexed (`range` panics); `fill` moves items out of the iterator under
// the lock, so each item goes to one worker; unclaimed items stay in the iterator and
// are dropped with it, so `discard` has nothing to do.
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

// SAFETY: forwards every range to `S` unchanged, so `S`'s guarantees and the caller's
// contract carry over as they are.
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
