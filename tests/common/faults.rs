//! Fixtures for the fault tests: owned items that record every drop (so a double drop
//! or a leak is reported with the item's index instead of corrupting the heap), a probe
//! of bodies running at once, a watchdog that turns a hang into a failure, thread
//! counts read from `/proc/self/task`, and a few executor-agnostic async helpers.
#![allow(dead_code)]

use std::any::Any;
use std::fmt::Write as _;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Once};
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

/// How many times each item of one run was dropped.
///
/// Items are made through the ledger ([`Ledger::make`], [`Ledger::vec`]) with
/// consecutive indices; every item made must be dropped exactly once. A second drop of
/// the same item is recorded and does not free its text again, so the test can report
/// it instead of aborting on a double free.
pub struct Ledger {
    drops: Box<[AtomicU32]>,
    made: AtomicUsize,
    /// Drops of items whose index is past the ledger's capacity.
    beyond: AtomicUsize,
}

impl Ledger {
    pub fn new(capacity: usize) -> Self {
        Ledger {
            drops: (0..capacity).map(|_| AtomicU32::new(0)).collect(),
            made: AtomicUsize::new(0),
            beyond: AtomicUsize::new(0),
        }
    }

    /// A ledger that lives for the rest of the process (items refer to it).
    pub fn leak(capacity: usize) -> &'static Ledger {
        Box::leak(Box::new(Ledger::new(capacity)))
    }

    /// Forgets every count, for the next run. Only call it once no item of the
    /// previous run is alive.
    pub fn reset(&self) {
        for d in self.drops.iter() {
            d.store(0, SeqCst);
        }
        self.made.store(0, SeqCst);
        self.beyond.store(0, SeqCst);
    }

    /// Item `id`; items must be made with consecutive ids from 0.
    pub fn make(&'static self, id: usize) -> Tracked {
        self.made.fetch_add(1, SeqCst);
        Tracked {
            id,
            text: ManuallyDrop::new(format!("item-{id}")),
            ledger: self,
        }
    }

    /// Items `0..n`.
    pub fn vec(&'static self, n: usize) -> Vec<Tracked> {
        (0..n).map(|i| self.make(i)).collect()
    }

    pub fn made(&self) -> usize {
        self.made.load(SeqCst)
    }

    /// Items dropped so far (each drop counted, doubles included).
    pub fn dropped(&self) -> usize {
        self.drops
            .iter()
            .map(|d| d.load(SeqCst) as usize)
            .sum::<usize>()
            + self.beyond.load(SeqCst)
    }

    /// `Ok` when every item made was dropped exactly once; otherwise which were not.
    pub fn check(&self) -> Result<(), String> {
        let made = self.made();
        let mut twice = Vec::new();
        let mut never = Vec::new();
        let mut bad = 0usize;
        for (id, d) in self.drops.iter().enumerate() {
            let n = d.load(SeqCst);
            let want = u32::from(id < made);
            if n != want {
                bad += 1;
                if n > want && twice.len() < 8 {
                    twice.push((id, n));
                } else if n < want && never.len() < 8 {
                    never.push(id);
                }
            }
        }
        let beyond_want = made.saturating_sub(self.drops.len());
        let beyond = self.beyond.load(SeqCst);
        if bad == 0 && beyond == beyond_want {
            return Ok(());
        }
        let mut msg = format!(
            "{made} items made, {} drops counted; {bad} items dropped a wrong number of times",
            self.dropped()
        );
        if !twice.is_empty() {
            let _ = write!(msg, "; dropped more than once (id, drops): {twice:?}");
        }
        if !never.is_empty() {
            let _ = write!(msg, "; never dropped (leaked): {never:?}");
        }
        if beyond != beyond_want {
            let _ = write!(
                msg,
                "; past the ledger: {beyond} drops for {beyond_want} items"
            );
        }
        Err(msg)
    }

    /// Panics with `context` unless every item was dropped exactly once.
    #[track_caller]
    pub fn assert_once(&self, context: &str) {
        if let Err(e) = self.check() {
            panic!("{context}: {e}");
        }
    }
}

/// An owned item that carries a heap `String` and records its drop in its ledger.
pub struct Tracked {
    pub id: usize,
    text: ManuallyDrop<String>,
    ledger: &'static Ledger,
}

impl Tracked {
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let first = match self.ledger.drops.get(self.id) {
            Some(d) => d.fetch_add(1, SeqCst) == 0,
            None => {
                self.ledger.beyond.fetch_add(1, SeqCst);
                true
            }
        };
        if first {
            // SAFETY: the first drop of this item frees its text; a second drop (the
            // bug being tested for) only counts and never touches the text again.
            unsafe { ManuallyDrop::drop(&mut self.text) };
        }
    }
}

/// Counts bodies running at once and remembers the highest count.
#[derive(Default)]
pub struct Probe {
    running: AtomicUsize,
    peak: AtomicUsize,
}

impl Probe {
    pub fn enter(&self) -> ProbeGuard<'_> {
        let now = self.running.fetch_add(1, SeqCst) + 1;
        self.peak.fetch_max(now, SeqCst);
        ProbeGuard(&self.running)
    }

    pub fn peak(&self) -> usize {
        self.peak.load(SeqCst)
    }

    pub fn running(&self) -> usize {
        self.running.load(SeqCst)
    }
}

pub struct ProbeGuard<'a>(&'a AtomicUsize);

impl Drop for ProbeGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

/// Runs `f` on a thread of its own and waits at most `limit` for it. A panic of `f` is
/// re-raised here; if it does not finish in time the test fails with `what()` (the
/// thread is left behind: it is hung). Only the waiting is timed, never the work.
#[track_caller]
pub fn watchdog<T, F, W>(limit: Duration, what: W, f: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
    W: FnOnce() -> String,
{
    match try_watchdog(limit, f) {
        Ok(Ok(v)) => v,
        Ok(Err(payload)) => resume_unwind(payload),
        Err(()) => panic!(
            "did not finish within {limit:?} (deadlock or lost wake-up): {}",
            what()
        ),
    }
}

/// [`watchdog`] without the verdict: `Err(())` when `f` is still running after `limit`,
/// else `f`'s result or panic payload.
pub fn try_watchdog<T, F>(limit: Duration, f: F) -> Result<thread::Result<T>, ()>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    thread::Builder::new()
        .name("faults-case".into())
        .spawn(move || {
            let r = catch_unwind(AssertUnwindSafe(f));
            let _ = tx.send(r);
        })
        .expect("spawn the case thread");
    rx.recv_timeout(limit).map_err(|_| ())
}

/// Names of this process's live threads (`/proc/self/task/*/comm`, at most 15 bytes each).
pub fn thread_names() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter(|e| !exiting(&e.path()))
        .filter_map(|e| std::fs::read_to_string(e.path().join("comm")).ok())
        .map(|s| s.trim_end().to_owned())
        .collect()
}

/// Whether a task is in the kernel's exit path (`PF_EXITING` in its flags): its thread
/// has returned, and may have been joined, but the kernel lists it a moment longer.
fn exiting(task: &std::path::Path) -> bool {
    std::fs::read_to_string(task.join("stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(6)?.parse::<u64>().ok())
            .is_some_and(|flags| flags & 0x4 != 0)
    })
}

/// Threads of this process whose name starts with `prefix`.
pub fn threads_named(prefix: &str) -> usize {
    thread_names()
        .iter()
        .filter(|n| n.starts_with(prefix))
        .count()
}

/// Threads of this process.
pub fn thread_count() -> usize {
    thread_names().len()
}

/// Waits up to `settle` for the threads named `prefix…` to be at most `max`; returns
/// how many there are at the end.
pub fn settle_threads(prefix: &str, max: usize, settle: Duration) -> usize {
    let until = Instant::now() + settle;
    loop {
        let n = threads_named(prefix);
        if n <= max || Instant::now() >= until {
            return n;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// The payload the tests panic with: the item's index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Boom(pub usize);

/// Keeps the default panic message for everything but the tests' own [`Boom`]s, which
/// are expected by the thousand.
pub fn quiet_booms() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().is::<Boom>() {
                return;
            }
            previous(info);
        }));
    });
}

/// A panic payload as text, for messages.
pub fn payload_text(p: &(dyn Any + Send)) -> String {
    if let Some(b) = p.downcast_ref::<Boom>() {
        format!("{b:?}")
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else {
        "<a payload of another type>".to_owned()
    }
}

/// Pending for `n` polls, waking itself each time: an executor-agnostic pause.
pub struct Yields(pub u32);

impl Future for Yields {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 == 0 {
            return Poll::Ready(());
        }
        self.0 -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Polls `fut` `times` times with a waker that does nothing, then drops it.
pub fn poll_then_drop<F: Future>(fut: F, times: usize) -> bool {
    let mut fut = Box::pin(fut);
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    for _ in 0..times {
        if fut.as_mut().poll(&mut cx).is_ready() {
            return true;
        }
    }
    false
}

/// A small deterministic generator (splitmix64), so a seed replays a run.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}
