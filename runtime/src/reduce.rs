//! Reductions: how the private copies of an outer variable are combined.
//!
//! `reduce(total: +)` gives every batch its own `total`, starting at the operator's
//! identity; the partial results are combined **in input order** (so `append` and any
//! associative but non-commutative function give the sequential answer), and the result
//! is folded into the outer variable with the same operator.
//!
//! Each operator of the attribute is a unit struct in [`op`]; [`Reducer`] says which
//! types it reduces. Users extend `merge` by implementing [`Merge`], `min`/`max` by
//! implementing [`Extremes`], `*` by implementing [`One`].

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, LinkedList, VecDeque};
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;
use std::ops::{Add, BitAnd, BitOr, BitXor, Mul, Not};

/// An associative operator with an identity.
///
/// ```
/// use bounded_runtime::reduce::{op, Reducer};
/// assert_eq!(Reducer::<u32>::identity(&op::Sum), 0);
/// assert_eq!(op::Sum.combine(2u32, 3), 5);
/// assert_eq!(Reducer::<i8>::identity(&op::BitAnd), -1);
/// ```
pub trait Reducer<T> {
    /// The value that changes nothing: `combine(identity(), x) == x`.
    fn identity(&self) -> T;
    /// Combines two partial results; `a` comes before `b` in input order.
    fn combine(&self, a: T, b: T) -> T;
}

/// The operators of `reduce(VAR: OP)`.
pub mod op {
    /// `+`: identity `T::default()` (zero).
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Sum;
    /// `*`: identity [`One`](super::One).
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Product;
    /// `&`: identity `!T::default()` (all ones, `true`).
    #[derive(Debug, Clone, Copy, Default)]
    pub struct BitAnd;
    /// `|`: identity `T::default()`.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct BitOr;
    /// `^`: identity `T::default()`.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct BitXor;
    /// `&&` on `bool`: identity `true`.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct All;
    /// `||` on `bool`: identity `false`.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Any;
    /// `min`: identity [`Extremes::GREATEST`](super::Extremes::GREATEST).
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Min;
    /// `max`: identity [`Extremes::LEAST`](super::Extremes::LEAST).
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Max;
    /// `append`: identity empty; later items go after earlier ones.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Append;
    /// `merge`: identity empty; see [`Merge`](super::Merge).
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Merge;
    /// A path to `fn(T, T) -> T`: identity `T::default()`.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Fold<F>(pub F);
}

impl<T: Default + Add<Output = T>> Reducer<T> for op::Sum {
    fn identity(&self) -> T {
        T::default()
    }
    fn combine(&self, a: T, b: T) -> T {
        a + b
    }
}

/// The identity of `*`.
pub trait One {
    /// `1`.
    fn one() -> Self;
}

macro_rules! one {
    ($($t:ty = $v:expr),*) => {$( impl One for $t { fn one() -> Self { $v } } )*};
}
one!(
    u8 = 1,
    u16 = 1,
    u32 = 1,
    u64 = 1,
    u128 = 1,
    usize = 1,
    i8 = 1,
    i16 = 1,
    i32 = 1,
    i64 = 1,
    i128 = 1,
    isize = 1,
    f32 = 1.0,
    f64 = 1.0
);

impl<T: One> One for std::num::Wrapping<T> {
    fn one() -> Self {
        std::num::Wrapping(T::one())
    }
}

impl<T: One + Mul<Output = T>> Reducer<T> for op::Product {
    fn identity(&self) -> T {
        T::one()
    }
    fn combine(&self, a: T, b: T) -> T {
        a * b
    }
}

impl<T: Default + Not<Output = T> + BitAnd<Output = T>> Reducer<T> for op::BitAnd {
    fn identity(&self) -> T {
        !T::default()
    }
    fn combine(&self, a: T, b: T) -> T {
        a & b
    }
}

impl<T: Default + BitOr<Output = T>> Reducer<T> for op::BitOr {
    fn identity(&self) -> T {
        T::default()
    }
    fn combine(&self, a: T, b: T) -> T {
        a | b
    }
}

impl<T: Default + BitXor<Output = T>> Reducer<T> for op::BitXor {
    fn identity(&self) -> T {
        T::default()
    }
    fn combine(&self, a: T, b: T) -> T {
        a ^ b
    }
}

impl Reducer<bool> for op::All {
    fn identity(&self) -> bool {
        true
    }
    fn combine(&self, a: bool, b: bool) -> bool {
        a && b
    }
}

impl Reducer<bool> for op::Any {
    fn identity(&self) -> bool {
        false
    }
    fn combine(&self, a: bool, b: bool) -> bool {
        a || b
    }
}

/// Types with a greatest and a least value: the identities of `min` and `max`.
///
/// ```
/// use bounded_runtime::reduce::Extremes;
/// assert_eq!(<u8 as Extremes>::GREATEST, 255);
/// assert_eq!(<f64 as Extremes>::LEAST, f64::NEG_INFINITY);
/// assert_eq!(Extremes::smaller(2.0, f64::NAN), 2.0);
/// ```
pub trait Extremes: Sized {
    /// The identity of `min`.
    const GREATEST: Self;
    /// The identity of `max`.
    const LEAST: Self;
    /// The smaller of two values (for floats, a NaN loses, as in `f64::min`).
    fn smaller(a: Self, b: Self) -> Self;
    /// The larger of two values (for floats, a NaN loses, as in `f64::max`).
    fn larger(a: Self, b: Self) -> Self;
}

macro_rules! extremes_ord {
    ($($t:ty),*) => {$(
        impl Extremes for $t {
            const GREATEST: Self = <$t>::MAX;
            const LEAST: Self = <$t>::MIN;
            fn smaller(a: Self, b: Self) -> Self { Ord::min(a, b) }
            fn larger(a: Self, b: Self) -> Self { Ord::max(a, b) }
        }
    )*};
}
extremes_ord!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, char);

macro_rules! extremes_float {
    ($($t:ty),*) => {$(
        impl Extremes for $t {
            const GREATEST: Self = <$t>::INFINITY;
            const LEAST: Self = <$t>::NEG_INFINITY;
            fn smaller(a: Self, b: Self) -> Self { a.min(b) }
            fn larger(a: Self, b: Self) -> Self { a.max(b) }
        }
    )*};
}
extremes_float!(f32, f64);

impl<T: Extremes> Reducer<T> for op::Min {
    fn identity(&self) -> T {
        T::GREATEST
    }
    fn combine(&self, a: T, b: T) -> T {
        T::smaller(a, b)
    }
}

impl<T: Extremes> Reducer<T> for op::Max {
    fn identity(&self) -> T {
        T::LEAST
    }
    fn combine(&self, a: T, b: T) -> T {
        T::larger(a, b)
    }
}

/// Collections that `append` concatenates: `a` then `b`.
pub trait Append: Default {
    /// Moves the items of `other` to the end of `self`.
    fn append_from(&mut self, other: Self);
}

impl<T> Append for Vec<T> {
    fn append_from(&mut self, mut other: Self) {
        if self.is_empty() {
            *self = other;
        } else {
            self.append(&mut other);
        }
    }
}

impl<T> Append for VecDeque<T> {
    fn append_from(&mut self, mut other: Self) {
        self.append(&mut other);
    }
}

impl<T> Append for LinkedList<T> {
    fn append_from(&mut self, mut other: Self) {
        self.append(&mut other);
    }
}

impl Append for String {
    fn append_from(&mut self, other: Self) {
        if self.is_empty() {
            *self = other;
        } else {
            self.push_str(&other);
        }
    }
}

impl<T: Append> Reducer<T> for op::Append {
    fn identity(&self) -> T {
        T::default()
    }
    fn combine(&self, mut a: T, b: T) -> T {
        a.append_from(b);
        a
    }
}

/// Values that `merge` combines: maps and sets take the union, and the values of keys
/// present in both are merged in turn; numbers add; sequences append.
///
/// Implement it for your own types to use them with `reduce(VAR: merge)`:
///
/// ```
/// use bounded_runtime::reduce::Merge;
/// #[derive(Default, Debug, PartialEq)]
/// struct Histogram { buckets: [u64; 4] }
/// impl Merge for Histogram {
///     fn merge(&mut self, other: Self) {
///         for (a, b) in self.buckets.iter_mut().zip(other.buckets) { *a += b; }
///     }
/// }
/// let mut h = Histogram { buckets: [1, 0, 0, 2] };
/// h.merge(Histogram { buckets: [0, 3, 0, 1] });
/// assert_eq!(h.buckets, [1, 3, 0, 3]);
/// ```
pub trait Merge: Default {
    /// Merges `other` into `self`.
    fn merge(&mut self, other: Self);
}

macro_rules! merge_numbers {
    ($($t:ty),*) => {$( impl Merge for $t { fn merge(&mut self, other: Self) { *self += other; } } )*};
}
merge_numbers!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64);

impl<K: Eq + Hash, V: Merge, S: BuildHasher + Default> Merge for HashMap<K, V, S> {
    fn merge(&mut self, other: Self) {
        if self.len() < other.len() {
            let smaller = std::mem::replace(self, other);
            // Merging the smaller map into the larger one keeps the work small, but the
            // value of a key must still be `earlier.merge(later)`.
            for (k, v) in smaller {
                match self.remove(&k) {
                    Some(later) => {
                        let mut earlier = v;
                        earlier.merge(later);
                        self.insert(k, earlier);
                    }
                    None => {
                        self.insert(k, v);
                    }
                }
            }
            return;
        }
        for (k, v) in other {
            match self.entry(k) {
                std::collections::hash_map::Entry::Occupied(mut e) => e.get_mut().merge(v),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(v);
                }
            }
        }
    }
}

impl<K: Ord, V: Merge> Merge for BTreeMap<K, V> {
    fn merge(&mut self, other: Self) {
        for (k, v) in other {
            match self.entry(k) {
                std::collections::btree_map::Entry::Occupied(mut e) => e.get_mut().merge(v),
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(v);
                }
            }
        }
    }
}

impl<T: Eq + Hash, S: BuildHasher + Default> Merge for HashSet<T, S> {
    fn merge(&mut self, other: Self) {
        if self.len() < other.len() {
            let smaller = std::mem::replace(self, other);
            self.extend(smaller);
        } else {
            self.extend(other);
        }
    }
}

impl<T: Ord> Merge for BTreeSet<T> {
    fn merge(&mut self, mut other: Self) {
        self.append(&mut other);
    }
}

impl<T> Merge for Vec<T> {
    fn merge(&mut self, other: Self) {
        self.append_from(other);
    }
}

impl<T> Merge for VecDeque<T> {
    fn merge(&mut self, other: Self) {
        self.append_from(other);
    }
}

impl Merge for String {
    fn merge(&mut self, other: Self) {
        self.append_from(other);
    }
}

impl<T: Merge> Merge for Option<T> {
    fn merge(&mut self, other: Self) {
        match (self.as_mut(), other) {
            (Some(a), Some(b)) => a.merge(b),
            (None, b) => *self = b,
            (Some(_), None) => {}
        }
    }
}

impl<T: Merge> Reducer<T> for op::Merge {
    fn identity(&self) -> T {
        T::default()
    }
    fn combine(&self, mut a: T, b: T) -> T {
        a.merge(b);
        a
    }
}

impl<T: Default, F: Fn(T, T) -> T> Reducer<T> for op::Fold<F> {
    fn identity(&self) -> T {
        T::default()
    }
    fn combine(&self, a: T, b: T) -> T {
        (self.0)(a, b)
    }
}

/// An operator bound to the type of the variable it reduces, so the macro never has to
/// name the type: `Typed::like(op::Sum, &total)`.
pub struct Typed<R, T> {
    op: R,
    _type: PhantomData<fn() -> T>,
}

impl<R: Clone, T> Clone for Typed<R, T> {
    fn clone(&self) -> Self {
        Typed {
            op: self.op.clone(),
            _type: PhantomData,
        }
    }
}

impl<R: Copy, T> Copy for Typed<R, T> {}

impl<R, T> std::fmt::Debug for Typed<R, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(std::any::type_name::<R>())
    }
}

impl<R: Reducer<T>, T> Typed<R, T> {
    /// `op`, reducing values of the type of `_var` (read for its type only).
    pub fn like(op: R, _var: &T) -> Self {
        Typed {
            op,
            _type: PhantomData,
        }
    }

    /// `op`, reducing values of a type left to inference.
    pub fn new(op: R) -> Self {
        Typed {
            op,
            _type: PhantomData,
        }
    }

    /// The identity.
    pub fn identity(&self) -> T {
        self.op.identity()
    }

    /// Combines two partials, `a` first in input order.
    pub fn combine(&self, a: T, b: T) -> T {
        self.op.combine(a, b)
    }

    /// Folds a loop's result into the outer variable: `*outer = outer OP result`.
    pub fn fold_into(&self, outer: &mut T, result: T) {
        let before = std::mem::replace(outer, self.op.identity());
        *outer = self.op.combine(before, result);
    }
}

/// All the reductions of one loop, as a tuple of [`Typed`] operators.
pub trait ReduceSet {
    /// The tuple of private copies one batch works on.
    type Acc;
    /// Every operator's identity.
    fn identity(&self) -> Self::Acc;
    /// Combines two batches' partials, `a` first in input order.
    fn combine(&self, a: Self::Acc, b: Self::Acc) -> Self::Acc;
}

macro_rules! reduce_tuples {
    ($( ($($r:ident $t:ident $i:tt),*) )*) => {$(
        impl<$($r: Reducer<$t>, $t,)*> ReduceSet for ($(Typed<$r, $t>,)*) {
            type Acc = ($($t,)*);
            #[allow(clippy::unused_unit)]
            fn identity(&self) -> Self::Acc {
                ($(self.$i.identity(),)*)
            }
            #[allow(clippy::unused_unit, unused_variables)]
            fn combine(&self, a: Self::Acc, b: Self::Acc) -> Self::Acc {
                ($(self.$i.combine(a.$i, b.$i),)*)
            }
        }
    )*};
}

reduce_tuples! {
    ()
    (R0 T0 0)
    (R0 T0 0, R1 T1 1)
    (R0 T0 0, R1 T1 1, R2 T2 2)
    (R0 T0 0, R1 T1 1, R2 T2 2, R3 T3 3)
    (R0 T0 0, R1 T1 1, R2 T2 2, R3 T3 3, R4 T4 4)
    (R0 T0 0, R1 T1 1, R2 T2 2, R3 T3 3, R4 T4 4, R5 T5 5)
    (R0 T0 0, R1 T1 1, R2 T2 2, R3 T3 3, R4 T4 4, R5 T5 5, R6 T6 6)
    (R0 T0 0, R1 T1 1, R2 T2 2, R3 T3 3, R4 T4 4, R5 T5 5, R6 T6 6, R7 T7 7)
    (R0 T0 0, R1 T1 1, R2 T2 2, R3 T3 3, R4 T4 4, R5 T5 5, R6 T6 6, R7 T7 7, R8 T8 8)
    (R0 T0 0, R1 T1 1, R2 T2 2, R3 T3 3, R4 T4 4, R5 T5 5, R6 T6 6, R7 T7 7, R8 T8 8, R9 T9 9)
    (R0 T0 0, R1 T1 1, R2 T2 2, R3 T3 3, R4 T4 4, R5 T5 5, R6 T6 6, R7 T7 7, R8 T8 8, R9 T9 9, R10 T10 10)
    (R0 T0 0, R1 T1 1, R2 T2 2, R3 T3 3, R4 T4 4, R5 T5 5, R6 T6 6, R7 T7 7, R8 T8 8, R9 T9 9, R10 T10 10, R11 T11 11)
}

/// The most reductions one loop may name (the macro checks it).
pub const MAX_REDUCTIONS: usize = 11;
