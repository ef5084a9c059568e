//! Fixtures shared by the integration tests: a gauge of bodies running at once, a rayon
//! pool wide enough that a broken bound would show, and `par_bounded!` under a schedule
//! picked at run time.
#![allow(dead_code)]

use bounded::config::Schedule;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Once;
use std::thread;
use std::time::{Duration, Instant};

/// How long a body waits for the others to overlap with it before it gives up. Only a
/// broken (or starved) loop ever waits this long; it bounds the damage, it is not timed.
const RENDEZVOUS: Duration = Duration::from_secs(3);

/// Makes rayon's global pool 16 threads wide, far more than any limit the tests use, so
/// a loop that ignored its `limit` would run more bodies at once than it was allowed to.
/// Must run before the first loop of the process; every test calls it first.
pub fn wide_pool() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Fails only if the pool was already built, which then is 16 wide as well.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(16)
            .build_global();
    });
}

/// Counts bodies running at once and remembers the highest count.
pub struct Gauge {
    running: AtomicUsize,
    peak: AtomicUsize,
    /// Bodies entered so far.
    ran: AtomicUsize,
    /// Bodies hold their slot until this many run at once (or the deadline passes).
    want: usize,
    deadline: Instant,
}

impl Gauge {
    /// A gauge whose bodies hold on until `want` of them overlap: the overlap a correct
    /// loop must be able to reach, so reaching it is certain rather than lucky.
    pub fn new(want: usize) -> Self {
        Gauge {
            running: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            ran: AtomicUsize::new(0),
            want,
            deadline: Instant::now() + RENDEZVOUS,
        }
    }

    /// Marks a body as running until the guard is dropped.
    pub fn enter(&self) -> Running<'_> {
        let now = self.running.fetch_add(1, SeqCst) + 1;
        self.peak.fetch_max(now, SeqCst);
        self.ran.fetch_add(1, SeqCst);
        Running(&self.running)
    }

    /// One body: runs, waits for `want` overlapping bodies, then works ~200 µs.
    pub fn body(&self) {
        let _running = self.enter();
        while self.peak() < self.want && Instant::now() < self.deadline {
            thread::sleep(Duration::from_micros(50));
        }
        thread::sleep(Duration::from_micros(200));
    }

    /// The most bodies seen running at once.
    pub fn peak(&self) -> usize {
        self.peak.load(SeqCst)
    }

    /// Bodies entered so far, finished or not.
    pub fn ran(&self) -> usize {
        self.ran.load(SeqCst)
    }

    /// Bodies running now.
    pub fn running(&self) -> usize {
        self.running.load(SeqCst)
    }

    /// Asserts the bound held and, for `limit >= 2`, that bodies did overlap.
    #[track_caller]
    pub fn assert_bounded(&self, limit: usize, context: &str) {
        let peak = self.peak();
        assert!(
            peak <= limit,
            "{context}: {peak} bodies ran at once, limit {limit}"
        );
        assert!(peak >= 1, "{context}: no body ran");
        if limit >= 2 && self.want >= 2 {
            assert!(
                peak >= 2,
                "{context}: bodies never overlapped (peak {peak})"
            );
        }
    }
}

/// Every schedule, in the order the reference chapter lists them.
pub const SCHEDULES: [Schedule; 4] = [
    Schedule::Dynamic,
    Schedule::Static,
    Schedule::Guided,
    Schedule::Steal,
];

/// `par_bounded!` under a schedule picked at run time (the option itself is a literal in
/// each arm): `par_with_schedule!(schedule, limit = …; for … { … })`.
#[allow(unused_macros)]
macro_rules! par_with_schedule {
    ($schedule:expr, $($rest:tt)*) => {
        match $schedule {
            ::bounded::config::Schedule::Dynamic => ::bounded::par_bounded!(schedule = dynamic, $($rest)*),
            ::bounded::config::Schedule::Static => ::bounded::par_bounded!(schedule = static, $($rest)*),
            ::bounded::config::Schedule::Guided => ::bounded::par_bounded!(schedule = guided, $($rest)*),
            ::bounded::config::Schedule::Steal => ::bounded::par_bounded!(schedule = steal, $($rest)*),
        }
    };
}
#[allow(unused_imports)]
pub(crate) use par_with_schedule;

/// A body counted as running.
pub struct Running<'a>(&'a AtomicUsize);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

/// The current thread's id.
pub fn tid() -> thread::ThreadId {
    thread::current().id()
}
