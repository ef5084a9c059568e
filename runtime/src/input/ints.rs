//! Integer ranges: items are computed, not stored.

use std::ops::Range;

use super::{Input, Shape, Source, ViaIndexed};

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

        // SAFETY: `range` computes its items from `start` and reads no memory, so no
        // range, in bounds or not, disjoint or not, can do harm; integers need no drop.
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
