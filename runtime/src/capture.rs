//! Per-batch snapshots of the variables a loop body reads from its surroundings.
//!
//! A body closure captures outer variables by reference. The closure is shared with the
//! workers, so those variables' stack slots escape, and after any call the optimiser
//! cannot see into (a `Vec` growing, a map inserting) it must read them again. A loop
//! bound read again on every item defeats the hoisting of bounds checks out of the
//! body's inner loops, and those loops then compile worse than the same loop written
//! sequentially.
//!
//! The generated code therefore reads each captured variable once per batch:
//! `(&&Cap(&x)).cap()` is a [`Copied`] copy when `x` is `Copy` ([`CapCopy`]) and the
//! reference itself otherwise ([`CapRef`]); the body then reads `(*snapshot)`, a place
//! of `x`'s own type either way, so its meaning does not change.

use std::ops::Deref;

/// A captured variable, for [`CapCopy`] or [`CapRef`] to snapshot.
pub struct Cap<'a, T>(pub &'a T);

/// A copy of a `Copy` variable, taken when a batch starts.
#[derive(Clone, Copy)]
pub struct Copied<T>(T);

impl<T> Deref for Copied<T> {
    type Target = T;

    #[inline(always)]
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Picked by method resolution when the variable is `Copy`: a copy.
pub trait CapCopy {
    /// [`Copied`].
    type Out;
    /// The snapshot.
    fn cap(&self) -> Self::Out;
}

impl<T: Copy> CapCopy for &Cap<'_, T> {
    type Out = Copied<T>;

    #[inline(always)]
    fn cap(&self) -> Copied<T> {
        Copied(*self.0)
    }
}

/// The fallback for a variable that is not `Copy`: the reference the closure held.
pub trait CapRef {
    /// `&T`.
    type Out;
    /// The snapshot.
    fn cap(&self) -> Self::Out;
}

impl<'a, T> CapRef for Cap<'a, T> {
    type Out = &'a T;

    #[inline(always)]
    fn cap(&self) -> &'a T {
        self.0
    }
}
