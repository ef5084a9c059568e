//! Shared and unique slices: items are `&T` or `&mut T`, read in place.

use std::marker::PhantomData;
use std::ops::Range;
use std::ptr::NonNull;

use super::{Input, Shape, Source, ViaIndexed};

/// `&[T]`, `&Vec<T>`, `&[T; N]`, `slice.iter()`: items are `&T`.
#[derive(Debug)]
pub struct Slice<'s, T>(&'s [T]);

// SAFETY: hands out shared references only, and `T: Sync` makes them shareable across
// workers; `range` indexes with bounds checks, so it relies on no part of the contract.
unsafe impl<'s, T: Sync> Source for Slice<'s, T> {
    type Item = &'s T;
    type Cursor<'a>
        = SliceCursor<'s, T>
    where
        Self: 'a;
    type Scratch = ();

    fn shape(&self) -> Shape {
        Shape::Indexed(self.0.len())
    }

    unsafe fn range(&self, range: Range<usize>) -> Self::Cursor<'_> {
        SliceCursor::new(&self.0[range])
    }

    unsafe fn discard(&self, _: Range<usize>) {}
}

macro_rules! via_slice {
    ($($ty:ty => |$x:ident| $conv:expr;)*) => {$(
        impl<'s, T> ViaIndexed for Input<$ty> {
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

impl<'s, T, const N: usize> ViaIndexed for Input<&'s [T; N]> {
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
        = SliceCursorMut<'s, T>
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
        SliceCursorMut::new(unsafe {
            std::slice::from_raw_parts_mut(self.ptr.add(range.start), range.len())
        })
    }

    unsafe fn discard(&self, _: Range<usize>) {}
}

macro_rules! via_slice_mut {
    ($($ty:ty => |$x:ident| $conv:expr;)*) => {$(
        impl<'s, T> ViaIndexed for Input<$ty> {
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

impl<'s, T, const N: usize> ViaIndexed for Input<&'s mut [T; N]> {
    type Source = SliceMut<'s, T>;
    fn to_source(&self) -> Self::Source {
        SliceMut::new(self.take())
    }
}

// ---------------------------------------------------------------- batch cursors

// A batch is a sub-slice `start..end` of the input. `slice::Iter` over it keeps an end
// pointer, `base + end`, and its loop's trip count is then `(end - start) * size / size`
// of two pointers into the same input, which LLVM does not simplify: the body's loop
// is then neither unrolled nor vectorised (measured: 1.5x the sequential loop over the
// whole slice, which is). A pointer and a count of items left make the trip count the
// batch's length itself, as for the integer ranges' cursor.

/// The items of one batch of a shared slice: `&T`, in order.
#[derive(Debug)]
pub struct SliceCursor<'s, T> {
    next: NonNull<T>,
    left: usize,
    _borrow: PhantomData<&'s [T]>,
}

// SAFETY: yields `&'s T` only, as `slice::Iter` does, which is `Send`/`Sync` when `T: Sync`.
unsafe impl<T: Sync> Send for SliceCursor<'_, T> {}
// SAFETY: as for `Send`.
unsafe impl<T: Sync> Sync for SliceCursor<'_, T> {}

impl<'s, T> SliceCursor<'s, T> {
    #[inline]
    fn new(items: &'s [T]) -> Self {
        SliceCursor {
            next: NonNull::from(items).cast(),
            left: items.len(),
            _borrow: PhantomData,
        }
    }

    /// The items not yet yielded.
    #[inline]
    pub fn as_slice(&self) -> &'s [T] {
        // SAFETY: `next..next + left` is the part of the borrowed batch not yet yielded.
        unsafe { std::slice::from_raw_parts(self.next.as_ptr(), self.left) }
    }
}

impl<'s, T> Iterator for SliceCursor<'s, T> {
    type Item = &'s T;

    #[inline]
    fn next(&mut self) -> Option<&'s T> {
        if self.left == 0 {
            return None;
        }
        let item = self.next;
        self.left -= 1;
        // SAFETY: `left` was positive, so `item` is in the batch and `item + 1` at most
        // one past its end (for a zero-sized `T`, adding to a dangling pointer moves
        // nothing).
        unsafe {
            self.next = item.add(1);
            Some(item.as_ref())
        }
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<T> ExactSizeIterator for SliceCursor<'_, T> {}

impl<T> std::iter::FusedIterator for SliceCursor<'_, T> {}

/// The items of one batch of a unique slice: `&mut T`, in order, each once.
#[derive(Debug)]
pub struct SliceCursorMut<'s, T> {
    next: NonNull<T>,
    left: usize,
    _borrow: PhantomData<&'s mut [T]>,
}

// SAFETY: yields `&'s mut T`, each once, as `slice::IterMut` does, which is `Send` when
// `T: Send` and `Sync` when `T: Sync`.
unsafe impl<T: Send> Send for SliceCursorMut<'_, T> {}
// SAFETY: as for `Send`; a shared cursor gives access to no item.
unsafe impl<T: Sync> Sync for SliceCursorMut<'_, T> {}

impl<'s, T> SliceCursorMut<'s, T> {
    #[inline]
    fn new(items: &'s mut [T]) -> Self {
        SliceCursorMut {
            left: items.len(),
            next: NonNull::from(items).cast(),
            _borrow: PhantomData,
        }
    }

    /// The items not yet yielded.
    #[inline]
    pub fn into_slice(self) -> &'s mut [T] {
        // SAFETY: `next..next + left` is the part of the uniquely borrowed batch not yet
        // yielded; the cursor is consumed, so nothing else hands those items out.
        unsafe { std::slice::from_raw_parts_mut(self.next.as_ptr(), self.left) }
    }
}

impl<'s, T> Iterator for SliceCursorMut<'s, T> {
    type Item = &'s mut T;

    #[inline]
    fn next(&mut self) -> Option<&'s mut T> {
        if self.left == 0 {
            return None;
        }
        let mut item = self.next;
        self.left -= 1;
        // SAFETY: `left` was positive, so `item` is in the batch and yielded once: the
        // cursor moves past it (see `SliceCursor::next`).
        unsafe {
            self.next = item.add(1);
            Some(item.as_mut())
        }
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<T> ExactSizeIterator for SliceCursorMut<'_, T> {}

impl<T> std::iter::FusedIterator for SliceCursorMut<'_, T> {}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn cursors_yield_exactly_their_range() {
        let xs: Vec<u32> = (0..10).collect();
        let source = Slice(&xs[..]);
        // SAFETY: in bounds; the ranges are read only.
        let got: Vec<u32> = unsafe { source.range(3..7) }.copied().collect();
        assert_eq!(got, [3, 4, 5, 6]);
        let mut c = unsafe { source.range(8..10) };
        assert_eq!(c.size_hint(), (2, Some(2)));
        assert_eq!(c.next(), Some(&8));
        assert_eq!(c.as_slice(), &[9]);
        assert_eq!((c.next(), c.next(), c.next()), (Some(&9), None, None));
        assert_eq!(unsafe { source.range(5..5) }.count(), 0);

        let units = [(); 4];
        assert_eq!(unsafe { Slice(&units[..]).range(1..4) }.count(), 3);

        let mut ys: Vec<u32> = (0..10).collect();
        let source = SliceMut::new(&mut ys);
        // SAFETY: in bounds and disjoint.
        for y in unsafe { source.range(2..4) } {
            *y += 100;
        }
        let mut rest = unsafe { source.range(6..9) };
        assert_eq!(rest.len(), 3);
        *rest.next().unwrap() = 0;
        assert_eq!(rest.into_slice(), &mut [7, 8]);
        assert_eq!(ys, [0, 1, 102, 103, 4, 5, 0, 7, 8, 9]);
    }
}
