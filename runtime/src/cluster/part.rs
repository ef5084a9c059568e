//! One process's part of a loop's input.
//!
//! An indexed input is cut into one contiguous window per process, read in place: no
//! item moves between processes. Any other iterator is read on process 0 alone; its
//! lanes pull batches from it in turn and keep every `processes`-th batch, sending the
//! others to the next processes round-robin, so the other processes get work at the
//! pace process 0 reads it. Their lanes take the batches as they arrive.

use std::ops::Range;
#[cfg(feature = "timely")]
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
#[cfg(feature = "timely")]
use std::sync::Mutex;

use crate::input::{Shape, Source};

/// How a part's items reach it.
#[derive(Debug)]
enum Flow {
    /// An indexed input's window, or the whole of any input.
    Local,
    /// Process 0 of a pulled input: reads it, and ships the others' batches.
    #[cfg(feature = "timely")]
    Lead(Lead),
    /// Another process of a pulled input: batches arrive from process 0.
    #[cfg(feature = "timely")]
    Follow(crossbeam_channel::Receiver<Vec<u8>>),
}

/// What process 0 sends: a batch for a process, or the end of the input for it (with
/// how many batches it was sent).
#[cfg(feature = "timely")]
#[derive(Debug)]
pub(crate) enum Ship {
    Items(usize, Vec<u8>),
    End(usize, u64),
}

#[cfg(feature = "timely")]
#[derive(Debug)]
struct Lead {
    processes: usize,
    /// Batches pulled so far; batch `k` goes to process `k % processes`. Held while
    /// pulling, so the batches are counted in input order.
    pulled: Mutex<usize>,
    ship: crossbeam_channel::Sender<Ship>,
    wake: std::thread::Thread,
    sent: Vec<AtomicUsize>,
    ended: AtomicBool,
}

/// The items of a loop's input that one process runs. Positions inside are the
/// window's own (`0..len`) for an indexed input, the input's own for a pulled one; the
/// driver adds [`Part::offset`] where a position leaves the process.
///
/// Items of an owned input outside the window are this process's too (every process
/// holds the whole input): they are dropped when the part is, without running.
#[derive(Debug)]
pub struct Part<S: Source> {
    source: S,
    window: Range<usize>,
    flow: Flow,
}

/// An input a `backend = timely` loop can share across processes, and how its
/// batches travel: encoded by process 0, decoded by the process that runs them (pulled
/// inputs only; an indexed input is split by position and never travels).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the input of a `backend = timely` loop",
    label = "not a range, slice, `Vec` or iterator of serializable items",
    note = "indexed inputs (ranges, slices, `Vec`) are split across processes by position; any other iterator is read on process 0 and its items sent to the others, so they must be `serde::Serialize + serde::de::DeserializeOwned`"
)]
pub trait Carry: Source {
    /// Encodes the batch in `scratch`, whose first item is at `start`.
    fn encode(start: usize, scratch: &Self::Scratch) -> Vec<u8>;
    /// Decodes a batch into `scratch`, returning the position of its first item.
    fn decode(bytes: &[u8], scratch: &mut Self::Scratch) -> usize;
}

/// Without the feature nothing travels: every part is local.
#[cfg(not(feature = "timely"))]
impl<S: Source> Carry for S {
    fn encode(_: usize, _: &S::Scratch) -> Vec<u8> {
        unreachable!("bounded: only the `timely` feature sends batches between processes")
    }
    fn decode(_: &[u8], _: &mut S::Scratch) -> usize {
        unreachable!("bounded: only the `timely` feature sends batches between processes")
    }
}

#[cfg_attr(not(feature = "timely"), allow(dead_code))]
impl<S: Source> Part<S> {
    /// Process `process` of `processes`' window of an indexed `source`.
    pub(crate) fn window(source: S, process: usize, processes: usize) -> Self {
        let window = match source.shape() {
            Shape::Indexed(len) => {
                let at = |p: usize| (len as u128 * p as u128 / processes as u128) as usize;
                at(process)..at(process + 1)
            }
            Shape::Pulled { .. } => 0..0,
        };
        Part {
            source,
            window,
            flow: Flow::Local,
        }
    }

    /// The whole input (a loop that runs on one process alone: `if = false`,
    /// `BOUNDED_SERIAL`, or a cluster of one).
    pub(crate) fn whole(source: S) -> Self {
        let window = match source.shape() {
            Shape::Indexed(len) => 0..len,
            Shape::Pulled { .. } => 0..0,
        };
        Part {
            source,
            window,
            flow: Flow::Local,
        }
    }

    /// Process 0's part of a pulled input: `ship` takes the other processes' batches
    /// to the cluster's worker, which `wake` wakes.
    #[cfg(feature = "timely")]
    pub(crate) fn lead(
        source: S,
        processes: usize,
        ship: crossbeam_channel::Sender<Ship>,
        wake: std::thread::Thread,
    ) -> Self {
        Part {
            source,
            window: 0..0,
            flow: Flow::Lead(Lead {
                processes,
                pulled: Mutex::new(0),
                ship,
                wake,
                sent: (0..processes).map(|_| AtomicUsize::new(0)).collect(),
                ended: AtomicBool::new(false),
            }),
        }
    }

    /// Another process's part of a pulled input: its batches come from `arrivals`.
    #[cfg(feature = "timely")]
    pub(crate) fn follow(source: S, arrivals: crossbeam_channel::Receiver<Vec<u8>>) -> Self {
        Part {
            source,
            window: 0..0,
            flow: Flow::Follow(arrivals),
        }
    }

    /// The input position of the window's first item.
    pub(crate) fn offset(&self) -> usize {
        self.window.start
    }

    fn inner(&self, range: Range<usize>) -> Range<usize> {
        range.start + self.window.start..range.end + self.window.start
    }

    /// Tells every other process that process 0 has no more batches for it.
    #[cfg(feature = "timely")]
    fn end(&self) {
        if let Flow::Lead(lead) = &self.flow {
            if !lead.ended.swap(true, Relaxed) {
                for p in 1..lead.processes {
                    let sent = lead.sent[p].load(Relaxed) as u64;
                    let _ = lead.ship.send(Ship::End(p, sent));
                }
                lead.wake.unpark();
            }
        }
    }
}

impl<S: Source> Drop for Part<S> {
    fn drop(&mut self) {
        // A lead that stopped early (an error, a panic) still ends the others' input.
        #[cfg(feature = "timely")]
        self.end();
        // The items before and after the window: never handed out here.
        if let (Shape::Indexed(len), true) = (self.source.shape(), self.source.owns_items()) {
            // SAFETY: the ranges outside the window are in bounds, disjoint from the
            // window (all the runtime ever handed out), and discarded once, here.
            unsafe {
                self.source.discard(0..self.window.start);
                self.source.discard(self.window.end..len);
            }
        }
    }
}

// SAFETY: every range the runtime passes is within `0..window.len()` and disjoint from
// the others (the caller's contract); shifted by `window.start` it stays within the
// window, which lies within the source, and shifting keeps ranges disjoint. The ranges
// outside the window are discarded once, when the part is dropped, and never handed
// out. Pulled items are moved into a lane's buffer once (by the source's own `fill`, or
// decoded from bytes that arrive once), so each is run or dropped once.
unsafe impl<S: Carry> Source for Part<S> {
    type Item = S::Item;
    type Cursor<'a>
        = S::Cursor<'a>
    where
        Self: 'a;
    type Scratch = S::Scratch;

    fn shape(&self) -> Shape {
        match (&self.flow, self.source.shape()) {
            (Flow::Local, Shape::Indexed(_)) => Shape::Indexed(self.window.len()),
            (Flow::Local, pulled) => pulled,
            #[cfg(feature = "timely")]
            _ => Shape::Pulled { hint: None },
        }
    }

    unsafe fn range(&self, range: Range<usize>) -> Self::Cursor<'_> {
        // SAFETY: see the impl's comment.
        unsafe { self.source.range(self.inner(range)) }
    }

    unsafe fn discard(&self, range: Range<usize>) {
        // SAFETY: see the impl's comment.
        unsafe { self.source.discard(self.inner(range)) }
    }

    fn owns_items(&self) -> bool {
        self.source.owns_items()
    }

    fn fill(&self, max: usize, scratch: &mut Self::Scratch) -> Option<usize> {
        match &self.flow {
            Flow::Local => self.source.fill(max, scratch),
            #[cfg(feature = "timely")]
            Flow::Lead(lead) => loop {
                let mut pulled = lead.pulled.lock().unwrap_or_else(|e| e.into_inner());
                let Some(start) = self.source.fill(max, scratch) else {
                    drop(pulled);
                    self.end();
                    return None;
                };
                let to = *pulled % lead.processes;
                *pulled += 1;
                // Counted before the lock is let go, so that the end of the input, which
                // another lane may reach next, counts this batch (the other process
                // waits for as many batches as it was told, in whatever order).
                lead.sent[to].fetch_add(1, Relaxed);
                drop(pulled);
                if to == 0 {
                    return Some(start);
                }
                let bytes = S::encode(start, scratch);
                // Sent: the items are the other process's now; these copies go.
                *scratch = Default::default();
                let _ = lead.ship.send(Ship::Items(to, bytes));
                lead.wake.unpark();
            },
            #[cfg(feature = "timely")]
            Flow::Follow(arrivals) => {
                let bytes = arrivals.recv().ok()?;
                Some(S::decode(&bytes, scratch))
            }
        }
    }

    fn drain<'a>(&'a self, scratch: &'a mut Self::Scratch, start: usize) -> Self::Cursor<'a> {
        self.source.drain(scratch, start)
    }

    fn push(scratch: &mut Self::Scratch, item: Self::Item) {
        S::push(scratch, item)
    }
}
