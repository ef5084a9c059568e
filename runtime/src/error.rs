//! Errors a loop or pool reports in its own name.

use std::fmt;

/// A full queue refused new work (`on_full = reject`, `try_execute`, `#[gate(on_full = reject)]`).
///
/// ```
/// let e = bounded_runtime::Rejected;
/// assert_eq!(e.to_string(), "rejected: the queue is full");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Rejected;

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("rejected: the queue is full")
    }
}

impl std::error::Error for Rejected {}

/// A loop stopped dispatching at its deadline (`timeout`) or on its token (`cancel`).
///
/// ```
/// let e = bounded_runtime::Cancelled;
/// assert_eq!(e.to_string(), "cancelled before every item ran");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Cancelled;

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cancelled before every item ran")
    }
}

impl std::error::Error for Cancelled {}

/// A downstream signalled overload; the adaptive limiter cuts its bound when it sees one.
///
/// ```
/// let e = bounded_runtime::Overloaded;
/// assert_eq!(e.to_string(), "overloaded: the downstream refused the request");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Overloaded;

impl fmt::Display for Overloaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("overloaded: the downstream refused the request")
    }
}

impl std::error::Error for Overloaded {}
