//! What a run shows while it runs: its progress bar (feature `progress`) and its
//! `tracing` span and events (feature `tracing`). One [`Watch`] per run, owned by the
//! run's outcome, which every driver reports through; without either feature it is
//! empty and its methods compile to nothing.
//!
//! The Prometheus exposition (feature `prometheus`) reads the counters of
//! [`crate::stats`], pools and gates at scrape time; the one thing it records, each
//! run's wall time, is recorded here too, when the run ends.

#[cfg(feature = "prometheus")]
pub mod metrics;
#[cfg(feature = "progress")]
mod progress;
#[cfg(feature = "tracing")]
mod trace;

use crate::config::Config;
use crate::input::Shape;
use crate::stats::{RunEnd, RunStats};

/// One run's bar and span.
pub(crate) struct Watch {
    #[cfg(feature = "progress")]
    bar: Option<progress::Bar>,
    #[cfg(feature = "tracing")]
    span: tracing::Span,
}

/// One lane's finished items not yet added to the bar. A lane adds them every
/// `stride` batches, and doubles the stride while that is more often than every few
/// milliseconds, so a loop of many small batches does not pay a shared atomic and a
/// clock read per batch; a slow loop still updates per batch.
#[derive(Default)]
pub(crate) struct Pace {
    #[cfg(feature = "progress")]
    pending: u64,
    #[cfg(feature = "progress")]
    batches: u32,
    #[cfg(feature = "progress")]
    stride: u32,
    #[cfg(feature = "progress")]
    last: Option<std::time::Instant>,
}

#[cfg(feature = "progress")]
impl Pace {
    /// Retunes the stride from the time since the last report.
    fn retune(&mut self) {
        use std::time::{Duration, Instant};
        let now = Instant::now();
        if let Some(last) = self.last {
            let since = now - last;
            if since < Duration::from_millis(5) {
                self.stride = (self.stride.max(1) * 2).min(1 << 16);
            } else if since > Duration::from_millis(40) {
                self.stride = (self.stride / 2).max(1);
            }
        }
        self.last = Some(now);
        self.batches = 0;
    }
}

/// The run's span entered on the calling thread, while it lives.
pub(crate) struct Entered {
    #[cfg(feature = "tracing")]
    _entered: tracing::span::EnteredSpan,
}

impl Watch {
    /// Starts watching a run of `config` over an input of shape `shape`, at `limit`.
    #[allow(unused_variables)]
    pub(crate) fn start(config: &Config, shape: Shape, limit: usize) -> Self {
        Watch {
            #[cfg(feature = "progress")]
            bar: config.progress.and_then(|label| {
                let total = match shape {
                    Shape::Indexed(len) | Shape::Pulled { hint: Some(len) } => Some(len as u64),
                    Shape::Pulled { hint: None } => None,
                };
                progress::Bar::start(label.unwrap_or(config.name()), total)
            }),
            #[cfg(feature = "tracing")]
            span: trace::span(config, limit),
        }
    }

    /// Enters the run's span on this thread until the guard is dropped.
    pub(crate) fn enter(&self) -> Entered {
        Entered {
            #[cfg(feature = "tracing")]
            _entered: self.span.clone().entered(),
        }
    }

    /// `items` more items of a lane finished.
    #[inline]
    #[allow(unused_variables)]
    pub(crate) fn done(&self, pace: &mut Pace, items: usize) {
        #[cfg(feature = "progress")]
        if let Some(bar) = &self.bar {
            pace.pending += items as u64;
            pace.batches += 1;
            if pace.batches >= pace.stride {
                pace.retune();
                bar.advance(std::mem::take(&mut pace.pending));
            }
        }
    }

    /// Adds what a lane still holds back to the bar (the lane is done, or merging).
    #[allow(unused_variables)]
    pub(crate) fn flush(&self, pace: &mut Pace) {
        #[cfg(feature = "progress")]
        if let Some(bar) = &self.bar {
            if pace.pending > 0 {
                bar.advance(std::mem::take(&mut pace.pending));
            }
        }
    }

    /// The batch holding input position `at` failed.
    #[allow(unused_variables)]
    pub(crate) fn failed(&self, at: usize) {
        #[cfg(feature = "tracing")]
        trace::failed(&self.span, at);
    }

    /// A batch panicked.
    pub(crate) fn panicked(&self) {
        #[cfg(feature = "tracing")]
        trace::panicked(&self.span);
    }

    /// `items` items were shed by `on_full = drop`.
    #[allow(unused_variables)]
    pub(crate) fn dropped(&self, items: u64) {
        #[cfg(feature = "progress")]
        if let Some(bar) = &self.bar {
            bar.advance(items);
        }
        #[cfg(feature = "tracing")]
        trace::dropped(&self.span, items);
    }

    /// The run ended with these figures.
    #[allow(unused_variables)]
    pub(crate) fn finish(&self, ended: RunEnd, run: &RunStats) {
        #[cfg(feature = "progress")]
        if let Some(bar) = &self.bar {
            bar.finish(ended, run.items + run.dropped);
        }
        #[cfg(feature = "tracing")]
        trace::finish(&self.span, ended, run);
        #[cfg(feature = "prometheus")]
        metrics::record_run(run.name, run.wall);
    }
}
