//! A value alone on its cache lines.

/// Aligned to two cache lines (adjacent-line prefetching pairs them on x86), so that
/// what one thread writes here never invalidates what others read beside it, and the
/// reverse: a counter that one thread bumps per batch while other threads read the
/// fields next to it would otherwise move between cores at every bump.
#[derive(Default, Debug)]
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}
