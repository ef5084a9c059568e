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

/// Whether an error is a downstream's overload signal: the question `limit =
/// adaptive(...)` asks of a body's error, to cut its limit. The item still counts as
/// failed like any other error.
///
/// The method has a default (`false`), so a type of yours opts in with one line, or
/// answers from its contents — an HTTP status of 429 or 503, say:
///
/// ```
/// use bounded_runtime::IsOverloaded;
///
/// #[derive(Debug)]
/// enum FetchError {
///     Status(u16),
///     Io(std::io::Error),
/// }
///
/// impl IsOverloaded for FetchError {
///     fn is_overloaded(&self) -> bool {
///         matches!(self, FetchError::Status(429 | 503)) || matches!(self, FetchError::Io(e) if e.is_overloaded())
///     }
/// }
///
/// assert!(FetchError::Status(503).is_overloaded());
/// assert!(!FetchError::Status(404).is_overloaded());
/// let timed_out = std::io::Error::from(std::io::ErrorKind::TimedOut);
/// assert!(FetchError::Io(timed_out).is_overloaded());
/// ```
///
/// A loop whose error type does not implement it still compiles: its errors are then
/// never overload signals (the generated code asks through autoref specialisation).
pub trait IsOverloaded {
    /// `true` when the downstream refused the request for lack of capacity, or timed out.
    fn is_overloaded(&self) -> bool {
        false
    }
}

impl IsOverloaded for Overloaded {
    fn is_overloaded(&self) -> bool {
        true
    }
}

/// A timeout (`ErrorKind::TimedOut`) is an overload signal, and so is an `Overloaded`
/// carried inside (`io::Error::other(Overloaded)`).
impl IsOverloaded for std::io::Error {
    fn is_overloaded(&self) -> bool {
        self.kind() == std::io::ErrorKind::TimedOut
            || self.get_ref().is_some_and(|e| e.is::<Overloaded>())
    }
}

fn dyn_is_overloaded(e: &(dyn std::error::Error + 'static)) -> bool {
    e.is::<Overloaded>()
        || e.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.is_overloaded())
}

/// By downcasting: an [`Overloaded`] (or a timed-out `io::Error`) in the box.
///
/// ```
/// use bounded_runtime::{IsOverloaded, Overloaded};
/// let e: Box<dyn std::error::Error + Send + Sync> = Box::new(Overloaded);
/// assert!(e.is_overloaded());
/// let e: Box<dyn std::error::Error + Send + Sync> = "no".into();
/// assert!(!e.is_overloaded());
/// ```
impl IsOverloaded for Box<dyn std::error::Error + Send + Sync> {
    fn is_overloaded(&self) -> bool {
        dyn_is_overloaded(self.as_ref())
    }
}

impl IsOverloaded for Box<dyn std::error::Error> {
    fn is_overloaded(&self) -> bool {
        dyn_is_overloaded(self.as_ref())
    }
}

/// How the generated code asks [`IsOverloaded`] of an error type that may not implement
/// it: `(&OverloadProbe::new()).classifier()` finds [`ViaIsOverloaded`] when the type
/// implements the trait, and [`ViaNotOverloaded`] (one auto-reference further) when it
/// does not.
#[doc(hidden)]
pub struct OverloadProbe<E>(std::marker::PhantomData<fn(&E)>);

impl<E> OverloadProbe<E> {
    #[doc(hidden)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        OverloadProbe(std::marker::PhantomData)
    }

    /// Never called: names the error type in an unreachable `return`, so that it is
    /// known (the enclosing function's) before the classifier is looked up.
    #[doc(hidden)]
    pub fn never(&self) -> E {
        unreachable!("only named in code that never runs")
    }
}

#[doc(hidden)]
pub trait ViaIsOverloaded<E> {
    fn classifier(&self) -> fn(&E) -> bool;
}

impl<E: IsOverloaded> ViaIsOverloaded<E> for OverloadProbe<E> {
    fn classifier(&self) -> fn(&E) -> bool {
        E::is_overloaded
    }
}

#[doc(hidden)]
pub trait ViaNotOverloaded<E> {
    fn classifier(&self) -> fn(&E) -> bool;
}

impl<E> ViaNotOverloaded<E> for &OverloadProbe<E> {
    fn classifier(&self) -> fn(&E) -> bool {
        |_| false
    }
}

/// The classifier of a loop that is not adaptive, or whose error cannot be asked.
pub(crate) fn never_overloaded<E>(_: &E) -> bool {
    false
}
