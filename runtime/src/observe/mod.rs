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

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use crate::config::Config;
use crate::input::Shape;
use crate::stats::{RunEnd, RunStats, Site};

/// One run's bar, span and current limit.
pub(crate) struct Watch {
    #[cfg(feature = "progress")]
    bar: Option<progress::Bar>,
    /// What this run's lanes lend their threads: its own bar's node, or (showing no
    /// bar) the node it started under, so that loops nested in it find their parent.
    #[cfg(feature = "progress")]
    lends: Option<std::sync::Arc<progress::Node>>,
    #[cfg(feature = "tracing")]
    span: tracing::Span,
    site: &'static Site,
    /// The run's limit now.
    limit: AtomicUsize,
}

/// A lane's thread lent to its run's bar while it lives (see [`Watch::lend`]).
pub(crate) struct Lent {
    #[cfg(feature = "progress")]
    _lent: progress::Lent,
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
        #[cfg(feature = "progress")]
        let (bar, lends) = {
            let parent = progress::current();
            let bar = config.progress.and_then(|label| {
                let total = match shape {
                    Shape::Indexed(len) | Shape::Pulled { hint: Some(len) } => Some(len as u64),
                    Shape::Pulled { hint: None } => None,
                };
                progress::Bar::start(label.unwrap_or(config.name()), total, parent.clone())
            });
            let lends = match &bar {
                Some(bar) => Some(bar.node().clone()),
                None => parent,
            };
            (bar, lends)
        };
        let watch = Watch {
            #[cfg(feature = "progress")]
            bar,
            #[cfg(feature = "progress")]
            lends,
            #[cfg(feature = "tracing")]
            span: trace::span(config, limit),
            site: config.site,
            limit: AtomicUsize::new(limit),
        };
        // A fixed limit is set once, here; an adaptive one again as it moves.
        watch.set_limit(limit);
        watch
    }

    /// Lends the current thread to this run until the guard drops: a loop that one of
    /// its bodies starts on this thread draws its bar under this run's (a lane calls
    /// it once, when it starts).
    pub(crate) fn lend(&self) -> Lent {
        Lent {
            #[cfg(feature = "progress")]
            _lent: progress::lend(self.lends.as_ref()),
        }
    }

    /// The run's limit is `limit` from now on: the one place a limit that moves while
    /// the run lasts (an adaptive limit) reports it. Sets the loop's `limit` gauge
    /// ([`Site::set_limit`]) and, when it differs from the run's limit until now, emits
    /// a `limit changed` event in the run's span.
    pub(crate) fn set_limit(&self, limit: usize) {
        let before = self.limit.swap(limit, Relaxed);
        self.site.set_limit(limit);
        #[cfg(feature = "tracing")]
        if before != limit {
            trace::limit_changed(&self.span, before, limit);
        }
        #[cfg(not(feature = "tracing"))]
        let _ = before;
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

#[cfg(test)]
mod test {
    use super::Watch;
    use crate::config::Config;
    use crate::input::Shape;
    use crate::stats::Site;

    #[test]
    fn the_limit_gauge_follows_set_limit() {
        static SITE: Site = Site::new("watch-limit", file!(), line!());
        let config = Config::new(&SITE);
        let watch = Watch::start(&config, Shape::Indexed(100), 4);
        assert_eq!(SITE.snapshot().limit, 4, "a fixed limit, set at the start");
        watch.set_limit(7);
        assert_eq!(SITE.snapshot().limit, 7);
        watch.set_limit(2);
        assert_eq!(SITE.snapshot().limit, 2);
    }

    /// Feature `tracing`: a limit that moves is an event in the run's span, once per
    /// move; setting the limit it already has, or starting at it, is none.
    #[cfg(feature = "tracing")]
    #[test]
    fn a_moving_limit_is_an_event_in_the_run_span() {
        use std::collections::HashMap;
        use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
        use std::sync::{Arc, Mutex};
        use tracing::field::{Field, Visit};
        use tracing::span::{Attributes, Id, Record};
        use tracing::{Event, Metadata, Subscriber};

        type Fields = HashMap<String, String>;

        #[derive(Default)]
        struct Recorder {
            next: AtomicU64,
            spans: Mutex<HashMap<u64, Fields>>,
            /// (parent span, fields) of every event.
            events: Mutex<Vec<(Option<u64>, Fields)>>,
        }

        struct Collect<'a>(&'a mut Fields);

        impl Visit for Collect<'_> {
            fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
                self.0
                    .insert(field.name().to_string(), format!("{value:?}"));
            }
            fn record_str(&mut self, field: &Field, value: &str) {
                self.0.insert(field.name().to_string(), value.to_string());
            }
        }

        struct Shared(Arc<Recorder>);

        impl Subscriber for Shared {
            fn enabled(&self, _: &Metadata<'_>) -> bool {
                true
            }
            fn new_span(&self, span: &Attributes<'_>) -> Id {
                let id = self.0.next.fetch_add(1, Relaxed) + 1;
                let mut fields = Fields::new();
                span.record(&mut Collect(&mut fields));
                self.0.spans.lock().unwrap().insert(id, fields);
                Id::from_u64(id)
            }
            fn record(&self, _: &Id, _: &Record<'_>) {}
            fn record_follows_from(&self, _: &Id, _: &Id) {}
            fn event(&self, event: &Event<'_>) {
                let mut fields = Fields::new();
                event.record(&mut Collect(&mut fields));
                let parent = event.parent().map(|id| id.into_u64());
                self.0.events.lock().unwrap().push((parent, fields));
            }
            fn enter(&self, _: &Id) {}
            fn exit(&self, _: &Id) {}
        }

        static SITE: Site = Site::new("watch-limit-traced", file!(), line!());
        let recorder = Arc::new(Recorder::default());
        let dispatch = tracing::Dispatch::new(Shared(recorder.clone()));
        tracing::dispatcher::with_default(&dispatch, || {
            let config = Config::new(&SITE);
            let watch = Watch::start(&config, Shape::Indexed(100), 4);
            watch.set_limit(4);
            watch.set_limit(6);
            watch.set_limit(6);
            watch.set_limit(3);
        });
        let spans = recorder.spans.lock().unwrap();
        let (&run, fields) = spans
            .iter()
            .find(|(_, f)| f.get("name").map(String::as_str) == Some("watch-limit-traced"))
            .expect("the run's span");
        assert_eq!(fields["limit"], "4");
        let moves: Vec<(String, String)> = recorder
            .events
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, f)| f.get("message").map(String::as_str) == Some("limit changed"))
            .map(|(parent, f)| {
                assert_eq!(*parent, Some(run), "in the run's span");
                (f["from"].clone(), f["to"].clone())
            })
            .collect();
        assert_eq!(
            moves,
            [("4".into(), "6".into()), ("6".into(), "3".into())],
            "one event per move"
        );
        assert_eq!(SITE.snapshot().limit, 3);
    }
}
