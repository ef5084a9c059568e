//! `limit = adaptive(max = M, min = m, initial = i)`: a bound that follows measured
//! latency. The design, the algorithm and its constants are in `README.md` next to this
//! file.
//!
//! [`Controller`] is the algorithm alone (plain data, deterministic, tested without
//! threads). [`Limiter`] is what a run shares: the controller under a mutex, the
//! current limit as one atomic the lanes' slots read, and those slots.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::permits::{Acquire, Permit, Permits};
// The limit the permits re-read: the model checker's atomic under `--cfg loom`, like
// the permits' own.
use crate::pool::sync::AtomicUsize;

/// The words of `limit = adaptive(...)`: the range the limiter moves in and where it
/// starts.
///
/// ```
/// use bounded_runtime::limit::Adaptive;
/// let a = Adaptive::new(64).min(2).initial(8);
/// assert_eq!((a.max, a.min, a.initial), (64, 2, 8));
/// assert_eq!(Adaptive::new(64).initial, 4); // min(max, 4) unless given
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Adaptive {
    /// Never above this many at once.
    pub max: usize,
    /// Never below this many (default 1).
    pub min: usize,
    /// The limit the run starts with (default 4, within `min..=max`).
    pub initial: usize,
}

impl Adaptive {
    /// `adaptive(max = M)`.
    pub fn new(max: usize) -> Self {
        Adaptive {
            max,
            min: 1,
            initial: 4.min(max),
        }
    }

    /// `min = m`.
    pub fn min(mut self, min: usize) -> Self {
        self.min = min;
        self
    }

    /// `initial = i`.
    pub fn initial(mut self, initial: usize) -> Self {
        self.initial = initial;
        self
    }

    /// Why these words cannot run, if they cannot: a zero, `min > max`, or an initial
    /// limit outside `min..=max`.
    pub fn problem(&self) -> Option<String> {
        if self.max == 0 || self.min == 0 {
            return Some(format!(
                "`limit = adaptive(max = {}, min = {})` needs max and min of at least 1",
                self.max, self.min
            ));
        }
        if self.min > self.max {
            return Some(format!(
                "`limit = adaptive(...)` has min = {} above max = {}",
                self.min, self.max
            ));
        }
        if !(self.min..=self.max).contains(&self.initial) {
            return Some(format!(
                "`limit = adaptive(...)` starts at initial = {}, outside min = {} ..= max = {}",
                self.initial, self.min, self.max
            ));
        }
        None
    }
}

/// A window ends after this many samples, or the current limit's worth if more: about
/// one round trip of every slot, so a window sees the queue the limit makes.
pub(crate) const MIN_SAMPLES: u32 = 8;
/// Below this ratio of window latency to no-load latency there is no queue to speak
/// of: grow (doubling in slow start, by one after it).
pub(crate) const GROW_BELOW: f64 = 1.15;
/// Above this ratio the limit makes a queue: shrink by one.
pub(crate) const SHRINK_ABOVE: f64 = 1.3;
/// Above this ratio the queue is long (the capacity fell, or slow start overshot): cut
/// in one step toward [`TARGET`], by the gradient `TARGET / ratio`.
pub(crate) const CUT_ABOVE: f64 = 1.4;
/// The ratio a gradient cut aims for: inside the band between growing and shrinking.
pub(crate) const TARGET: f64 = 1.2;
/// The most one window may cut the limit by (Envoy's gradient clamp).
pub(crate) const MOST_DOWN: f64 = 0.5;
/// How much of the gradient one window applies (Gradient2's smoothing): one window of a
/// host that stalled does not halve the limit, and a real fall in capacity is followed
/// within a few windows.
pub(crate) const SMOOTHING: f64 = 0.5;
/// The cut on an overload signal, at most once per window.
pub(crate) const CUT: f64 = 0.9;
/// Once an overload has been seen, growth past it is this slow (per window).
pub(crate) const CREEP: f64 = 0.125;
/// Windows between probes of the no-load latency, before jitter (±50%).
pub(crate) const PROBE_EVERY: u32 = 60;

/// What the controller is doing.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Ordinary windows.
    Steady,
    /// Probing the no-load latency at half the limit for one window (after the
    /// batches that started under the old limit have drained); then the limit goes back
    /// to `resume`.
    Probe { resume: f64 },
}

/// The algorithm: per-window updates anchored to the no-load latency (see README.md).
#[derive(Debug, Clone)]
pub struct Controller {
    words: Adaptive,
    limit: f64,
    /// Median latency of the best window since the last probe (nanoseconds).
    no_load: Option<f64>,
    /// The window's latencies (nanoseconds); its median is the window's latency, which
    /// a few late wake-ups of a loaded host do not move.
    window: Vec<u64>,
    /// The window had an overload cut: it does not grow.
    cut: bool,
    /// Batches (samples and overloads) since the last overload cut.
    since_cut: u32,
    /// Samples still to skip after a change: batches that started under the previous
    /// limit, whose latency shows that limit's queue, not this one's.
    skip: u32,
    /// The limit at the last overload: growth near it creeps.
    ceiling: Option<f64>,
    /// How fast growth creeps near the ceiling: halved by each overload there, so a
    /// hard limit that keeps refusing is probed less and less often.
    creep: f64,
    /// Doubling until the first sign of a queue or of overload.
    slow_start: bool,
    phase: Phase,
    until_probe: u32,
    rng: u64,
}

impl Controller {
    /// A controller at `words.initial`; `seed` jitters the probe schedule.
    pub fn new(words: Adaptive, seed: u64) -> Self {
        let mut c = Controller {
            words,
            limit: words.initial as f64,
            no_load: None,
            window: Vec::new(),
            cut: false,
            since_cut: u32::MAX,
            skip: 0,
            ceiling: None,
            creep: CREEP,
            slow_start: true,
            phase: Phase::Steady,
            until_probe: 0,
            rng: seed | 1,
        };
        c.until_probe = c.next_probe();
        c
    }

    /// The limit now, as the slots use it.
    pub fn limit(&self) -> usize {
        (self.limit.floor() as usize).clamp(self.words.min, self.words.max)
    }

    /// The no-load latency the controller is anchored to, once it has one.
    pub fn no_load(&self) -> Option<Duration> {
        self.no_load.map(|ns| Duration::from_nanos(ns as u64))
    }

    fn next_probe(&mut self) -> u32 {
        // xorshift64: a fixed sequence per seed, so runs are reproducible.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let half = PROBE_EVERY / 2;
        half + (self.rng % u64::from(PROBE_EVERY)) as u32
    }

    fn clamp(&self, limit: f64) -> f64 {
        limit.clamp(self.words.min as f64, self.words.max as f64)
    }

    /// One batch succeeded with `latency` per item. `true` when the limit changed.
    pub fn sample(&mut self, latency: Duration) -> bool {
        let before = self.limit();
        self.since_cut = self.since_cut.saturating_add(1);
        if self.skip > 0 {
            self.skip -= 1;
            return false;
        }
        self.window
            .push(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX));
        let size = MIN_SAMPLES.max(self.limit() as u32);
        if self.window.len() as u32 >= size {
            self.end_window();
        }
        self.changed(before)
    }

    /// After a change from `before`, skips the batches admitted under it.
    fn changed(&mut self, before: usize) -> bool {
        let now = self.limit();
        if now != before {
            self.skip = before as u32;
            self.window.clear();
        }
        now != before
    }

    /// A batch failed with an overload signal (`Overloaded`, a timeout): cut, at most
    /// once per half a limit's worth of batches (refusals come in bursts: every batch
    /// in flight past the downstream's limit is refused at once). `true` when the limit
    /// changed.
    pub fn overloaded(&mut self) -> bool {
        let before = self.limit();
        self.since_cut = self.since_cut.saturating_add(1);
        if self.since_cut > (self.limit() as u32 / 2).max(1) {
            self.since_cut = 0;
            self.cut = true;
            self.slow_start = false;
            if self.ceiling.is_some_and(|c| self.limit <= c + 1.0) {
                // Refused again where it was refused before: creep slower.
                self.creep = (self.creep / 2.0).max(CREEP / 16.0);
            }
            self.ceiling = Some(self.limit);
            if let Phase::Probe { resume } = self.phase {
                // Overloaded even at half: lower the resume point too.
                self.phase = Phase::Probe {
                    resume: self.clamp(resume * CUT),
                };
            }
            self.limit = self.clamp(self.limit * CUT);
        }
        self.changed(before)
    }

    fn end_window(&mut self) {
        let middle = self.window.len() / 2;
        let (_, median, _) = self.window.select_nth_unstable(middle);
        let mean = *median as f64; // the window's latency
        self.window.clear();
        let cut = std::mem::take(&mut self.cut);
        if let Phase::Probe { resume } = self.phase {
            // A fresh anchor: the latency at half the limit, where there is no queue.
            self.no_load = Some(mean);
            self.limit = resume;
            self.phase = Phase::Steady;
            self.until_probe = self.next_probe();
            return;
        }
        let no_load = match self.no_load {
            Some(n) if n <= mean => n,
            _ => {
                self.no_load = Some(mean);
                mean
            }
        };
        if !cut {
            let ratio = mean / no_load.max(1.0);
            if ratio < GROW_BELOW {
                let step = if self.slow_start { self.limit } else { 1.0 };
                self.limit = match self.ceiling {
                    // Near the last overload: creep past it, and forget it once well
                    // clear of it.
                    Some(c) if self.limit + step > c - 1.0 => {
                        let next = (self.limit + self.creep).max((c - 1.0).min(self.limit + step));
                        if next >= c + 2.0 {
                            self.ceiling = None;
                            self.creep = CREEP;
                        }
                        next
                    }
                    _ => self.limit + step,
                };
            } else {
                self.slow_start = false;
                if ratio > CUT_ABOVE {
                    let gradient = (TARGET / ratio).max(MOST_DOWN);
                    self.limit *= 1.0 - SMOOTHING + SMOOTHING * gradient;
                } else if ratio > SHRINK_ABOVE {
                    self.limit -= 1.0;
                }
            }
            self.limit = self.clamp(self.limit);
        }
        self.until_probe = self.until_probe.saturating_sub(1);
        if self.until_probe == 0 {
            let resume = self.limit;
            self.phase = Phase::Probe { resume };
            self.limit = self.clamp(self.limit / 2.0);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Most limit changes a run keeps for [`RunStats::limits`](crate::stats::RunStats).
const HISTORY: usize = 4096;

/// One run's adaptive limit: the controller, the current limit, and the slots every
/// batch takes.
#[derive(Debug)]
pub(crate) struct Limiter {
    current: AtomicUsize,
    slots: Permits,
    state: Mutex<(Controller, Vec<(Duration, usize)>)>,
    started: Instant,
}

impl Limiter {
    pub(crate) fn new(words: Adaptive, seed: u64) -> Self {
        let controller = Controller::new(words, seed);
        let limit = controller.limit();
        Limiter {
            current: AtomicUsize::new(limit),
            slots: Permits::new(),
            state: Mutex::new((controller, vec![(Duration::ZERO, limit)])),
            started: Instant::now(),
        }
    }

    /// The limit now.
    pub(crate) fn current(&self) -> usize {
        self.current.load(Relaxed)
    }

    /// A slot for one batch, waiting while the current limit is taken.
    pub(crate) fn slot(&self) -> Permit<'_> {
        self.slots.acquire_under(&self.current)
    }

    /// A slot for one batch if one is free now.
    pub(crate) fn try_slot(&self) -> Option<Permit<'_>> {
        self.slots.try_acquire_under(&self.current)
    }

    /// A slot for one batch of an async lane.
    pub(crate) fn slot_async(&self) -> Acquire<'_> {
        self.slots.acquire_async_under(&self.current)
    }

    /// Applies one controller step; returns the new limit when it moved, for the run's
    /// `Watch` (the limit gauge and the `limit changed` event).
    fn update(&self, f: impl FnOnce(&mut Controller) -> bool) -> Option<usize> {
        let mut st = lock(&self.state);
        if !f(&mut st.0) {
            return None;
        }
        let limit = st.0.limit();
        let before = self.current.swap(limit, Relaxed);
        let rose = limit > before;
        if st.1.len() < HISTORY {
            st.1.push((self.started.elapsed(), limit));
        }
        drop(st);
        if rose {
            self.slots.notify();
        }
        (limit != before).then_some(limit)
    }

    /// A batch succeeded with `latency` per item; the new limit if it moved.
    pub(crate) fn sample(&self, latency: Duration) -> Option<usize> {
        self.update(|c| c.sample(latency))
    }

    /// A batch failed with an overload signal; the new limit if it moved.
    pub(crate) fn overloaded(&self) -> Option<usize> {
        self.update(Controller::overloaded)
    }

    /// The limit after each change, for the run's stats.
    pub(crate) fn history(&self) -> Vec<(Duration, usize)> {
        lock(&self.state).1.clone()
    }
}

#[cfg(test)]
mod test {
    use super::*;

    /// A FIFO downstream in closed form: with `n` in flight, capacity `c` per second
    /// and base latency `l`, each request takes `max(l, n / c)`.
    fn latency(n: usize, c: f64, l: f64) -> Duration {
        Duration::from_secs_f64(l.max(n as f64 / c))
    }

    /// Runs `windows` windows of the controller against the closed-form downstream
    /// whose capacity is `c(window)`.
    fn drive(ctl: &mut Controller, windows: usize, c: impl Fn(usize) -> f64, l: f64) -> Vec<usize> {
        let mut limits = Vec::new();
        for w in 0..windows {
            let n = ctl.limit();
            for _ in 0..MIN_SAMPLES.max(n as u32) {
                ctl.sample(latency(ctl.limit(), c(w), l));
            }
            limits.push(ctl.limit());
        }
        limits
    }

    #[test]
    fn settles_in_the_band_and_follows_a_halving() {
        let mut ctl = Controller::new(Adaptive::new(200), 7);
        // C·L = 10 for 60 windows, then 5.
        let limits = drive(&mut ctl, 120, |w| if w < 60 { 100.0 } else { 50.0 }, 0.1);
        let steady = &limits[20..60];
        let in_band = steady.iter().filter(|&&n| (10..=16).contains(&n)).count();
        assert!(in_band * 10 >= steady.len() * 9, "{limits:?}");
        let after = limits[60..80].iter().position(|&n| (5..=8).contains(&n));
        assert!(after.is_some(), "{limits:?}");
        let late = &limits[80..];
        let in_band = late.iter().filter(|&&n| (5..=8).contains(&n)).count();
        assert!(in_band * 10 >= late.len() * 9, "{limits:?}");
    }

    #[test]
    fn never_leaves_min_and_max() {
        let mut ctl = Controller::new(Adaptive::new(6).min(3).initial(3), 1);
        let limits = drive(&mut ctl, 50, |_| 1000.0, 0.1);
        assert!(limits.iter().all(|n| (3..=6).contains(n)), "{limits:?}");
        assert_eq!(*limits.last().unwrap(), 6);
        for _ in 0..100 {
            ctl.overloaded();
            for _ in 0..MIN_SAMPLES {
                ctl.sample(Duration::from_secs(1));
            }
        }
        assert_eq!(ctl.limit(), 3);
    }

    #[test]
    fn an_overload_cuts_once_per_window() {
        let mut ctl = Controller::new(Adaptive::new(100).initial(50), 1);
        assert!(ctl.overloaded());
        assert_eq!(ctl.limit(), 45);
        ctl.overloaded();
        assert_eq!(ctl.limit(), 45, "a second overload in the same window");
        for _ in 0..50 {
            ctl.sample(Duration::from_millis(10));
        }
        ctl.overloaded();
        assert_eq!(ctl.limit(), 40);
    }

    #[test]
    fn probes_find_a_higher_no_load_latency() {
        let mut ctl = Controller::new(Adaptive::new(100), 3);
        drive(&mut ctl, 30, |_| 100.0, 0.1);
        assert!(ctl.no_load().unwrap() <= Duration::from_millis(105));
        // The base latency doubles (C·L becomes 20): the anchor moves up at the next
        // probe instead of holding the limit down for ever.
        drive(&mut ctl, 2 * PROBE_EVERY as usize, |_| 100.0, 0.2);
        let no_load = ctl.no_load().unwrap();
        assert!(no_load >= Duration::from_millis(190), "{no_load:?}");
    }
}
