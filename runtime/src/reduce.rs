//! Reductions: how the private copies of an outer variable are combined.
//!
//! `reduce(total: +)` gives every batch its own `total`, starting at the operator's
//! identity; the partial results are combined **in input order** (so `append` and any
//! associative but non-commutative function give the sequential answer), and the result
//! is folded into the outer variable with the same operator.
//!
//! Each operator of the attribute is a unit struct in [`op`]; [`Reducer`] says which
//! types it reduces. Users extend `merge` by implementing [`Merge`], `extend` by
//! implementing [`ExtendFrom`], `min`/`max` by implementing [`Extremes`], `*` by
//! implementing [`One`].
//!
//! `last` is the one operator whose batch copy is not of the variable's type: a batch
//! that assigns nothing must say so, so its copy is an `Option` ([`op::Last`]).

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
#[diagnostic::on_unimplemented(
    message = "this `reduce` operator cannot combine values of type `{T}`",
    label = "does not fit `{T}`",
    note = "a `Vec`, `VecDeque`, `LinkedList` or `String` is reduced with `append`, which keeps input order",
    note = "maps and sets are reduced with `merge` (merges the values of equal keys) or `extend` (later entries replace earlier ones, as `insert` does)",
    note = "numbers: `+ * min max & | ^`; `bool`: `&& ||`; any type: `last`, or a path to `fn(T, T) -> T`"
)]
pub trait Reducer<T> {
    /// The value that changes nothing: `combine(identity(), x) == x`.
    fn identity(&self) -> T;
    /// Combines two partial results; `a` comes before `b` in input order.
    fn combine(&self, a: T, b: T) -> T;
    /// Whether combining partials in *any* order gives the sequential answer (see
    /// [`Merge::ORDER_FREE`]). Then a lane keeps one private copy for all its batches
    /// instead of one per batch. `false` unless an implementation says otherwise.
    const ORDER_FREE: bool = false;
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
    /// `extend`: identity empty; later entries replace earlier ones, see
    /// [`ExtendFrom`](super::ExtendFrom).
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Extend;
    /// `last`: reduces `Option<T>`, identity `None` (no item assigned); the later
    /// assignment wins.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Last;
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
    /// Whether merging the same parts in any order gives the same value: true for
    /// integers (addition), sets, and maps whose values are order-free; false for
    /// floats (rounding depends on the order), `Vec`, `VecDeque` and `String` (they
    /// append). When every reduction of a loop is order-free and the loop cannot exit
    /// early, each lane merges all its items into one copy (no fresh copy per batch,
    /// no merge per batch); otherwise partials are combined in input order. Defaults to
    /// `false`, which is always correct.
    const ORDER_FREE: bool = false;
}

macro_rules! merge_numbers {
    ($order_free:literal: $($t:ty),*) => {$(
        impl Merge for $t {
            fn merge(&mut self, other: Self) { *self += other; }
            const ORDER_FREE: bool = $order_free;
        }
    )*};
}
merge_numbers!(true: u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize);
merge_numbers!(false: f32, f64);

impl<K: Eq + Hash, V: Merge, S: BuildHasher + Default> Merge for HashMap<K, V, S> {
    const ORDER_FREE: bool = V::ORDER_FREE;

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
    const ORDER_FREE: bool = V::ORDER_FREE;

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
    const ORDER_FREE: bool = true;

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
    const ORDER_FREE: bool = true;

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
    const ORDER_FREE: bool = T::ORDER_FREE;

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
    const ORDER_FREE: bool = T::ORDER_FREE;
}

/// Collections that `extend` combines: the entries of the later part replace those of
/// the earlier one, as `insert` does in the sequential loop (a map keeps the earlier key
/// and takes the later value; a set keeps the element it already has).
///
/// Implement it for your own types to use them with `reduce(VAR: extend)`:
///
/// ```
/// use bounded_runtime::reduce::ExtendFrom;
/// #[derive(Default, Debug, PartialEq)]
/// struct Latest { slots: [Option<u32>; 3] }
/// impl ExtendFrom for Latest {
///     fn extend_from(&mut self, later: Self) {
///         for (a, b) in self.slots.iter_mut().zip(later.slots) {
///             if b.is_some() { *a = b; }
///         }
///     }
/// }
/// let mut l = Latest { slots: [Some(1), None, Some(3)] };
/// l.extend_from(Latest { slots: [Some(7), Some(8), None] });
/// assert_eq!(l.slots, [Some(7), Some(8), Some(3)]);
/// ```
pub trait ExtendFrom: Default {
    /// Adds the entries of `later` to `self`, replacing those with equal keys.
    fn extend_from(&mut self, later: Self);
}

impl<K: Eq + Hash, V, S: BuildHasher + Default> ExtendFrom for HashMap<K, V, S> {
    fn extend_from(&mut self, later: Self) {
        if self.is_empty() {
            *self = later;
        } else {
            self.extend(later);
        }
    }
}

impl<K: Ord, V> ExtendFrom for BTreeMap<K, V> {
    fn extend_from(&mut self, later: Self) {
        if self.is_empty() {
            *self = later;
        } else {
            self.extend(later);
        }
    }
}

impl<T: Eq + Hash, S: BuildHasher + Default> ExtendFrom for HashSet<T, S> {
    fn extend_from(&mut self, later: Self) {
        if self.is_empty() {
            *self = later;
        } else {
            self.extend(later);
        }
    }
}

impl<T: Ord> ExtendFrom for BTreeSet<T> {
    fn extend_from(&mut self, later: Self) {
        if self.is_empty() {
            *self = later;
        } else {
            self.extend(later);
        }
    }
}

impl<T: ExtendFrom> Reducer<T> for op::Extend {
    fn identity(&self) -> T {
        T::default()
    }
    fn combine(&self, mut a: T, b: T) -> T {
        a.extend_from(b);
        a
    }
}

/// `last`: the later batch's assignment, if it made one.
///
/// ```
/// use bounded_runtime::reduce::{op, Reducer};
/// assert_eq!(Reducer::<Option<u8>>::identity(&op::Last), None);
/// assert_eq!(op::Last.combine(Some(1), Some(2)), Some(2));
/// assert_eq!(op::Last.combine(Some(1), None), Some(1));
/// ```
impl<T> Reducer<Option<T>> for op::Last {
    fn identity(&self) -> Option<T> {
        None
    }
    fn combine(&self, a: Option<T>, b: Option<T>) -> Option<T> {
        b.or(a)
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

/// What `reduce(VAR: OP)` asks of the variable's type: that `OP` reduces it. Checked
/// where the macro names the operator, so a type the operator does not fit is reported
/// there, once, with the operators that do fit.
#[diagnostic::on_unimplemented(
    message = "this `reduce` operator cannot combine values of type `{Self}`",
    label = "does not fit `{Self}`",
    note = "a `Vec`, `VecDeque`, `LinkedList` or `String` is reduced with `append`, which keeps input order",
    note = "maps and sets are reduced with `merge` (merges the values of equal keys) or `extend` (later entries replace earlier ones, as `insert` does)",
    note = "numbers: `+ * min max & | ^`; `bool`: `&& ||`; any type: `last`, or a path to `fn(T, T) -> T`"
)]
pub trait ReducedBy<R>: Sized {
    /// `op`'s identity for this type.
    fn identity(op: &R) -> Self;
    /// Combines two partials with `op`, `a` first in input order.
    fn combine(op: &R, a: Self, b: Self) -> Self;
    /// [`Reducer::ORDER_FREE`].
    const ORDER_FREE: bool;
}

impl<T, R: Reducer<T>> ReducedBy<R> for T {
    fn identity(op: &R) -> T {
        op.identity()
    }
    fn combine(op: &R, a: T, b: T) -> T {
        op.combine(a, b)
    }
    const ORDER_FREE: bool = R::ORDER_FREE;
}

/// An operator bound to the type of the variable it reduces, so the macro never has to
/// name the type: `Typed::like(op::Sum, &total)`. `T` is the type of a batch's copy and
/// `O` the type of the outer variable: the same, except for `last` ([`Typed::last`]).
///
/// Whether the operator fits the type is checked once, when it is made; the rest of the
/// loop's code does not ask again (so a misfit is one error, at the operator).
pub struct Typed<R, T, O = T> {
    op: R,
    identity: fn(&R) -> T,
    combine: fn(&R, T, T) -> T,
    order_free: bool,
    _type: PhantomData<fn() -> O>,
}

impl<R: Clone, T, O> Clone for Typed<R, T, O> {
    fn clone(&self) -> Self {
        Typed {
            op: self.op.clone(),
            identity: self.identity,
            combine: self.combine,
            order_free: self.order_free,
            _type: PhantomData,
        }
    }
}

impl<R: Copy, T, O> Copy for Typed<R, T, O> {}

impl<R, T, O> std::fmt::Debug for Typed<R, T, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(std::any::type_name::<R>())
    }
}

impl<R, T, O> Typed<R, T, O> {
    /// The identity.
    pub fn identity(&self) -> T {
        (self.identity)(&self.op)
    }

    /// Combines two partials, `a` first in input order.
    pub fn combine(&self, a: T, b: T) -> T {
        (self.combine)(&self.op, a, b)
    }

    /// Whether partials may be combined in any order ([`Reducer::ORDER_FREE`]).
    pub fn order_free(&self) -> bool {
        self.order_free
    }
}

impl<R, T: ReducedBy<R>> Typed<R, T> {
    /// `op`, reducing values of the type of `_var` (read for its type only).
    pub fn like(op: R, _var: &T) -> Self {
        Self::new(op)
    }

    /// `op`, reducing values of a type left to inference.
    pub fn new(op: R) -> Self {
        Typed {
            op,
            identity: T::identity,
            combine: T::combine,
            order_free: T::ORDER_FREE,
            _type: PhantomData,
        }
    }
}

impl<R, T> Typed<R, T> {
    /// Folds a loop's result into the outer variable: `*outer = outer OP result`.
    pub fn fold_into(&self, outer: &mut T, result: T) {
        let before = std::mem::replace(outer, self.identity());
        *outer = self.combine(before, result);
    }
}

impl<T> Typed<op::Last, Option<T>, T> {
    /// `last` for the variable `_var` (read for its type only): a batch's copy is
    /// `Some(value)` once one of its items assigned the variable.
    ///
    /// ```
    /// use bounded_runtime::reduce::Typed;
    /// let mut seen = 1u32;
    /// let last = Typed::last(&seen);
    /// let result = last.combine(last.combine(Some(4), None), last.identity());
    /// last.fold_into(&mut seen, result);
    /// assert_eq!(seen, 4);
    /// last.fold_into(&mut seen, None);
    /// assert_eq!(seen, 4); // no item assigned: untouched
    /// ```
    pub fn last(_var: &T) -> Self {
        Typed {
            op: op::Last,
            identity: |_| None,
            combine: |_, a, b| b.or(a),
            order_free: false,
            _type: PhantomData,
        }
    }

    /// Writes the last assignment, if any item made one, into the outer variable.
    pub fn fold_into(&self, outer: &mut T, result: Option<T>) {
        if let Some(value) = result {
            *outer = value;
        }
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
    /// Whether every operator's partials may be combined in any order: then a lane
    /// keeps one private copy across its batches.
    fn order_free(&self) -> bool;
}

macro_rules! reduce_tuples {
    ($( ($($r:ident $t:ident $o:ident $i:tt),*) )*) => {$(
        impl<$($r, $t, $o,)*> ReduceSet for ($(Typed<$r, $t, $o>,)*) {
            type Acc = ($($t,)*);
            #[allow(clippy::unused_unit)]
            fn identity(&self) -> Self::Acc {
                ($(self.$i.identity(),)*)
            }
            #[allow(clippy::unused_unit, unused_variables)]
            fn combine(&self, a: Self::Acc, b: Self::Acc) -> Self::Acc {
                ($(self.$i.combine(a.$i, b.$i),)*)
            }
            fn order_free(&self) -> bool {
                true $(&& self.$i.order_free())*
            }
        }
    )*};
}

reduce_tuples! {
    ()
    (R0 T0 O0 0)
    (R0 T0 O0 0, R1 T1 O1 1)
    (R0 T0 O0 0, R1 T1 O1 1, R2 T2 O2 2)
    (R0 T0 O0 0, R1 T1 O1 1, R2 T2 O2 2, R3 T3 O3 3)
    (R0 T0 O0 0, R1 T1 O1 1, R2 T2 O2 2, R3 T3 O3 3, R4 T4 O4 4)
    (R0 T0 O0 0, R1 T1 O1 1, R2 T2 O2 2, R3 T3 O3 3, R4 T4 O4 4, R5 T5 O5 5)
    (R0 T0 O0 0, R1 T1 O1 1, R2 T2 O2 2, R3 T3 O3 3, R4 T4 O4 4, R5 T5 O5 5, R6 T6 O6 6)
    (R0 T0 O0 0, R1 T1 O1 1, R2 T2 O2 2, R3 T3 O3 3, R4 T4 O4 4, R5 T5 O5 5, R6 T6 O6 6, R7 T7 O7 7)
    (R0 T0 O0 0, R1 T1 O1 1, R2 T2 O2 2, R3 T3 O3 3, R4 T4 O4 4, R5 T5 O5 5, R6 T6 O6 6, R7 T7 O7 7, R8 T8 O8 8)
    (R0 T0 O0 0, R1 T1 O1 1, R2 T2 O2 2, R3 T3 O3 3, R4 T4 O4 4, R5 T5 O5 5, R6 T6 O6 6, R7 T7 O7 7, R8 T8 O8 8, R9 T9 O9 9)
    (R0 T0 O0 0, R1 T1 O1 1, R2 T2 O2 2, R3 T3 O3 3, R4 T4 O4 4, R5 T5 O5 5, R6 T6 O6 6, R7 T7 O7 7, R8 T8 O8 8, R9 T9 O9 9, R10 T10 O10 10)
    (R0 T0 O0 0, R1 T1 O1 1, R2 T2 O2 2, R3 T3 O3 3, R4 T4 O4 4, R5 T5 O5 5, R6 T6 O6 6, R7 T7 O7 7, R8 T8 O8 8, R9 T9 O9 9, R10 T10 O10 10, R11 T11 O11 11)
}

/// The most reductions one loop may name (the macro checks it).
pub const MAX_REDUCTIONS: usize = 11;

#[cfg(test)]
mod tests {
    use super::*;

    /// Combining in input order is what `insert` does sequentially: the later value wins,
    /// the map keeps the key it already had, a set the element it already had.
    #[test]
    fn extend_replaces_earlier_entries_like_insert() {
        #[derive(Debug, Clone)]
        struct Key(&'static str, u8);
        impl PartialEq for Key {
            fn eq(&self, other: &Self) -> bool {
                self.1 == other.1
            }
        }
        impl Eq for Key {}
        impl Hash for Key {
            fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
                self.1.hash(h)
            }
        }
        let mut sequential = HashMap::new();
        sequential.insert(Key("first", 1), 100);
        sequential.insert(Key("second", 1), 300);
        let (a, b) = (
            HashMap::from([(Key("first", 1), 100), (Key("first", 2), 150)]),
            HashMap::from([(Key("second", 1), 300)]),
        );
        let combined: HashMap<Key, i32> = op::Extend.combine(a, b);
        let (k, v) = combined.iter().find(|(k, _)| k.1 == 1).unwrap();
        assert_eq!((k.0, *v), (sequential.keys().next().unwrap().0, 300));
        assert_eq!(combined.len(), 2);

        let sets: HashSet<Key> = op::Extend.combine(
            HashSet::from([Key("first", 1)]),
            HashSet::from([Key("second", 1)]),
        );
        assert_eq!(sets.iter().next().unwrap().0, "first");

        let trees: BTreeMap<u8, &str> = op::Extend.combine(
            BTreeMap::from([(1, "a"), (2, "b")]),
            BTreeMap::from([(2, "c")]),
        );
        assert_eq!(trees, BTreeMap::from([(1, "a"), (2, "c")]));
        let empty: BTreeSet<u8> = Reducer::<BTreeSet<u8>>::identity(&op::Extend);
        assert_eq!(
            op::Extend.combine(empty, BTreeSet::from([3])),
            BTreeSet::from([3])
        );
    }

    #[test]
    fn last_keeps_the_latest_assignment_and_leaves_the_outer_alone_without_one() {
        let mut x = String::from("before");
        let last = Typed::last(&x);
        let parts = [
            None,
            Some("a".to_string()),
            None,
            Some("b".to_string()),
            None,
        ];
        let result = parts
            .into_iter()
            .fold(last.identity(), |acc, p| last.combine(acc, p));
        last.fold_into(&mut x, result);
        assert_eq!(x, "b");
        last.fold_into(&mut x, last.identity());
        assert_eq!(x, "b");
    }
}
