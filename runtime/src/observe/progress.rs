//! The `progress` bar: items done (of the total when the input knows its length), rate
//! and ETA, on stderr, drawn only when stderr is a terminal.
//!
//! Only one loop draws at a time: a loop nested in another's body (or running beside
//! it) draws nothing, so the outer bar is never garbled by inner ones.
//!
//! Batches only add to a counter; a frame is drawn at most every `FRAME` (and once
//! at the end), so the cost of the bar does not grow with the number of batches, and
//! a loop shorter than a frame draws only its final state.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::stats::RunEnd;

/// Whether some loop's bar is on the terminal now.
static DRAWING: AtomicBool = AtomicBool::new(false);

const BAR: &str = "{prefix} [{bar:30}] {pos}/{len} items  {rate}  ETA {eta}  {msg}";
const SPINNER: &str = "{prefix} {spinner} {pos} items  {rate}  {elapsed}  {msg}";

/// The least time between two frames.
const FRAME: Duration = Duration::from_millis(100);

/// The bar's and the spinner's styles, parsed once.
fn styles() -> &'static (ProgressStyle, ProgressStyle) {
    static STYLES: OnceLock<(ProgressStyle, ProgressStyle)> = OnceLock::new();
    STYLES.get_or_init(|| (style(BAR), style(SPINNER)))
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .expect("the bar's template is valid")
        .with_key("rate", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{} items/s", human(s.per_sec()));
        })
        .progress_chars("=> ")
}

/// One run's bar; the run that holds it is the one that draws.
pub(crate) struct Bar {
    bar: ProgressBar,
    started: Instant,
    /// Items finished so far.
    done: AtomicU64,
    /// When the next frame may be drawn, in nanoseconds since `started`.
    next_frame: AtomicU64,
}

fn human(rate: f64) -> String {
    match rate {
        r if r >= 1e9 => format!("{:.1}G", r / 1e9),
        r if r >= 1e6 => format!("{:.1}M", r / 1e6),
        r if r >= 1e4 => format!("{:.1}k", r / 1e3),
        r => format!("{r:.0}"),
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Bar {
    /// A bar labelled `label`, or `None` when stderr is not a terminal or another
    /// loop's bar is showing.
    pub(crate) fn start(label: &str, total: Option<u64>) -> Option<Bar> {
        // `stderr()` hides itself when stderr is not a terminal: then draw nothing at all.
        let target = ProgressDrawTarget::stderr();
        if target.is_hidden() {
            return None;
        }
        if DRAWING
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return None;
        }
        let (style, len) = match total {
            Some(n) => (styles().0.clone(), Some(n)),
            None => (styles().1.clone(), None),
        };
        let bar = ProgressBar::with_draw_target(len, target)
            .with_style(style)
            .with_prefix(label.to_string());
        Some(Bar {
            bar,
            started: Instant::now(),
            done: AtomicU64::new(0),
            next_frame: AtomicU64::new(nanos(FRAME)),
        })
    }

    /// `items` more items are done: counted, and drawn if a frame is due.
    #[inline]
    pub(crate) fn advance(&self, items: u64) {
        self.done.fetch_add(items, Ordering::Relaxed);
        let now = nanos(self.started.elapsed());
        let due = self.next_frame.load(Ordering::Relaxed);
        if now >= due
            && self
                .next_frame
                .compare_exchange(
                    due,
                    now + nanos(FRAME),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            self.bar.set_position(self.done.load(Ordering::Relaxed));
        }
    }

    /// Leaves the bar on the terminal in its final state: `done` items, and how the
    /// run ended unless it completed.
    pub(crate) fn finish(&self, ended: RunEnd, done: u64) {
        // A completed run of known length ends at its length; `finish` sets it there
        // and draws once. Any other end shows where it stopped.
        if ended != RunEnd::Completed || self.bar.length().is_none() {
            self.bar.set_position(done);
        }
        match ended {
            RunEnd::Completed => self.bar.finish_with_message("done"),
            RunEnd::Exited => self.bar.finish_with_message("done (exited early)"),
            RunEnd::Failed => self.bar.abandon_with_message("failed"),
            RunEnd::Panicked => self.bar.abandon_with_message("panicked"),
            RunEnd::Rejected => self.bar.abandon_with_message("rejected"),
            RunEnd::Cancelled => self.bar.abandon_with_message("cancelled"),
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        DRAWING.store(false, Ordering::Release);
    }
}
