//! The `tracing` view of a run: one `bounded.loop` span per run (entered on the
//! calling thread while the run lasts) and events, under the target `bounded`, for
//! errors, panics, shed items and the run's own stops.

use tracing::field::Empty;
use tracing::Span;

use crate::config::{Backend, Config};
use crate::stats::{RunEnd, RunStats};

fn backend(b: Backend) -> &'static str {
    match b {
        Backend::Rayon => "rayon",
        Backend::Serial => "serial",
        Backend::Pool => "pool",
        Backend::Async => "async",
        Backend::Timely => "timely",
    }
}

pub(crate) fn span(config: &Config, limit: usize) -> Span {
    tracing::info_span!(
        target: "bounded",
        "bounded.loop",
        name = config.name(),
        limit = limit as u64,
        backend = backend(config.backend),
        items = Empty,
        ended = Empty,
    )
}

pub(crate) fn limit_changed(span: &Span, from: usize, to: usize) {
    tracing::info!(target: "bounded", parent: span, from = from as u64, to = to as u64, "limit changed");
}

pub(crate) fn failed(span: &Span, at: usize) {
    tracing::warn!(target: "bounded", parent: span, item = at as u64, "item failed");
}

pub(crate) fn panicked(span: &Span) {
    tracing::error!(target: "bounded", parent: span, "body panicked");
}

pub(crate) fn dropped(span: &Span, items: u64) {
    tracing::warn!(target: "bounded", parent: span, items, "items dropped (on_full = drop)");
}

pub(crate) fn finish(span: &Span, ended: RunEnd, run: &RunStats) {
    let word = match ended {
        RunEnd::Completed => "completed",
        RunEnd::Exited => "exited",
        RunEnd::Failed => "failed",
        RunEnd::Panicked => "panicked",
        RunEnd::Rejected => "rejected",
        RunEnd::Cancelled => "cancelled",
    };
    span.record("items", run.items);
    span.record("ended", word);
    match ended {
        RunEnd::Rejected => {
            tracing::warn!(target: "bounded", parent: span, "loop rejected (queue full, on_full = reject)")
        }
        RunEnd::Cancelled => {
            tracing::warn!(target: "bounded", parent: span, "loop cancelled (timeout or cancel token)")
        }
        _ => {}
    }
}
