//! OpenMP-style distribution of an indexed input's batches over a loop's workers.
//!
//! A [`Plan`] is shared by the workers of one loop run; each worker keeps a
//! [`LaneCursor`] of its own. `claim` hands out index ranges that are disjoint and
//! together cover `0..len` exactly once, whatever the interleaving — the property the
//! [`crate::input::Source`] contract relies on, and what `test.rs` checks for every
//! schedule.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use crate::config::Schedule;
use crate::padded::Padded;

#[cfg(test)]
mod test;

/// Batches per worker when `batch = auto`: enough that one slow batch at the end costs
/// at most a few percent of a worker's share, few enough that claiming is free.
pub(crate) const AUTO_BATCHES_PER_LANE: usize = 16;

/// Units of a `batch = auto` batch under `schedule = steal`: a claim in the bulk of a
/// run takes a whole batch, and the halving claims at a run's end go down to one unit,
/// so slow items clustered at the end are shared out in pieces of a 64th of a batch.
const STEAL_UNITS_PER_BATCH: usize = 64;

/// The batch size `batch = auto` picks for `len` items over `lanes` workers.
pub(crate) fn auto_batch(len: usize, lanes: usize) -> usize {
    len.div_ceil(lanes.max(1) * AUTO_BATCHES_PER_LANE).max(1)
}

/// One loop run's distribution of `0..len`.
#[derive(Debug)]
pub(crate) struct Plan {
    len: usize,
    lanes: usize,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// Next batch from a shared counter. With `tail` (`batch = auto`), batches shrink
    /// over the last stretch of the input, so slow items clustered at the end are shared
    /// out instead of landing in one lane's last batch.
    Dynamic {
        batch: usize,
        next: AtomicUsize,
        tail: bool,
    },
    /// Batch `k` belongs to lane `k % lanes`; `next[lane]` is that lane's next batch
    /// index (kept in the plan, not the lane, so what no lane claimed can be found).
    Static {
        batch: usize,
        next: Box<[Padded<AtomicUsize>]>,
    },
    /// Shrinking batches from a shared position.
    Guided { min: usize, pos: AtomicUsize },
    /// Per-lane runs of unit indices `[lo, hi)`, packed as `hi << 32 | lo`; a unit is
    /// `unit` items and a claim takes up to `per_claim` units from the front of the
    /// lane's run. With `batch = auto` a unit is a 64th of a batch and a claim
    /// takes at most half of what is left of the run, so each run's last stretch (where
    /// a lane's slow items wait when they are clustered) is claimed, and stolen, in
    /// small pieces.
    Steal {
        unit: usize,
        per_claim: u64,
        slots: Box<[Padded<AtomicU64>]>,
    },
}

/// A worker's own position in its run's input: which lane it is in a [`Plan`], and for a
/// pulled input, how big its last batch was and when it was claimed (growing batches).
#[derive(Debug)]
pub(crate) struct LaneCursor {
    lane: usize,
    pub(crate) pulled: usize,
    pub(crate) pulled_at: Option<std::time::Instant>,
    /// Under `schedule = dynamic, batch = auto`: the lane's bulk claims are `batch <<
    /// grow` items ([`LaneCursor::took`]).
    grow: u32,
    /// The only cursor claiming from its plan ([`LaneCursor::sole`]).
    sole: bool,
}

/// A batch quicker than this is dearer to claim than to run when lanes share the
/// claim counter across cores (a cache line moved per claim): the lane claims twice as
/// many items next time, up to `1 << MAX_GROW` batches at once.
const QUICK_BATCH: Duration = Duration::from_micros(4);
const MAX_GROW: u32 = 4;

impl LaneCursor {
    pub(crate) fn new(lane: usize) -> Self {
        LaneCursor {
            lane,
            pulled: 0,
            pulled_at: None,
            grow: 0,
            sole: false,
        }
    }

    /// The cursor of a thread that claims for every lane (the pool backend's
    /// dispatcher): while it claims, no other cursor claims from the same plan, so a
    /// claim moves the shared position with a plain load and store. A locked
    /// read-modify-write would also wait for every store before it to leave the core,
    /// the hand-over of the previous batch among them, once per batch.
    pub(crate) fn sole(lane: usize) -> Self {
        LaneCursor {
            sole: true,
            ..LaneCursor::new(lane)
        }
    }

    /// The lane's last batch took `took`: a lane of a `dynamic, batch = auto` plan
    /// whose batches are quick claims more at once, and fewer again once they are
    /// not. The tail of the input is still claimed in shrinking pieces, so growing
    /// claims cost none of the balance `auto` keeps there.
    pub(crate) fn took(&mut self, took: Duration) {
        if took < QUICK_BATCH {
            self.grow = (self.grow + 1).min(MAX_GROW);
        } else if took > 4 * QUICK_BATCH {
            self.grow = self.grow.saturating_sub(1);
        }
    }
}

/// Moves `next` on by `size` and gives where it was: a `fetch_add`, or for the sole
/// claimer a load and a store.
fn advance(next: &AtomicUsize, sole: bool, size: usize) -> usize {
    if sole {
        let start = next.load(Ordering::Relaxed);
        next.store(start.saturating_add(size), Ordering::Relaxed);
        start
    } else {
        next.fetch_add(size, Ordering::Relaxed)
    }
}

fn pack(lo: u64, hi: u64) -> u64 {
    hi << 32 | lo
}

fn unpack(v: u64) -> (u64, u64) {
    (v & 0xffff_ffff, v >> 32)
}

impl Plan {
    /// Plans `len` items for `lanes` workers. `batch` is the fixed size, or `None` for
    /// `auto`.
    pub(crate) fn new(schedule: Schedule, len: usize, lanes: usize, batch: Option<usize>) -> Self {
        let lanes = lanes.max(1);
        let kind = match schedule {
            Schedule::Dynamic => Kind::Dynamic {
                batch: batch.unwrap_or_else(|| auto_batch(len, lanes)),
                next: AtomicUsize::new(0),
                tail: batch.is_none(),
            },
            // OpenMP's `schedule(static)` without a chunk: one contiguous block per lane.
            Schedule::Static => Kind::Static {
                batch: batch.unwrap_or(len.div_ceil(lanes).max(1)),
                next: (0..lanes).map(|l| Padded(AtomicUsize::new(l))).collect(),
            },
            Schedule::Guided => Kind::Guided {
                min: batch.unwrap_or_else(|| auto_batch(len, lanes * AUTO_BATCHES_PER_LANE)),
                pos: AtomicUsize::new(0),
            },
            Schedule::Steal => {
                let (mut unit, per_claim) = match batch {
                    Some(b) => (b, 1),
                    None => (
                        auto_batch(len, lanes * STEAL_UNITS_PER_BATCH),
                        STEAL_UNITS_PER_BATCH as u64,
                    ),
                };
                // Unit indices are packed in 32 bits; grow the unit if there are more.
                while len.div_ceil(unit) as u64 > u32::MAX as u64 {
                    unit *= 2;
                }
                let units = len.div_ceil(unit) as u64;
                let slots = (0..lanes as u64)
                    .map(|l| {
                        let lo = units * l / lanes as u64;
                        let hi = units * (l + 1) / lanes as u64;
                        Padded(AtomicU64::new(pack(lo, hi)))
                    })
                    .collect();
                Kind::Steal {
                    unit,
                    per_claim,
                    slots,
                }
            }
        };
        Plan { len, lanes, kind }
    }

    /// The number of batches a lane count should not exceed: more lanes than batches
    /// would only start workers with nothing to do.
    pub(crate) fn batches(
        len: usize,
        schedule: Schedule,
        lanes: usize,
        batch: Option<usize>,
    ) -> usize {
        match (schedule, batch) {
            (_, Some(b)) => len.div_ceil(b),
            (Schedule::Static, None) => lanes.min(len),
            (_, None) => len.div_ceil(auto_batch(len, lanes)),
        }
    }

    /// The next range for this lane, or `None` when the lane has nothing left to do.
    pub(crate) fn claim(&self, cursor: &mut LaneCursor) -> Option<Range<usize>> {
        let len = self.len;
        match &self.kind {
            Kind::Dynamic { batch, next, tail } => {
                let bulk_end = len.saturating_sub(batch.saturating_mul(self.lanes * 2));
                // A fixed batch reads nothing before its `fetch_add`.
                let now = if *tail {
                    next.load(Ordering::Relaxed)
                } else {
                    0
                };
                if !*tail || now < bulk_end {
                    // A lane whose batches are quick claims several at once, never past
                    // the start of the tail.
                    let size = if *tail && cursor.grow > 0 {
                        batch
                            .saturating_mul(1 << cursor.grow)
                            .min(bulk_end - now)
                            .max(*batch)
                    } else {
                        *batch
                    };
                    // `fetch_add` may overshoot `len` once per lane; the check below makes
                    // the overshoot harmless, and a `usize` cannot wrap for any real input.
                    let start = advance(next, cursor.sole, size);
                    return (start < len).then(|| start..(start + size).min(len));
                }
                // The last `2 × lanes` batches' worth: shrink towards one item, as guided
                // does, so the end of the input is shared out evenly.
                let mut start = next.load(Ordering::Relaxed);
                loop {
                    if start >= len {
                        return None;
                    }
                    let size = ((len - start) / (2 * self.lanes)).clamp(1, *batch);
                    if cursor.sole {
                        next.store(start + size, Ordering::Relaxed);
                        return Some(start..start + size);
                    }
                    match next.compare_exchange_weak(
                        start,
                        start + size,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => return Some(start..start + size),
                        Err(now) => start = now,
                    }
                }
            }
            Kind::Static { batch, next } => {
                let lane = &next[cursor.lane % self.lanes];
                let k = lane.load(Ordering::Relaxed);
                let start = k.checked_mul(*batch).filter(|&s| s < len)?;
                // Only the lane itself advances its slot while it runs; `drain` runs
                // after every lane has stopped.
                lane.store(k + self.lanes, Ordering::Relaxed);
                Some(start..(start + batch).min(len))
            }
            Kind::Guided { min, pos } => {
                let mut start = pos.load(Ordering::Relaxed);
                loop {
                    if start >= len {
                        return None;
                    }
                    let size = ((len - start) / (2 * self.lanes))
                        .max(*min)
                        .min(len - start);
                    if cursor.sole {
                        pos.store(start + size, Ordering::Relaxed);
                        return Some(start..start + size);
                    }
                    match pos.compare_exchange_weak(
                        start,
                        start + size,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => return Some(start..start + size),
                        Err(now) => start = now,
                    }
                }
            }
            Kind::Steal {
                unit,
                per_claim,
                slots,
            } => {
                let units = self.claim_stealing(slots, cursor.lane, *per_claim)?;
                let start = units.start as usize * unit;
                Some(start..(units.end as usize * unit).min(len))
            }
        }
    }

    /// Every range no lane has claimed yet, once the lanes have stopped claiming (what
    /// a stopped run must still drop).
    pub(crate) fn drain(&self, mut f: impl FnMut(Range<usize>)) {
        for lane in 0..self.lanes {
            let mut cursor = LaneCursor::new(lane);
            while let Some(range) = self.claim(&mut cursor) {
                f(range);
            }
        }
    }

    /// Takes units from the front of the lane's own run (up to `per_claim`, and no more
    /// than half of what is left once the run has fewer than `2 × per_claim`); when the
    /// run is empty, steals the back half of the first other run that has work and
    /// keeps what it stole as its new run.
    fn claim_stealing(
        &self,
        slots: &[Padded<AtomicU64>],
        lane: usize,
        per_claim: u64,
    ) -> Option<Range<u64>> {
        let own = &slots[lane];
        loop {
            let cur = own.load(Ordering::Acquire);
            let (lo, hi) = unpack(cur);
            if lo >= hi {
                break;
            }
            let take = ((hi - lo) / 2).clamp(1, per_claim);
            if own
                .compare_exchange_weak(
                    cur,
                    pack(lo + take, hi),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
            {
                return Some(lo..lo + take);
            }
        }
        // Our run is empty, so no thief will touch our slot until we store a new run in
        // it: thieves only take from slots with `lo < hi`, and a stale non-empty value
        // cannot match again because claimed indices never return to any slot.
        let n = slots.len();
        'victims: for step in 1..n {
            let victim = &slots[(lane + step) % n];
            loop {
                let cur = victim.load(Ordering::Acquire);
                let (lo, hi) = unpack(cur);
                if lo >= hi {
                    continue 'victims;
                }
                let mid = lo + (hi - lo) / 2;
                // Take `[mid, hi)`: leave the victim its front half (at least one unit
                // when it has two or more), run the front of the stolen part now, as
                // an own claim would, and keep the rest.
                if victim
                    .compare_exchange_weak(cur, pack(lo, mid), Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    let take = ((hi - mid) / 2).clamp(1, per_claim);
                    own.store(pack(mid + take, hi), Ordering::Release);
                    return Some(mid..mid + take);
                }
            }
        }
        None
    }
}
