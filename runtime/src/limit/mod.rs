//! Bounds on how much runs at once: the words `limit` and `on_full` (shared by the
//! loop configuration and the pool), what a full queue does, permits for `weight` and
//! `#[gate]`, `coalesce`, and `rate` (how many items start per unit of time).

use std::sync::OnceLock;
use std::time::Duration;

pub use adaptive::Adaptive;

pub mod adaptive;
pub mod coalesce;
pub mod gate;
pub mod permits;
pub mod rate;

pub use rate::Rate;

/// How many items (or batches) of one loop may run at once.
///
/// ```
/// use bounded_runtime::Limit;
/// use std::time::Duration;
/// assert_eq!(Limit::fixed(8).resolve(), 8);
/// // Little's law: 500 requests/s × 200 ms in flight = 100.
/// assert_eq!(Limit::little(500.0, Duration::from_millis(200)).resolve(), 100);
/// assert!(Limit::cpus(1).resolve() >= 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    /// Exactly this many (`limit = N`); zero is rejected when the loop starts.
    Fixed(usize),
    /// The available parallelism times a factor (`limit = cpus`, `limit = cpus * k`).
    Cpus(usize),
    /// Little's law: arrival rate (items/s) × latency (`limit = little(rate = R, latency = D)`).
    Little {
        /// Items per second the loop should sustain.
        rate: f64,
        /// Time one item takes.
        latency: Duration,
    },
    /// A bound that follows measured latency (`limit = adaptive(max = M, …)`), for the
    /// pool and async backends; it starts at `initial` and moves within `min..=max`.
    Adaptive(Adaptive),
}

impl Limit {
    /// `limit = N`.
    pub fn fixed(n: usize) -> Self {
        Limit::Fixed(n)
    }

    /// `limit = cpus * factor`.
    pub fn cpus(factor: usize) -> Self {
        Limit::Cpus(factor)
    }

    /// `limit = little(rate = R, latency = D)`: the number of items in flight that
    /// sustains `rate` items per second when each takes `latency`, rounded up.
    pub fn little(rate: f64, latency: Duration) -> Self {
        Limit::Little { rate, latency }
    }

    /// `limit = adaptive(max = M)`; [`Adaptive::min`] and [`Adaptive::initial`] set the
    /// rest.
    pub fn adaptive(words: Adaptive) -> Self {
        Limit::Adaptive(words)
    }

    /// The bound as a number (for an adaptive limit, its `max`: how many lanes may
    /// exist). Zero stays zero; [`Config`] rejects it with the loop's location.
    pub fn resolve(&self) -> usize {
        match *self {
            Limit::Adaptive(a) if a.problem().is_some() => 0,
            Limit::Adaptive(a) => a.max,
            Limit::Fixed(n) => n,
            Limit::Cpus(k) => available_cpus().saturating_mul(k),
            Limit::Little { rate, latency } => {
                let in_flight = rate * latency.as_secs_f64();
                if in_flight.is_finite() && in_flight > 0.0 {
                    // Round up, but forgive float noise such as 100.00000000000001.
                    (in_flight - 1e-9).ceil().max(1.0) as usize
                } else {
                    0
                }
            }
        }
    }
}

/// The CPUs this process may use: honours affinity masks and cgroup quotas (a container
/// limited to 2 CPUs on a 32-core host gets 2). Read once per process and cached, so a
/// small loop does not pay for reading the cgroup files on every start.
///
/// ```
/// assert!(bounded_runtime::available_cpus() >= 1);
/// ```
pub fn available_cpus() -> usize {
    static CPUS: OnceLock<usize> = OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// What submitting to a full queue does (`on_full = …`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnFull {
    /// Wait for room (backpressure).
    #[default]
    Block,
    /// Skip the work and count it as dropped.
    Drop,
    /// Refuse the work with [`Rejected`](crate::Rejected).
    Reject,
    /// Run the work on the submitting thread (no deadlock when a job submits to its own
    /// pool).
    CallerRuns,
}

/// What the submitter of work that found its queue full should do: the `on_full`
/// decision, written once for the pool's queue, the pool backend's dispatcher and the
/// async pump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WhenFull {
    /// Wait for room.
    Wait,
    /// Drop the work and count it.
    Shed,
    /// Fail with `Rejected`.
    Refuse,
    /// Run the work on the submitting thread.
    RunHere,
}

/// What the submitter can do about a full queue.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Full {
    /// It may run the work itself now (a thread, with a free slot of the bound).
    pub(crate) can_run_here: bool,
    /// Waiting could wait for itself (a pool worker blocking on its own pool's queue).
    pub(crate) waiting_could_deadlock: bool,
}

/// The `on_full` decision.
pub(crate) fn when_full(policy: OnFull, full: Full) -> WhenFull {
    match policy {
        OnFull::Drop => WhenFull::Shed,
        OnFull::Reject => WhenFull::Refuse,
        OnFull::CallerRuns if full.can_run_here => WhenFull::RunHere,
        OnFull::Block if full.waiting_could_deadlock && full.can_run_here => WhenFull::RunHere,
        OnFull::CallerRuns | OnFull::Block => WhenFull::Wait,
    }
}

/// A queue whose buffer cannot be allocated: `queue = N` with an `N` no memory can
/// hold. The loop's and the pool's checks report it with the option's name and where
/// it was written instead of letting the allocation abort the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueueTooLarge {
    /// The buffer's size in bytes; `None` when it does not even fit in a `usize`.
    pub(crate) bytes: Option<usize>,
}

impl QueueTooLarge {
    /// The buffer's size, for messages.
    pub(crate) fn size(&self) -> String {
        match self.bytes {
            Some(b) => format!("{b} bytes"),
            None => "more bytes than the address space has".to_owned(),
        }
    }
}

/// Below this size a queue's buffer is not probed: an allocator that cannot give that
/// much has already failed the process elsewhere.
const PROBE_ABOVE: usize = 1 << 20;

/// Whether a buffer of `slots` values of `T` can be allocated now: its size must fit in
/// `isize::MAX` bytes and, above a megabyte, the allocator must grant it
/// (`try_reserve_exact`, freed at once). Checked before a queue is built.
pub(crate) fn queue_buffer<T>(slots: usize) -> Result<(), QueueTooLarge> {
    let bytes = slots.checked_mul(std::mem::size_of::<T>());
    match bytes {
        Some(b) if b <= PROBE_ABOVE => Ok(()),
        Some(b) if b > isize::MAX as usize => Err(QueueTooLarge { bytes }),
        None => Err(QueueTooLarge { bytes }),
        Some(_) => Vec::<T>::new()
            .try_reserve_exact(slots)
            .map_err(|_| QueueTooLarge { bytes }),
    }
}

#[cfg(test)]
mod test {
    use super::{queue_buffer, QueueTooLarge};

    #[test]
    fn a_queue_buffer_is_refused_only_when_it_cannot_be_allocated() {
        assert_eq!(queue_buffer::<[u64; 4]>(16), Ok(()));
        // Above a megabyte the allocator is asked, and grants it.
        assert_eq!(queue_buffer::<[u64; 4]>(100_000), Ok(()));
        // Nothing to allocate for values of no size.
        assert_eq!(queue_buffer::<()>(usize::MAX), Ok(()));
        // Its size does not fit in a `usize`.
        assert_eq!(
            queue_buffer::<[u64; 4]>(usize::MAX),
            Err(QueueTooLarge { bytes: None })
        );
        // It fits in a `usize` but not in `isize::MAX`.
        assert_eq!(
            queue_buffer::<u8>(usize::MAX),
            Err(QueueTooLarge {
                bytes: Some(usize::MAX)
            })
        );
        // Representable, but beyond any address space: the allocator refuses.
        assert_eq!(
            queue_buffer::<[u64; 4]>(1 << 50),
            Err(QueueTooLarge {
                bytes: Some(32 << 50)
            })
        );
        assert!(QueueTooLarge { bytes: None }
            .size()
            .contains("address space"));
    }
}
