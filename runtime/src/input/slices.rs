//! Shared and unique slices: items are `&T` or `&mut T`, read in place.

use std::marker::PhantomData;
use std::ops::Range;

use super::{Input, Shape, Source, ViaIndexed};

/// `&[T]`, `&Vec<T>`, `&[T; N]`, `slice.iter()`: items are `&T`.
#[derive(Debug)]
pub struct Slice<'s, T>(&'s [T]);

// SAFETY: hands out shared references only, and `T: Sync` makes them shareable across
// workers; `range` indexes with bounds checks, so it relies on no part of the contract.
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
