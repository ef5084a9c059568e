//! What a run shows while it runs: its progress bar (feature `progress`) and its
//! `tracing` span and events (feature `tracing`). One [`Watch`] per run, owned by the
//! run's outcome, which every driver reports through; without either feature it is
//! empty and its methods compile to nothing.

#[cfg(feature = "progress")]
mod progress;

use crate::config::Config;
use crate::input::Shape;
use crate::stats::{RunEnd, RunStats};

/// One run's bar and span.
pub(crate) struct Watch {
    #[cfg(feature = "progress")]
    bar: Option<progress::Bar>,
}

/// The run's span entered on the calling thread, while it lives.
pub(crate) struct Entered {
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
        }
    }

    /// Enters the run's span on this thread until the guard is dropped.
    pub(crate) fn enter(&self) -> Entered {
        Entered {
        }
    }

    /// `items` more items finished.
    #[inline]
    #[allow(unused_variables)]
    pub(crate) fn done(&self, items: usize) {
        #[cfg(feature = "progress")]
        if let Some(bar) = &self.bar {
            bar.advance(items as u64);
        }
    }

    /// The batch holding input position `at` failed.
    #[allow(unused_variables)]
    pub(crate) fn failed(&self, at: usize) {
    }

    /// A batch panicked.
    pub(crate) fn panicked(&self) {
    }

    /// `items` items were shed by `on_full = drop`.
    #[allow(unused_variables)]
    pub(crate) fn dropped(&self, items: u64) {
        #[cfg(feature = "progress")]
        if let Some(bar) = &self.bar {
            bar.advance(items);
        }
    }

    /// The run ended with these figures.
    #[allow(unused_variables)]
    pub(crate) fn finish(&self, ended: RunEnd, run: &RunStats) {
        #[cfg(feature = "progress")]
        if let Some(bar) = &self.bar {
            bar.finish(ended, run.items + run.dropped);
        }
    }
}
