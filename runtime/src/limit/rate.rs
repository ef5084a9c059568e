//! `rate = N / s`: how many items of a loop may *start* per unit of time, and the token
//! bucket that counts them.
//!
//! The bucket is [`governor`]'s GCRA, built without its clocks, jitter and futures: the
//! runtime gives it a clock of its own (time since the run started) and does its own
//! waiting (`run/throttle.rs`), so that a wait ends the moment the run stops.

use std::fmt;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

/// How many items a loop may start per unit of time: `rate = N / s` (also `/ ms`,
/// `/ min`), or `rate = EXPR` with a value of this type.
///
/// ```
/// use bounded_runtime::Rate;
/// use std::time::Duration;
/// assert_eq!(Rate::per_second(50).interval(), Some(Duration::from_millis(20)));
/// assert_eq!(Rate::per_minute(120).interval(), Some(Duration::from_millis(500)));
/// assert_eq!(Rate::per_millisecond(3).to_string(), "3 / ms");
/// // Zero is representable, and rejected when a loop starts with it.
/// assert_eq!(Rate::per_second(0).interval(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    items: u32,
    per: Duration,
}

impl Rate {
    /// `items` per `per`.
    pub const fn new(items: u32, per: Duration) -> Self {
        Rate { items, per }
    }

    /// `rate = N / s`.
    pub const fn per_second(items: u32) -> Self {
        Rate::new(items, Duration::from_secs(1))
    }

    /// `rate = N / ms`.
    pub const fn per_millisecond(items: u32) -> Self {
        Rate::new(items, Duration::from_millis(1))
    }

    /// `rate = N / min`.
    pub const fn per_minute(items: u32) -> Self {
        Rate::new(items, Duration::from_secs(60))
    }

    /// Items per [`per`](Self::per).
    pub const fn items(&self) -> u32 {
        self.items
    }

    /// The unit of time.
    pub const fn per(&self) -> Duration {
        self.per
    }

    /// Time between two starts at the steady rate, rounded *up* to the nanosecond, so a
    /// loop never starts items faster than asked; `None` for a rate of zero, or a
    /// unit of zero.
    pub fn interval(&self) -> Option<Duration> {
        if self.items == 0 || self.per.is_zero() {
            return None;
        }
        let nanos = self.per.as_nanos().div_ceil(u128::from(self.items));
        Some(Duration::from_nanos(
            u64::try_from(nanos).unwrap_or(u64::MAX),
        ))
    }

    /// Items per second, for reports.
    pub fn per_second_f64(&self) -> f64 {
        f64::from(self.items) / self.per.as_secs_f64()
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.per {
            p if p == Duration::from_secs(1) => "s",
            p if p == Duration::from_millis(1) => "ms",
            p if p == Duration::from_secs(60) => "min",
            p => return write!(f, "{} per {p:?}", self.items),
        };
        write!(f, "{} / {unit}", self.items)
    }
}

/// The bucket's clock: time since the run started, so no clock outlives its run and
/// the bucket's state is a plain duration.
#[derive(Debug, Clone)]
struct RunClock {
    origin: Instant,
}

impl Clock for RunClock {
    type Instant = Duration;

    #[inline]
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}

/// One run's token bucket: at most `burst` tokens at once, one more every
/// [`Rate::interval`]. Any window of length `w` holds at most `rate × w + burst` takes.
pub(crate) struct Bucket {
    limiter: RateLimiter<NotKeyed, InMemoryState, RunClock, NoOpMiddleware<Duration>>,
}

impl Bucket {
    /// `None` for a rate that admits nothing ([`Rate::interval`] is `None`); the loop's
    /// configuration rejects those before a run starts.
    pub(crate) fn new(rate: Rate, burst: NonZeroU32) -> Option<Self> {
        let quota = Quota::with_period(rate.interval()?)?.allow_burst(burst);
        let clock = RunClock {
            origin: Instant::now(),
        };
        Some(Bucket {
            limiter: RateLimiter::direct_with_clock(quota, clock),
        })
    }

    /// Takes one token, or says how long until the next one (at the earliest).
    #[inline]
    pub(crate) fn take(&self) -> Result<(), Duration> {
        self.limiter
            .check()
            .map_err(|not_until| not_until.wait_time_from(self.limiter.clock().now()))
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn burst(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    #[test]
    fn intervals_round_up() {
        assert_eq!(
            Rate::per_second(3).interval(),
            Some(Duration::from_nanos(333_333_334))
        );
        assert_eq!(
            Rate::per_millisecond(1_000_000).interval(),
            Some(Duration::from_nanos(1))
        );
        assert_eq!(
            Rate::per_minute(1).interval(),
            Some(Duration::from_secs(60))
        );
        assert_eq!(Rate::new(5, Duration::ZERO).interval(), None);
        assert_eq!(Rate::per_second(0).interval(), None);
    }

    #[test]
    fn display_names_the_unit() {
        assert_eq!(Rate::per_second(50).to_string(), "50 / s");
        assert_eq!(Rate::per_minute(7).to_string(), "7 / min");
        assert_eq!(
            Rate::new(2, Duration::from_millis(250)).to_string(),
            "2 per 250ms"
        );
    }

    #[test]
    fn a_full_bucket_gives_its_burst_then_waits_one_interval() {
        let bucket = Bucket::new(Rate::per_second(10), burst(3)).unwrap();
        for _ in 0..3 {
            assert_eq!(bucket.take(), Ok(()));
        }
        let wait = bucket.take().unwrap_err();
        assert!(wait > Duration::from_millis(50) && wait <= Duration::from_millis(100));
    }

    #[test]
    fn a_zero_rate_makes_no_bucket() {
        assert!(Bucket::new(Rate::per_second(0), burst(1)).is_none());
    }
}
