//! Owned vectors: items are moved out, each exactly once.

use std::marker::PhantomData;
use std::ops::Range;

use super::{Input, Shape, Source, ViaIndexed};

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

// SAFETY: `range` asserts that its range is in bounds, and its cursor moves out only
// the items of that range, each once (what it does not yield it drops); the default
// `discard` runs such a cursor. That no two calls get overlapping ranges, so no item is
// moved out twice, is the caller's contract.
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

impl<T> ViaIndexed for Input<Vec<T>> {
    type Source = Owned<T>;
    fn to_source(&self) -> Self::Source {
        Owned::new(self.take())
    }
}

impl<T> ViaIndexed for Input<std::vec::IntoIter<T>> {
    type Source = Owned<T>;
    fn to_source(&self) -> Self::Source {
        // Collecting a `vec::IntoIter` into a `Vec` reuses its allocation.
        Owned::new(self.take().collect())
    }
}
