//! The `progress` bar: items done (of the total when the input knows its length), rate
//! and ETA, on stderr, drawn only when stderr is a terminal.
//!
//! Bars form a tree. A loop started by the body of a loop that shows a bar (on one of
//! its lanes) is its *child*: its bar is drawn under its parent's, indented, in the
//! parent's `indicatif::MultiProgress`, and cleared when it ends, so the screen holds
//! the loops running now and never a pile of finished ones. The lanes of a run lend
//! their thread the run's node (a thread-local pointer, set once per lane); a loop that
//! shows no bar lends the node it started under, so a bar two levels down still finds
//! its ancestor. A loop with no parent is a *root*: only one root draws at a time, so
//! two unrelated loops never draw over each other; the other draws nothing.
//!
//! Nothing is created or drawn until a run has lasted `SHOW_AFTER`: a short loop costs
//! a terminal check, a few relaxed atomics and nothing else, and draws nothing (a bar
//! that would flash for a twentieth of a second tells nobody anything). After that,
//! batches only add to a counter, and one drawing thread (started with the first bar
//! shown, gone when none is left) redraws every bar on screen every `FRAME`: lanes
//! never write to the terminal, so a terminal slow to read never slows a loop. A root
//! draws its final state once at the end, on the thread that ran the loop.

use std::cell::Cell;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::stats::RunEnd;

/// Whether some root's bar is live now.
static DRAWING: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// The node of the run whose lane this thread is running now (null: none).
    static LENT: Cell<*const Node> = const { Cell::new(std::ptr::null()) };
}

const BAR: &str = "{prefix} [{bar:30}] {pos}/{len} items  {rate}  ETA {left}  {msg}";
const SPINNER: &str = "{prefix} {spinner} {pos} items  {rate}  {elapsed}  {msg}";

/// The time between two frames of the bars on screen.
const FRAME: Duration = Duration::from_millis(100);
/// How long a run goes before its bar is created and drawn.
const SHOW_AFTER: Duration = Duration::from_millis(50);

/// The bar's and the spinner's styles, parsed once.
fn styles() -> &'static (ProgressStyle, ProgressStyle) {
    static STYLES: OnceLock<(ProgressStyle, ProgressStyle)> = OnceLock::new();
    STYLES.get_or_init(|| (style(BAR), style(SPINNER)))
}

/// The rate and the time left are averages over the whole run (the bar is dated from
/// the run's start): steady from the first frame, even for a bar created late.
fn style(template: &str) -> ProgressStyle {
    fn rate(s: &ProgressState) -> f64 {
        let secs = s.elapsed().as_secs_f64();
        if secs > 0.0 {
            s.pos() as f64 / secs
        } else {
            0.0
        }
    }
    ProgressStyle::with_template(template)
        .expect("the bar's template is valid")
        .with_key("rate", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{} items/s", human(rate(s)));
        })
        .with_key("left", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let left = match (s.len(), rate(s)) {
                (Some(len), r) if r > 0.0 => {
                    Duration::from_secs_f64(len.saturating_sub(s.pos()) as f64 / r)
                }
                _ => Duration::ZERO,
            };
            let _ = write!(w, "{:#}", indicatif::HumanDuration(left));
        })
        .progress_chars("=> ")
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

/// One run's place in the tree of bars.
pub(crate) struct Node {
    label: &'static str,
    total: Option<u64>,
    /// The node this run's bar is drawn under; `None` for a root.
    parent: Option<Arc<Node>>,
    /// Levels above this one.
    depth: usize,
    started: Instant,
    /// Items finished so far.
    done: AtomicU64,
    /// When the bar is to be shown, in nanoseconds since `started` (`u64::MAX` once
    /// some lane has taken it on).
    show_at: AtomicU64,
    /// Set when the run ended: the drawing thread no longer touches the bar. Held
    /// while the bar is redrawn or finished, so neither happens in the other's middle.
    finished: Mutex<bool>,
    /// The bar on the terminal, once the run has lasted `SHOW_AFTER` (or a child
    /// needed it to draw under).
    shown: OnceLock<Shown>,
}

struct Shown {
    bar: ProgressBar,
    /// The root's multi-bar, which every bar of the tree draws through.
    multi: MultiProgress,
}

impl Node {
    /// The bar, created (under its parent's, which is created first if need be) on
    /// first use, and handed to the drawing thread.
    fn shown(this: &Arc<Node>) -> &Shown {
        this.shown.get_or_init(|| {
            let (style, len) = match this.total {
                Some(n) => (styles().0.clone(), Some(n)),
                None => (styles().1.clone(), None),
            };
            let prefix = format!("{}{}", "  ".repeat(this.depth), this.label);
            // Dated from the run's start, so its rate and ETA count the time before it
            // was shown.
            let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::hidden())
                .with_style(style)
                .with_prefix(prefix)
                .with_elapsed(this.started.elapsed());
            bar.set_position(this.done.load(Ordering::Relaxed));
            let shown = match &this.parent {
                None => {
                    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
                    let bar = multi.add(bar);
                    Shown { bar, multi }
                }
                Some(parent) => {
                    let above = Node::shown(parent);
                    let bar = above.multi.insert_after(&above.bar, bar);
                    Shown {
                        bar,
                        multi: above.multi.clone(),
                    }
                }
            };
            // On the terminal now, not at its next frame: a parent created for its
            // child draws above it at once.
            shown.bar.tick();
            draw_from_thread(this);
            shown
        })
    }

    /// Brings the bar on screen up to the count, unless the run has ended.
    fn redraw(&self) {
        let finished = lock(&self.finished);
        if let (false, Some(shown)) = (*finished, self.shown.get()) {
            shown.bar.set_position(self.done.load(Ordering::Relaxed));
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The bars the drawing thread redraws, and whether it is running.
struct Drawer {
    nodes: Vec<Weak<Node>>,
    running: bool,
}

static DRAWER: Mutex<Drawer> = Mutex::new(Drawer {
    nodes: Vec::new(),
    running: false,
});

/// Adds a bar just shown to the drawing thread's list, starting the thread if none runs.
fn draw_from_thread(node: &Arc<Node>) {
    let mut drawer = lock(&DRAWER);
    drawer.nodes.push(Arc::downgrade(node));
    if !drawer.running {
        // Without a thread (none could be started) the bar still draws its final state.
        drawer.running = std::thread::Builder::new()
            .name("bounded-progress".into())
            .spawn(draw_loop)
            .is_ok();
    }
}

/// Every `FRAME`, redraws the bars whose runs are still going; ends when there are none.
fn draw_loop() {
    loop {
        std::thread::sleep(FRAME);
        let live: Vec<Arc<Node>> = {
            let mut drawer = lock(&DRAWER);
            drawer
                .nodes
                .retain(|n| n.upgrade().is_some_and(|n| !*lock(&n.finished)));
            if drawer.nodes.is_empty() {
                drawer.running = false;
                return;
            }
            drawer.nodes.iter().filter_map(Weak::upgrade).collect()
        };
        for node in live {
            node.redraw();
        }
    }
}

/// The node lanes on this thread are running for now, if any.
pub(crate) fn current() -> Option<Arc<Node>> {
    let ptr = LENT.with(Cell::get);
    if ptr.is_null() {
        return None;
    }
    // SAFETY: a non-null `LENT` was set by a `Lent` guard on this thread's stack that
    // is still alive, and that guard borrows an `Arc<Node>` held by its run's `Watch`;
    // the node is therefore alive, and one more strong count makes this `Arc` ours.
    unsafe {
        Arc::increment_strong_count(ptr);
        Some(Arc::from_raw(ptr))
    }
}

/// Lends this thread `node` (or none) while it lives, then restores what was lent.
pub(crate) struct Lent {
    before: *const Node,
}

/// Lends `node` to the loops that lanes on this thread start, until the guard drops.
pub(crate) fn lend(node: Option<&Arc<Node>>) -> Lent {
    let ptr = node.map_or(std::ptr::null(), Arc::as_ptr);
    Lent {
        before: LENT.with(|l| l.replace(ptr)),
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        LENT.with(|l| l.set(self.before));
    }
}

/// One run's bar; the run that holds it is the one that draws.
pub(crate) struct Bar {
    node: Arc<Node>,
}

impl Bar {
    /// A bar labelled `label` under `parent`, or `None` when stderr is not a terminal,
    /// or when this would be a root while another root's bar is live.
    pub(crate) fn start(
        label: &'static str,
        total: Option<u64>,
        parent: Option<Arc<Node>>,
    ) -> Option<Bar> {
        // A child's root already checked the terminal.
        if parent.is_none() {
            if !std::io::stderr().is_terminal() {
                return None;
            }
            if DRAWING
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
            {
                return None;
            }
        }
        Some(Bar {
            node: Arc::new(Node {
                label,
                total,
                depth: parent.as_ref().map_or(0, |p| p.depth + 1),
                parent,
                started: Instant::now(),
                done: AtomicU64::new(0),
                show_at: AtomicU64::new(nanos(SHOW_AFTER)),
                finished: Mutex::new(false),
                shown: OnceLock::new(),
            }),
        })
    }

    /// The run's node, which its lanes lend their threads.
    pub(crate) fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// `items` more items are done: counted; and once the run has lasted `SHOW_AFTER`,
    /// the first lane to see it shows the bar (the drawing thread takes it from there).
    #[inline]
    pub(crate) fn advance(&self, items: u64) {
        let node = &self.node;
        node.done.fetch_add(items, Ordering::Relaxed);
        if node.shown.get().is_some() {
            return;
        }
        let due = node.show_at.load(Ordering::Relaxed);
        if nanos(node.started.elapsed()) >= due
            && node
                .show_at
                .compare_exchange(due, u64::MAX, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            Node::shown(node);
        }
    }

    /// The run ended with `done` items. A root that was shown stays on the terminal in
    /// its final state (and how the run ended unless it completed); a child is cleared
    /// and leaves the tree. A run never shown draws nothing.
    pub(crate) fn finish(&self, ended: RunEnd, done: u64) {
        let mut finished = lock(&self.node.finished);
        *finished = true;
        let Some(shown) = self.node.shown.get() else {
            return;
        };
        if self.node.parent.is_some() {
            shown.bar.finish_and_clear();
            shown.multi.remove(&shown.bar);
            return;
        }
        // A completed run of known length ends at its length; `finish` sets it there
        // and draws once. Any other end shows where it stopped.
        if ended != RunEnd::Completed || shown.bar.length().is_none() {
            shown.bar.set_position(done);
        }
        match ended {
            RunEnd::Completed => shown.bar.finish_with_message("done"),
            RunEnd::Exited => shown.bar.finish_with_message("done (exited early)"),
            RunEnd::Failed => shown.bar.abandon_with_message("failed"),
            RunEnd::Panicked => shown.bar.abandon_with_message("panicked"),
            RunEnd::Rejected => shown.bar.abandon_with_message("rejected"),
            RunEnd::Cancelled => shown.bar.abandon_with_message("cancelled"),
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        // A run dropped before it ended (an async loop's future): a child leaves the
        // tree, a root stays where it stopped.
        let mut finished = lock(&self.node.finished);
        if !*finished {
            *finished = true;
            if let Some(shown) = self.node.shown.get() {
                if self.node.parent.is_some() {
                    shown.bar.finish_and_clear();
                    shown.multi.remove(&shown.bar);
                } else {
                    shown.bar.abandon_with_message("dropped");
                }
            }
        }
        if self.node.parent.is_none() {
            DRAWING.store(false, Ordering::Release);
        }
    }
}
