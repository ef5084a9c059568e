//! Measuring one run of a workload, shared by the `showcase` example and the `memory`
//! harness (`tools/src/bin/memory.rs`, which includes this file).
//!
//! Every run happens in a process of its own: the program re-executes its own binary
//! with a hidden `--child …` argument, the child runs one workload and prints one
//! [`Report`] line, and the parent collects it. That is what makes the peak memory
//! (`VmHWM`, the kernel's high-water mark of resident memory) belong to that run alone.
//!
//! Peak threads is the most threads of the process alive at once, the measuring thread
//! excluded. It is the larger of an exact count (threads the workloads spawn and rayon's
//! workers register themselves in [`Live`]) and a sample of `/proc/self/status` taken
//! every millisecond (which also sees threads started by libraries). Outside Linux there
//! is no `/proc`, and both figures print as `n/a`.
#![allow(dead_code)] // each program uses part of this module

use std::fmt::Write as _;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------
// What the kernel says about this process.

/// A numeric field of `/proc/self/status` (`VmHWM` is in KiB).
fn status_field(name: &str) -> Option<u64> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|line| {
        let value = line.strip_prefix(name)?.strip_prefix(':')?;
        value.split_whitespace().next()?.parse().ok()
    })
}

/// Peak resident memory of this process so far, in KiB.
pub fn peak_rss_kib() -> Option<u64> {
    status_field("VmHWM")
}

/// Threads of this process alive now.
pub fn os_threads() -> Option<u64> {
    status_field("Threads")
}

/// How many threads of other processes want a CPU right now: the average of
/// `procs_running` in `/proc/stat` over 0.1 s, minus the caller.
pub fn other_runnable() -> Option<f64> {
    let sample = || -> Option<f64> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let line = stat.lines().find(|l| l.starts_with("procs_running"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    let mut sum = 0.0;
    for _ in 0..10 {
        sum += sample()? - 1.0;
        thread::sleep(Duration::from_millis(10));
    }
    Some(sum / 10.0)
}

// ---------------------------------------------------------------------------------
// Counting threads exactly.

/// Threads alive now, starting with the main thread.
static LIVE: AtomicUsize = AtomicUsize::new(1);
/// The most threads alive at once.
static PEAK: AtomicUsize = AtomicUsize::new(1);

fn thread_started() {
    let now = LIVE.fetch_add(1, Relaxed) + 1;
    PEAK.fetch_max(now, Relaxed);
}

fn thread_finished() {
    LIVE.fetch_sub(1, Relaxed);
}

/// Held by a spawned thread for its whole life: `let _live = Live::enter();`.
pub struct Live(());

impl Live {
    /// Counts the current thread as alive until the guard drops.
    pub fn enter() -> Live {
        thread_started();
        Live(())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        thread_finished();
    }
}

/// Starts rayon's global pool with workers that count themselves, and waits until every
/// worker is up, so that pool start-up is not part of a timed section. Call it first
/// thing in a child that uses rayon or `bounded`.
pub fn start_counted_rayon_pool() {
    rayon::ThreadPoolBuilder::new()
        .start_handler(|_| thread_started())
        .exit_handler(|_| thread_finished())
        .build_global()
        .expect("rayon's global pool is configured before its first use");
    rayon::broadcast(|_| ());
}

/// Samples `/proc/self/status` every millisecond while a workload runs.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<u64>>,
}

impl Sampler {
    /// Starts sampling (does nothing where `/proc` does not exist).
    pub fn start() -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let handle = os_threads().map(|_| {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut peak = 0;
                while !stop.load(Relaxed) {
                    peak = peak.max(os_threads().unwrap_or(0));
                    thread::sleep(Duration::from_millis(1));
                }
                peak.saturating_sub(1) // not counting the sampler itself
            })
        });
        Sampler { stop, handle }
    }

    /// Peak threads seen (exact count and samples), `None` outside Linux.
    pub fn finish(self) -> Option<u64> {
        self.stop.store(true, Relaxed);
        let sampled = self.handle?.join().expect("sampler thread");
        Some(sampled.max(PEAK.load(Relaxed) as u64))
    }
}

// ---------------------------------------------------------------------------------
// Per-item latency.

/// One latency slot per item, written by whichever thread runs the item.
pub struct Latencies(Vec<AtomicU64>);

impl Latencies {
    pub fn new(items: usize) -> Self {
        Latencies((0..items).map(|_| AtomicU64::new(0)).collect())
    }

    pub fn record(&self, item: usize, took: Duration) {
        self.0[item].store(took.as_nanos() as u64, Relaxed);
    }

    /// The 99th percentile (nearest rank).
    pub fn p99(&self) -> Duration {
        let mut ns: Vec<u64> = self.0.iter().map(|a| a.load(Relaxed)).collect();
        ns.sort_unstable();
        let rank = (ns.len() * 99).div_ceil(100).max(1);
        Duration::from_nanos(ns.get(rank - 1).copied().unwrap_or(0))
    }
}

// ---------------------------------------------------------------------------------
// One run: what a workload returns, and what the child reports.

/// What a workload hands back: the time of its measured section and its answer (which
/// the parent compares with the reference row's).
pub struct Run {
    pub wall: Duration,
    pub answer: u64,
    pub p99: Option<Duration>,
    pub note: String,
}

impl Run {
    /// Runs `f`, timing it.
    pub fn time(f: impl FnOnce() -> u64) -> Run {
        let start = Instant::now();
        let answer = f();
        Run {
            wall: start.elapsed(),
            answer,
            p99: None,
            note: String::new(),
        }
    }

    pub fn with_p99(mut self, p99: Duration) -> Run {
        self.p99 = Some(p99);
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Run {
        self.note = note.into();
        self
    }
}

/// The line a child prints for its parent.
#[derive(Debug, Clone)]
pub struct Report {
    pub wall: Duration,
    pub answer: u64,
    pub peak_rss_kib: Option<u64>,
    pub peak_threads: Option<u64>,
    pub p99: Option<Duration>,
    pub note: String,
}

const REPORT_PREFIX: &str = "@report";

impl Report {
    /// Runs a workload `reps` times in this process and reports the run with the median
    /// wall time, with the process's peaks over all of them.
    pub fn measure(reps: usize, mut workload: impl FnMut() -> Run) -> Report {
        let sampler = Sampler::start();
        let mut runs: Vec<Run> = (0..reps.max(1)).map(|_| workload()).collect();
        let peak_threads = sampler.finish();
        let answers: Vec<u64> = runs.iter().map(|r| r.answer).collect();
        assert!(
            answers.windows(2).all(|w| w[0] == w[1]),
            "repeated runs disagree: {answers:?}"
        );
        runs.sort_by_key(|r| r.wall);
        let median = runs.swap_remove(runs.len() / 2);
        Report {
            wall: median.wall,
            answer: median.answer,
            peak_rss_kib: peak_rss_kib(),
            peak_threads,
            p99: median.p99,
            note: median.note,
        }
    }

    /// Prints the report line on stdout (the child's side).
    pub fn emit(&self) {
        let opt = |v: Option<u64>| v.map_or("-".to_owned(), |v| v.to_string());
        let mut line = format!(
            "{REPORT_PREFIX} wall_ns={} answer={} rss_kib={} threads={} p99_ns={}",
            self.wall.as_nanos(),
            self.answer,
            opt(self.peak_rss_kib),
            opt(self.peak_threads),
            opt(self.p99.map(|d| d.as_nanos() as u64)),
        );
        let _ = write!(line, " note={}", self.note.replace('\n', " "));
        println!("{line}");
    }

    /// Reads a report line (the parent's side).
    pub fn parse(line: &str) -> Option<Report> {
        let rest = line.strip_prefix(REPORT_PREFIX)?.trim_start();
        let (fields, note) = rest.split_once(" note=").unwrap_or((rest, ""));
        let mut report = Report {
            wall: Duration::ZERO,
            answer: 0,
            peak_rss_kib: None,
            peak_threads: None,
            p99: None,
            note: note.to_owned(),
        };
        for field in fields.split_whitespace() {
            let (key, value) = field.split_once('=')?;
            let number: Option<u64> = value.parse().ok();
            match key {
                "wall_ns" => report.wall = Duration::from_nanos(number?),
                "answer" => report.answer = number?,
                "rss_kib" => report.peak_rss_kib = number,
                "threads" => report.peak_threads = number,
                "p99_ns" => report.p99 = number.map(Duration::from_nanos),
                _ => {}
            }
        }
        Some(report)
    }
}

/// Runs this binary again with `args` and returns the report the child printed, or why
/// there was none (the child's exit status and the end of its stderr).
pub fn run_child(args: &[String]) -> Result<Report, String> {
    run_child_drawing(args, false)
}

/// [`run_child`], and when `draws` and our stderr is a terminal, the child writes to it
/// directly, so that the progress bar of its loop is drawn live (its own words then go
/// straight to the terminal, and the table's summary is only its exit status).
pub fn run_child_drawing(args: &[String], draws: bool) -> Result<Report, String> {
    use std::io::IsTerminal;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find own binary: {e}"))?;
    let live = draws && std::io::stderr().is_terminal();
    let out = Command::new(exe)
        .args(args)
        .stderr(if live {
            std::process::Stdio::inherit()
        } else {
            std::process::Stdio::piped()
        })
        .output()
        .map_err(|e| format!("cannot start child: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if out.status.success() {
        if let Some(report) = stdout.lines().find_map(Report::parse) {
            return Ok(report);
        }
    }
    // The child's own words go to our stderr; the table gets a one-line summary: the
    // panic message if there is one, else the last line.
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprint!("{stderr}");
    let mut lines = stderr.lines().map(str::trim).filter(|l| !l.is_empty());
    let panic_message = lines
        .clone()
        .skip_while(|l| !l.contains("panicked at"))
        .nth(1);
    let why = panic_message
        .or_else(|| lines.next_back())
        .unwrap_or(if live { "see above" } else { "no output" });
    Err(format!("{} ({})", why, out.status))
}

/// How the loop named `name` split its input, from `bounded::stats`:
/// "32 batches of ~312 items" per run.
pub fn batches_of(name: &str) -> String {
    let all = bounded::stats::loops();
    match all.iter().find(|s| s.name == name) {
        Some(s) if s.runs > 0 && s.batches > 0 => format!(
            "{} batches of ~{} items",
            fmt_items((s.batches / s.runs) as usize),
            fmt_items((s.items / s.batches) as usize)
        ),
        _ => String::new(),
    }
}

// ---------------------------------------------------------------------------------
// Arguments and formatting.

/// `10000000`, `10_000_000`, `10,000,000` and `1e7` all read as ten million.
pub fn parse_count(s: &str) -> Result<usize, String> {
    let clean = s.replace(['_', ','], "");
    let float = || {
        clean
            .parse::<f64>()
            .ok()
            .filter(|f| *f >= 0.0)
            .map(|f| f as usize)
    };
    clean
        .parse::<usize>()
        .ok()
        .or_else(float)
        .ok_or_else(|| format!("`{s}` is not a count"))
}

pub fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{:.1} µs", s * 1e6)
    }
}

pub fn fmt_rate(per_second: f64) -> String {
    match per_second {
        r if r >= 1e9 => format!("{:.2} G/s", r / 1e9),
        r if r >= 1e6 => format!("{:.1} M/s", r / 1e6),
        r if r >= 1e3 => format!("{:.1} k/s", r / 1e3),
        r => format!("{r:.0} /s"),
    }
}

pub fn fmt_mib(kib: Option<u64>) -> String {
    kib.map_or("n/a".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0))
}

pub fn fmt_count(n: Option<u64>) -> String {
    n.map_or("n/a".to_owned(), |n| n.to_string())
}

/// `10000000` → `10,000,000`.
pub fn fmt_items(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

// ---------------------------------------------------------------------------------
// Workload pieces used by both programs.

/// `rounds` steps of xorshift64: dependent integer work that the optimiser can neither
/// skip nor vectorise, about 2 ns a step on a current x86 core.
pub fn spin(seed: u64, rounds: u32) -> u64 {
    let mut x = std::hint::black_box(seed) | 1;
    for _ in 0..rounds {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    x
}

/// A well-mixed hash of an integer (splitmix64's finaliser).
pub fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// One input record of the memory workloads: 64 bytes, made on demand from its id.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct Item {
    pub id: u64,
    pub payload: [u64; 7],
}

impl Item {
    pub fn new(id: u64) -> Item {
        let mut payload = [0; 7];
        let mut x = id;
        for word in &mut payload {
            x = mix(x.wrapping_add(0x9e37_79b9_7f4a_7c15));
            *word = x;
        }
        Item { id, payload }
    }

    /// FNV-1a over the payload's bytes, high half: about 0.1 µs of work per item.
    pub fn digest(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for word in self.payload {
            for byte in word.to_le_bytes() {
                h ^= u64::from(byte);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        }
        h >> 32
    }
}

/// `n` items made one at a time by an iterator that does not know its length, the
/// way a channel, a socket or a file's lines deliver them.
pub fn lazy_items(n: u64) -> impl Iterator<Item = Item> {
    let mut next = 0;
    std::iter::from_fn(move || {
        (next < n).then(|| {
            next += 1;
            Item::new(next - 1)
        })
    })
}
