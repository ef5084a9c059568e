//! Writes `BENCHMARKS.md` from the figures of one benchmark run.
//!
//! `scripts/benchmarks` runs the criterion benches and the memory harness, then this:
//!
//! ```sh
//! cargo run --release -p bounded-tools --bin bench-report -- \
//!     [--since UNIX_SECONDS] [--load "1.0 0.8 0.5"] \
//!     [--memory FILE.tsv] [--memory-note TEXT] [--out BENCHMARKS.md]
//! ```
//!
//! It reads what criterion left in `$CARGO_TARGET_DIR/criterion` (or `target/criterion`):
//! each benchmark's `new/benchmark.json` (group, name, throughput) and
//! `new/estimates.json` (the mean time per iteration and its 95% confidence interval).
//! With `--since`, results older than that are ignored, so a benchmark that did not run
//! shows as missing instead of as a stale figure. Every figure in the report comes from
//! these files and the memory TSV; only the benchmark names and the targets are written
//! here.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

const COMMAND: &str = "scripts/benchmarks";

// ---------------------------------------------------------------------------------
// The benchmark names, as the benches spell them.

const CPU: &str = "cpu-bound loop";
const CPU_RAYON: &str = "rayon par_iter().map().sum()";
const CPU_VARIANTS: &[&str] = &[
    "sequential",
    CPU_RAYON,
    "rayon with_min_len(256)",
    "#[bounded] defaults",
    "#[bounded] batch = 256",
];
const CPU_BOUNDED: &[&str] = &["#[bounded] defaults", "#[bounded] batch = 256"];

const SUM: &str = "sum 10M";
const SUM_RAYON: &str = "rayon par_iter().sum()";
const SUM_FOLD: &str = "rayon fold/reduce";
const SUM_BOUNDED: &str = "par_bounded! reduce(total: +)";
const SUM_VARIANTS: &[&str] = &["sequential", SUM_RAYON, SUM_FOLD, SUM_BOUNDED];

const FANOUT: &str = "fan-out";
const FANOUT_SIZES: &[&str] = &["10000", "100000"];
const FANOUT_PEERS: &[&str] = &[
    "thread per item",
    "crossbeam-channel pool",
    "threadpool crate",
    "rayon spawn per item",
];
const FANOUT_BOUNDED: &[&str] = &[
    "par_bounded! limit = cpus",
    "par_bounded! limit = cpus, batch = 1",
];

const SKEW: &str = "skewed work";
const SKEW_LAYOUTS: &[(&str, &str)] = &[
    ("spread", "every 100th item slow"),
    ("clustered", "the last 100 items slow"),
];
const SKEW_SEQUENTIAL: &str = "sequential";
const SKEW_RAYON: &str = "rayon par_iter()";
const SKEW_VARIANTS: &[&str] = &[
    SKEW_SEQUENTIAL,
    SKEW_RAYON,
    "par_bounded! schedule = static",
    "par_bounded! schedule = dynamic",
    "par_bounded! schedule = guided",
    "par_bounded! schedule = steal",
    "par_bounded! schedule = dynamic, batch = 16",
];
const SKEW_TARGETS: &[&str] = &[
    "par_bounded! schedule = dynamic",
    "par_bounded! schedule = steal",
];

const POOL: &str = "pool dispatch";
/// (function, parameter) of each variant, in table order.
const POOL_VARIANTS: &[(&str, &str)] = &[
    ("unbatched", "bounded::Pool::execute"),
    ("unbatched", "bounded::Pool::scope"),
    ("unbatched", "crossbeam-channel pool"),
    ("unbatched", "threadpool crate"),
    ("unbatched", "par_bounded! backend = pool, batch = 1"),
    ("batched", "par_bounded! backend = pool, batch = 1024"),
    ("batched", "crossbeam-channel pool, 1024 per job"),
];
/// The contract's figure for unbatched dispatch, for the pool backend and for
/// `Pool::execute` alike.
const POOL_UNBATCHED_NS_MAX: f64 = 100.0;
const POOL_BATCHED_NS_MAX: f64 = 5.0;

const ASYNC: &str = "async fan-out";
const ASYNC_VARIANTS: &[&str] = &["par_bounded!", "for_each_concurrent", "JoinSet + Semaphore"];

/// The ready-futures group of `benches/async.rs`.
const ASYNC_READY: &str = "async overhead";
const ASYNC_READY_VARIANTS: &[&str] = &[
    "par_bounded!",
    "par_bounded! batch = 1",
    "buffer_unordered",
    "JoinSet + Semaphore",
];
/// The peers the async loop is measured against on ready futures.
const ASYNC_READY_PEERS: &[&str] = &["buffer_unordered", "JoinSet + Semaphore"];

const SWEEP: &str = "batching sweep";
const SWEEP_FUNCTION: &str = "batch";
const SWEEP_FIXED: &[&str] = &["1", "16", "256", "4096"];
const SWEEP_AUTO: &str = "auto";
/// The sweep's batches of 16 under the per-lane schedules (beside `batch = 16`, which
/// is `dynamic`).
const SWEEP_SCHEDULE: &str = "schedule";
const SWEEP_PER_LANE: &[&str] = &["static, batch = 16", "steal, batch = 16"];

// The targets.
const GENERATED_VS_RAYON_MAX: f64 = 1.05;
const SUM_THROUGHPUT_MIN: f64 = 0.9;
const DISPATCH_NS_PER_ITEM_MAX: f64 = 1.0;
const AUTO_VS_BEST_MAX: f64 = 1.10;
/// The most a progress bar may cost its loop (with ÷ without, median of pairs).
const PROGRESS_MAX: f64 = 1.02;
const SKEW_VS_IDEAL_MAX: f64 = 1.10;
/// Memory counts as flat when the largest input's peak is at most this much above the
/// smallest's, over a hundredfold more items.
const FLAT_GROWTH_MAX: f64 = 1.25;
const MEMORY_FROM: u64 = 100_000;
const MEMORY_TO: u64 = 10_000_000;
/// A target's figure is flagged as noisy above this relative half-interval.
const NOISY_SPREAD: f64 = 0.05;

// ---------------------------------------------------------------------------------
// Criterion's files.

/// One benchmark's result.
#[derive(Debug, Clone, Copy)]
struct Estimate {
    /// Mean time per iteration, in nanoseconds.
    mean: f64,
    /// 95% confidence interval of the mean.
    lower: f64,
    upper: f64,
    /// Items per iteration, when the bench set a throughput in elements.
    elements: Option<u64>,
}

impl Estimate {
    fn ns_per_item(&self) -> Option<f64> {
        self.elements.map(|n| self.mean / n as f64)
    }
    fn items_per_sec(&self) -> Option<f64> {
        self.elements.map(|n| n as f64 / (self.mean * 1e-9))
    }
    /// Half the confidence interval, relative to the mean.
    fn spread(&self) -> f64 {
        (self.upper - self.lower) / 2.0 / self.mean
    }
}

/// Results by (group, function, parameter); the parameter is empty for plain
/// `bench_function`s.
#[derive(Default)]
struct Results(BTreeMap<(String, String, String), Estimate>);

impl Results {
    fn load(root: &Path, since: Option<SystemTime>) -> Results {
        let mut results = Results::default();
        let mut dirs = vec![root.to_path_buf()];
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    if path.file_name().is_some_and(|n| n == "new") {
                        results.read_one(&path, since);
                    } else {
                        dirs.push(path);
                    }
                }
            }
        }
        results
    }

    fn read_one(&mut self, new: &Path, since: Option<SystemTime>) {
        let estimates = new.join("estimates.json");
        if let Some(since) = since {
            let fresh = std::fs::metadata(&estimates)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= since);
            if !fresh {
                return;
            }
        }
        let read = |p: &Path| -> Option<Value> {
            serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()
        };
        let (Some(bench), Some(est)) = (read(&new.join("benchmark.json")), read(&estimates)) else {
            return;
        };
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let key = (
            text(&bench["group_id"]),
            text(&bench["function_id"]),
            text(&bench["value_str"]),
        );
        let mean = &est["mean"];
        let (Some(point), Some(lower), Some(upper)) = (
            mean["point_estimate"].as_f64(),
            mean["confidence_interval"]["lower_bound"].as_f64(),
            mean["confidence_interval"]["upper_bound"].as_f64(),
        ) else {
            return;
        };
        let elements = bench["throughput"]["Elements"].as_u64();
        self.0.insert(
            key,
            Estimate {
                mean: point,
                lower,
                upper,
                elements,
            },
        );
    }

    fn get(&self, group: &str, function: &str, parameter: &str) -> Option<Estimate> {
        self.0
            .get(&(group.to_owned(), function.to_owned(), parameter.to_owned()))
            .copied()
    }

    /// Benchmarks of `group` that the report does not know by name, so that a renamed
    /// or added bench still shows.
    fn others(&self, group: &str, known: &[(&str, &str)]) -> Vec<(String, String, Estimate)> {
        self.0
            .iter()
            .filter(|((g, f, p), _)| g == group && !known.contains(&(f.as_str(), p.as_str())))
            .map(|((_, f, p), e)| (f.clone(), p.clone(), *e))
            .collect()
    }
}

// ---------------------------------------------------------------------------------
// The memory harness's TSV.

#[derive(Debug, Clone)]
struct MemoryLine {
    variant: String,
    items: u64,
    rss_kib: Option<u64>,
    threads: String,
    wall_ms: String,
    note: String,
}

impl MemoryLine {
    /// What the loop itself holds: the peak minus the input `Vec` when the note gives
    /// its size (`input Vec N KiB`).
    fn loop_kib(&self) -> Option<u64> {
        let rss = self.rss_kib?;
        let input = self
            .note
            .split_once("input Vec ")
            .and_then(|(_, rest)| rest.split_once(" KiB"))
            .and_then(|(n, _)| n.trim().parse::<u64>().ok())
            .unwrap_or(0);
        Some(rss.saturating_sub(input))
    }
}

fn parse_memory(text: &str) -> Vec<MemoryLine> {
    text.lines()
        .filter_map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            if cols.len() < 5 {
                return None;
            }
            Some(MemoryLine {
                variant: cols[0].to_owned(),
                items: cols[1].parse().ok()?,
                rss_kib: cols[2].parse().ok(),
                threads: cols[3].to_owned(),
                wall_ms: cols[4].to_owned(),
                note: cols.get(5).copied().unwrap_or_default().to_owned(),
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------
// Formatting.

fn fmt_time(ns: f64) -> String {
    let (value, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    format!("{} {unit}", sig3(value))
}

fn fmt_rate(per_sec: f64) -> String {
    let (value, unit) = if per_sec >= 1e9 {
        (per_sec / 1e9, "G")
    } else if per_sec >= 1e6 {
        (per_sec / 1e6, "M")
    } else if per_sec >= 1e3 {
        (per_sec / 1e3, "K")
    } else {
        (per_sec, "")
    };
    format!("{} {unit}/s", sig3(value))
}

/// Three significant digits.
fn sig3(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn fmt_ratio(r: f64) -> String {
    format!("{r:.2}x")
}

/// `1234567` as `1,234,567`.
fn fmt_count(n: u64) -> String {
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

fn fmt_mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

const MISSING: &str = "not measured";

/// A markdown table.
struct Table {
    header: Vec<String>,
    right: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// Columns whose name starts with `>` are right-aligned.
    fn new(columns: &[&str]) -> Table {
        Table {
            header: columns
                .iter()
                .map(|c| c.trim_start_matches('>').to_owned())
                .collect(),
            right: columns.iter().map(|c| c.starts_with('>')).collect(),
            rows: Vec::new(),
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn render(&self) -> String {
        let escape = |s: &str| s.replace('|', "\\|");
        let mut out = String::new();
        let line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
        out += &line(self.header.iter().map(|h| escape(h)).collect());
        out += &line(
            self.right
                .iter()
                .map(|&r| if r { "---:" } else { "---" }.to_owned())
                .collect(),
        );
        for row in &self.rows {
            out += &line(row.iter().map(|c| escape(c)).collect());
        }
        out
    }
}

/// The usual columns of a timing row: time per iteration (± half the 95% interval),
/// ns per item, items per second.
fn timing_cells(e: Option<Estimate>) -> Vec<String> {
    match e {
        Some(e) => vec![
            format!("{} ±{:.0}%", fmt_time(e.mean), e.spread() * 100.0),
            e.ns_per_item().map_or("-".into(), sig3),
            e.items_per_sec().map_or("-".into(), fmt_rate),
        ],
        None => vec![MISSING.into(), "-".into(), "-".into()],
    }
}

fn ratio_cell(e: Option<Estimate>, reference: Option<f64>) -> String {
    match (e, reference) {
        (Some(e), Some(r)) => fmt_ratio(e.mean / r),
        _ => "-".into(),
    }
}

fn code(s: &str) -> String {
    format!("`{s}`")
}

// ---------------------------------------------------------------------------------
// Targets.

struct Target {
    what: String,
    measured: String,
    met: Option<bool>,
}

impl Target {
    fn new(what: impl Into<String>, measured: impl Into<String>, met: Option<bool>) -> Self {
        Target {
            what: what.into(),
            measured: measured.into(),
            met,
        }
    }
    fn missing(what: impl Into<String>) -> Self {
        Target::new(what, MISSING, None)
    }
    /// Says so when one of the estimates behind the figure has a wide interval: on a
    /// busy machine a parallel variant loses a core for some samples and its mean moves.
    fn noise(mut self, estimates: &[Estimate]) -> Self {
        let widest = estimates.iter().map(Estimate::spread).fold(0.0, f64::max);
        if widest > NOISY_SPREAD {
            let _ = write!(self.measured, " (noisy: ±{:.0}%)", widest * 100.0);
        }
        self
    }
}

// ---------------------------------------------------------------------------------
// The report.

struct Context {
    results: Results,
    cores: usize,
    memory: Option<Vec<MemoryLine>>,
    memory_note: Option<String>,
    /// What `cargo bench --bench real` printed, if it ran.
    real: Option<String>,
    /// What `cargo bench --bench progress` printed (drawn and hidden), if it ran.
    progress: Option<String>,
    /// What `cargo bench --bench pool -- alternating` printed, if it ran.
    pool_alternating: Option<String>,
    targets: Vec<Target>,
}

/// The criterion group of `benches/early_exit.rs`.
const EARLY_EXIT: &str = "early exit";
const EARLY_EXIT_AT: &[&str] = &["1%", "10%", "50%", "none"];
/// The real programs' targets.
const REAL_VS_RAYON_MAX: f64 = 1.05;
const REAL_GEOMEAN_MAX: f64 = 1.0;
const SERIAL_VS_SEQ_MAX: f64 = 1.02;
/// The per-call section of the real-program harness (a small loop, not a program).
const PER_CALL: &str = "(per call)";
/// A small loop with `limit = cpus` against rayon's cost per call.
const SMALL_CPUS_VS_RAYON_MAX: f64 = 1.5;
/// What a run of `backend = serial` may add to the sequential loop, in nanoseconds.
const SERIAL_RUN_NS_MAX: f64 = 500.0;

impl Context {
    fn cpu_section(&mut self, out: &mut String) {
        let r = &self.results;
        let peer = r.get(CPU, CPU_RAYON, "");
        let _ = writeln!(
            out,
            "## cpu-bound loop\n\n\
             100,000 items of about a microsecond of integer mixing each, summed \
             (`benches/cpu.rs`). The `#[bounded]` functions are the sequential loop \
             plus the attribute.\n"
        );
        let mut t = Table::new(&[
            "variant",
            ">time / iteration",
            ">ns / item",
            ">items / s",
            ">time ÷ rayon",
        ]);
        for name in CPU_VARIANTS {
            let e = r.get(CPU, name, "");
            let mut cells = vec![code(name)];
            cells.extend(timing_cells(e));
            cells.push(ratio_cell(e, peer.map(|p| p.mean)));
            t.row(cells);
        }
        push_others(&mut t, r, CPU, CPU_VARIANTS, peer);
        let _ = writeln!(
            out,
            "{}\nThe ratio divides by `{CPU_RAYON}`; below 1 is faster.\n",
            t.render()
        );
        for name in CPU_BOUNDED {
            let what = format!(
                "generated code ≤ {GENERATED_VS_RAYON_MAX:.2}x hand-written rayon \
                 (cpu-bound loop, `{name}`)"
            );
            self.targets.push(match (r.get(CPU, name, ""), peer) {
                (Some(e), Some(p)) => {
                    let ratio = e.mean / p.mean;
                    Target::new(
                        what,
                        format!("{} of `{CPU_RAYON}`", fmt_ratio(ratio)),
                        Some(ratio <= GENERATED_VS_RAYON_MAX),
                    )
                    .noise(&[e, p])
                }
                _ => Target::missing(what),
            });
        }
    }

    fn sum_section(&mut self, out: &mut String) {
        let r = &self.results;
        let peer = r.get(SUM, SUM_RAYON, "");
        let _ = writeln!(
            out,
            "## sum 10M\n\n\
             Summing 10,000,000 `u64`s (`benches/cpu.rs`): one addition per item, so \
             the figures are dispatch and memory bandwidth.\n"
        );
        let mut t = Table::new(&[
            "variant",
            ">time / iteration",
            ">ns / item",
            ">items / s",
            ">time ÷ rayon",
            ">throughput ÷ rayon",
        ]);
        for name in SUM_VARIANTS {
            let e = r.get(SUM, name, "");
            let mut cells = vec![code(name)];
            cells.extend(timing_cells(e));
            cells.push(ratio_cell(e, peer.map(|p| p.mean)));
            cells.push(match (e, peer) {
                (Some(e), Some(p)) => fmt_ratio(p.mean / e.mean),
                _ => "-".into(),
            });
            t.row(cells);
        }
        let _ = writeln!(out, "{}\nRatios against `{SUM_RAYON}`.\n", t.render());
        let bounded = r.get(SUM, SUM_BOUNDED, "");
        let what =
            format!("10M sum ≥ {SUM_THROUGHPUT_MIN:.1}x the throughput of hand-written rayon");
        // The other hand-written rayon form, for scale: the two rayon forms do the same
        // work, so how far apart they land is how much the machine moved between benches.
        let fold = match (r.get(SUM, SUM_FOLD, ""), peer) {
            (Some(f), Some(p)) => format!("; `{SUM_FOLD}` {}", fmt_ratio(p.mean / f.mean)),
            _ => String::new(),
        };
        self.targets.push(match (bounded, peer) {
            (Some(b), Some(p)) => {
                let ratio = p.mean / b.mean;
                Target::new(
                    what,
                    format!("{} of `{SUM_RAYON}`{fold}", fmt_ratio(ratio)),
                    Some(ratio >= SUM_THROUGHPUT_MIN),
                )
                .noise(&[b, p])
            }
            _ => Target::missing(what),
        });
        let what = format!(
            "batching amortises dispatch to < {DISPATCH_NS_PER_ITEM_MAX:.0} ns/item (10M sum)"
        );
        self.targets.push(match bounded {
            Some(b) => {
                let ns = b.ns_per_item().unwrap_or(f64::NAN);
                Target::new(
                    what,
                    format!("{} ns/item", sig3(ns)),
                    Some(ns < DISPATCH_NS_PER_ITEM_MAX),
                )
                .noise(&[b])
            }
            None => Target::missing(what),
        });
    }

    fn fanout_section(&mut self, out: &mut String) {
        let r = &self.results;
        let _ = writeln!(
            out,
            "## fan-out\n\n\
             Small independent tasks of one to two microseconds each, whose results go \
             to a shared atomic counter (`benches/fanout.rs`). `thread per item` spawns \
             a scoped thread per task and runs for 10,000 tasks only: at 100,000 it \
             spends its time creating threads. The crossbeam-channel pool is `cpus` \
             scoped workers behind a bounded channel; the `threadpool` crate's pool is \
             long-lived, `execute` per task and `join`; rayon spawns one job per task \
             in `rayon::scope`.\n"
        );
        let mut t = Table::new(&[
            "variant",
            ">tasks",
            ">time / iteration",
            ">ns / task",
            ">tasks / s",
            ">time ÷ best peer",
        ]);
        let mut bests = Vec::new();
        for size in FANOUT_SIZES {
            let best = FANOUT_PEERS
                .iter()
                .filter_map(|p| r.get(FANOUT, p, size).map(|e| (*p, e)))
                .min_by(|a, b| a.1.mean.total_cmp(&b.1.mean));
            if let Some((name, _)) = best {
                bests.push(format!(
                    "{} tasks: `{name}`",
                    fmt_count(size.parse().unwrap_or(0))
                ));
            }
            for name in FANOUT_PEERS.iter().chain(FANOUT_BOUNDED) {
                let e = r.get(FANOUT, name, size);
                if e.is_none() && *name == FANOUT_PEERS[0] && *size != FANOUT_SIZES[0] {
                    continue; // thread per item: smallest size only
                }
                let mut cells = vec![code(name), fmt_count(size.parse().unwrap_or(0))];
                cells.extend(timing_cells(e));
                cells.push(ratio_cell(e, best.map(|b| b.1.mean)));
                t.row(cells);
            }
        }
        let _ = writeln!(
            out,
            "{}\nThe best peer (fastest variant that is not `par_bounded!`) at {}.\n",
            t.render(),
            if bests.is_empty() {
                MISSING.to_owned()
            } else {
                bests.join("; ")
            }
        );
    }

    fn skew_section(&mut self, out: &mut String) {
        let r = &self.results;
        let cores = self.cores;
        let _ = writeln!(
            out,
            "## skewed work\n\n\
             10,000 items of about a microsecond, of which 1% cost 100 times as much \
             (`benches/skew.rs`). The schedules use the default `batch = auto`; the last \
             variant of each layout picks a small batch by hand. The ideal is the \
             sequential time of the same run divided by the {cores} cores: criterion \
             cannot measure it, so it is derived. Background load on the machine slows \
             a loop that uses every core more than the sequential one, so on a busy \
             machine these ratios err on the high side.\n"
        );
        let mut t = Table::new(&[
            "variant",
            "slow items",
            ">time / iteration",
            ">ns / item",
            ">items / s",
            ">time ÷ ideal",
        ]);
        for (layout, what) in SKEW_LAYOUTS {
            let sequential = r.get(SKEW, SKEW_SEQUENTIAL, layout);
            let ideal = sequential.map(|s| s.mean / cores as f64);
            t.row(vec![
                format!("ideal (sequential ÷ {cores})"),
                what.to_string(),
                ideal.map_or(MISSING.into(), fmt_time),
                "-".into(),
                "-".into(),
                ideal.map_or("-".into(), |_| fmt_ratio(1.0)),
            ]);
            for name in SKEW_VARIANTS {
                let e = r.get(SKEW, name, layout);
                let mut cells = vec![code(name), what.to_string()];
                cells.extend(timing_cells(e));
                cells.push(ratio_cell(e, ideal));
                t.row(cells);
            }
            // rayon on the same input, measured in the same conditions: when it is far
            // from the ideal too, the machine was busy or the layout defeats splitting.
            let rayon = match (r.get(SKEW, SKEW_RAYON, layout), ideal) {
                (Some(e), Some(i)) => format!("; `{SKEW_RAYON}` {}", fmt_ratio(e.mean / i)),
                _ => String::new(),
            };
            for name in SKEW_TARGETS {
                let schedule = name.trim_start_matches("par_bounded! ");
                let target = format!(
                    "skewed work ({what}) with `{schedule}` within {:.0}% of ideal",
                    (SKEW_VS_IDEAL_MAX - 1.0) * 100.0
                );
                self.targets
                    .push(match (r.get(SKEW, name, layout), sequential) {
                        (Some(e), Some(s)) => {
                            let ratio = e.mean / (s.mean / cores as f64);
                            Target::new(
                                target,
                                format!("{} of ideal{rayon}", fmt_ratio(ratio)),
                                Some(ratio <= SKEW_VS_IDEAL_MAX),
                            )
                            .noise(&[e, s])
                        }
                        _ => Target::missing(target),
                    });
            }
        }
        let _ = writeln!(out, "{}", t.render());
    }

    fn pool_section(&mut self, out: &mut String) {
        let r = &self.results;
        let _ = writeln!(
            out,
            "## pool dispatch\n\n\
             100,000 trivial jobs on two workers, waiting for all of them \
             (`benches/pool.rs`): what handing one item to a worker costs. The pool \
             backend's loop, `bounded::Pool` used directly, a hand-written \
             crossbeam-channel pool and the `threadpool` crate, in one run. With the \
             submitter and the workers sharing few cores, how the threads are placed on \
             them can last for seconds and favour whichever variant criterion measures \
             then, so the unbatched variants also run in alternating rounds (below the \
             table), and the unbatched targets hold those rounds' medians.\n"
        );
        let mut t = Table::new(&[
            "dispatch",
            "variant",
            ">time / iteration",
            ">ns / item",
            ">items / s",
        ]);
        for (function, parameter) in POOL_VARIANTS {
            let e = r.get(POOL, function, parameter);
            let mut cells = vec![function.to_string(), code(parameter)];
            cells.extend(timing_cells(e));
            t.row(cells);
        }
        let _ = writeln!(out, "{}", t.render());
        // The unbatched variants again, in alternating rounds (`alternating` in
        // `benches/pool.rs`): each round runs each once, so every variant meets the
        // same placement of its threads on the cores. Their medians are the figures
        // the unbatched targets hold; criterion's, measured one variant after the
        // other, are above.
        let alternating: Vec<(String, f64)> = self
            .pool_alternating
            .take()
            .map(|text| {
                for line in text.lines() {
                    let line = match line.strip_prefix("## ") {
                        Some(h) => format!("### {h}"),
                        None => line.to_owned(),
                    };
                    let _ = writeln!(out, "{line}");
                }
                text.lines()
                    .filter_map(|line| {
                        let cells: Vec<&str> =
                            line.trim_matches('|').split('|').map(str::trim).collect();
                        let ns = cells.get(1)?.parse::<f64>().ok()?;
                        Some((cells[0].to_owned(), ns))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let _ = writeln!(out);
        let from_alternating = !alternating.is_empty();
        let unbatched = |name: &str| -> Option<f64> {
            if from_alternating {
                alternating
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, ns)| *ns)
            } else {
                r.get(POOL, "unbatched", name)?.ns_per_item()
            }
        };
        let targets: [(&str, &str, f64); 3] = [
            (
                "unbatched",
                "par_bounded! backend = pool, batch = 1",
                POOL_UNBATCHED_NS_MAX,
            ),
            ("unbatched", "bounded::Pool::execute", POOL_UNBATCHED_NS_MAX),
            (
                "batched",
                "par_bounded! backend = pool, batch = 1024",
                POOL_BATCHED_NS_MAX,
            ),
        ];
        // The peers measured in the same run: how fast a hand-off between cores is
        // differs between machines (and between runs on a shared one) more than the
        // pools differ, so each figure is shown beside theirs.
        let peers: Vec<(&str, f64)> = ["crossbeam-channel pool", "threadpool crate"]
            .into_iter()
            .filter_map(|peer| Some((peer, unbatched(peer)?)))
            .collect();
        let beside = peers
            .iter()
            .map(|(peer, ns)| format!("{peer} {} ns", sig3(*ns)))
            .collect::<Vec<_>>()
            .join(", ");
        let how = if from_alternating {
            "medians of alternating rounds"
        } else {
            "criterion"
        };
        for (function, parameter, max) in targets {
            let what = format!("{function} pool dispatch ≤ {max:.0} ns/item (`{parameter}`)");
            if function == "unbatched" {
                self.targets.push(match unbatched(parameter) {
                    Some(ns) => {
                        let measured = if beside.is_empty() {
                            format!("{} ns/item ({how})", sig3(ns))
                        } else {
                            format!("{} ns/item; in the same rounds {beside} ({how})", sig3(ns))
                        };
                        let target = Target::new(what, measured, Some(ns <= max));
                        match (from_alternating, r.get(POOL, function, parameter)) {
                            (false, Some(e)) => target.noise(&[e]),
                            _ => target,
                        }
                    }
                    None => Target::missing(what),
                });
            } else {
                self.targets.push(match r.get(POOL, function, parameter) {
                    Some(e) => {
                        let ns = e.ns_per_item().unwrap_or(f64::NAN);
                        Target::new(what, format!("{} ns/item", sig3(ns)), Some(ns <= max))
                            .noise(&[e])
                    }
                    None => Target::missing(what),
                });
                continue;
            }
            let what = format!(
                "unbatched `{parameter}` ahead of the crossbeam-channel pool and the `threadpool` crate in the same run"
            );
            self.targets
                .push(match (unbatched(parameter), peers.len()) {
                    (Some(ns), 2) => {
                        let vs_faster = peers
                            .iter()
                            .map(|(_, peer)| ns / peer)
                            .fold(f64::MIN, f64::max);
                        Target::new(
                            what,
                            format!("{} of the faster peer ({how})", fmt_ratio(vs_faster)),
                            Some(vs_faster < 1.0),
                        )
                    }
                    _ => Target::missing(what),
                });
        }
    }

    fn async_section(&mut self, out: &mut String) {
        let r = &self.results;
        let _ = writeln!(
            out,
            "## async fan-out\n\n\
             10,000 timer-driven items (a 500 µs tokio sleep each) with at most 100 in \
             flight, on a two-thread tokio runtime (`benches/async.rs`): the async loop \
             beside `futures::StreamExt::for_each_concurrent` and a `JoinSet` bounded by a \
             `Semaphore`. The timer's millisecond granularity sets the floor for all three.\n"
        );
        let peer = r.get(ASYNC, "limit 100", "for_each_concurrent");
        let mut t = Table::new(&[
            "variant",
            ">time / iteration",
            ">ns / item",
            ">items / s",
            ">time ÷ for_each_concurrent",
        ]);
        for name in ASYNC_VARIANTS {
            let e = r.get(ASYNC, "limit 100", name);
            let mut cells = vec![code(name)];
            cells.extend(timing_cells(e));
            cells.push(ratio_cell(e, peer.map(|p| p.mean)));
            t.row(cells);
        }
        let _ = writeln!(out, "{}", t.render());
        self.async_ready_section(out);
    }

    fn async_ready_section(&mut self, out: &mut String) {
        let r = &self.results;
        if ASYNC_READY_VARIANTS
            .iter()
            .all(|name| r.get(ASYNC_READY, "ready futures", name).is_none())
        {
            return;
        }
        let _ = writeln!(
            out,
            "## async overhead\n\n\
             100,000 futures that are ready at once (`async {{ x * 2 }}`), at most 100 in \
             flight, on a two-thread tokio runtime (`benches/async.rs`): what running one \
             future costs the async loop (with its default batches, and with `batch = 1`), \
             `futures::StreamExt::buffer_unordered` and a `JoinSet` bounded by a \
             `Semaphore`.\n"
        );
        let best = ASYNC_READY_PEERS
            .iter()
            .filter_map(|name| {
                r.get(ASYNC_READY, "ready futures", name)
                    .map(|e| (*name, e))
            })
            .min_by(|a, b| a.1.mean.total_cmp(&b.1.mean));
        let header = format!(
            ">time ÷ {}",
            best.map_or("the better peer", |(name, _)| name)
        );
        let mut t = Table::new(&[
            "variant",
            ">time / iteration",
            ">ns / item",
            ">items / s",
            header.as_str(),
        ]);
        for name in ASYNC_READY_VARIANTS {
            let e = r.get(ASYNC_READY, "ready futures", name);
            let mut cells = vec![code(name)];
            cells.extend(timing_cells(e));
            cells.push(ratio_cell(e, best.map(|(_, p)| p.mean)));
            t.row(cells);
        }
        let _ = writeln!(out, "{}", t.render());
    }

    fn sweep_section(&mut self, out: &mut String) {
        let r = &self.results;
        let _ = writeln!(
            out,
            "## batching sweep\n\n\
             One addition per item over 10,000,000 `u64`s with fixed batches and with \
             `batch = auto` (`benches/batching.rs`): the cost of dispatching a batch, \
             amortised over its items.\n"
        );
        let best = SWEEP_FIXED
            .iter()
            .filter_map(|b| r.get(SWEEP, SWEEP_FUNCTION, b).map(|e| (*b, e)))
            .min_by(|a, b| a.1.mean.total_cmp(&b.1.mean));
        let mut t = Table::new(&[
            "batch",
            ">time / iteration",
            ">ns / item",
            ">items / s",
            ">time ÷ best fixed",
        ]);
        for b in SWEEP_FIXED.iter().chain([&SWEEP_AUTO]) {
            let e = r.get(SWEEP, SWEEP_FUNCTION, b);
            let mut cells = vec![code(&format!("batch = {b}"))];
            cells.extend(timing_cells(e));
            cells.push(ratio_cell(e, best.map(|b| b.1.mean)));
            t.row(cells);
        }
        let _ = writeln!(
            out,
            "{}\nThe best fixed batch in this run: {}.\n",
            t.render(),
            best.map_or(MISSING.to_owned(), |(b, _)| format!("`batch = {b}`"))
        );
        // The per-lane schedules at batch = 16: each lane moves a position of its own
        // in the plan at every batch, beside the shared counter of `dynamic`.
        let dynamic = r.get(SWEEP, SWEEP_FUNCTION, "16");
        let mut t = Table::new(&[
            "schedule",
            ">time / iteration",
            ">ns / item",
            ">items / s",
            ">time ÷ dynamic",
        ]);
        let rows = std::iter::once(("dynamic, batch = 16", dynamic)).chain(
            SWEEP_PER_LANE
                .iter()
                .map(|s| (*s, r.get(SWEEP, SWEEP_SCHEDULE, s))),
        );
        for (name, e) in rows {
            let mut cells = vec![code(&format!("schedule = {name}"))];
            cells.extend(timing_cells(e));
            cells.push(ratio_cell(e, dynamic.map(|d| d.mean)));
            t.row(cells);
        }
        let _ = writeln!(
            out,
            "The same additions in batches of 16 under each schedule: `dynamic` claims \
             from one shared counter, `static` and `steal` move a position of each lane's \
             own.\n\n{}",
            t.render()
        );
        let what = format!(
            "`batch = auto` within {:.0}% of the best fixed batch",
            (AUTO_VS_BEST_MAX - 1.0) * 100.0
        );
        self.targets
            .push(match (r.get(SWEEP, SWEEP_FUNCTION, SWEEP_AUTO), best) {
                (Some(a), Some((b, e))) => {
                    let ratio = a.mean / e.mean;
                    Target::new(
                        what,
                        format!("{} of `batch = {b}`", fmt_ratio(ratio)),
                        Some(ratio <= AUTO_VS_BEST_MAX),
                    )
                    .noise(&[a, e])
                }
                _ => Target::missing(what),
            });
    }

    fn early_exit_section(&mut self, out: &mut String) {
        let r = &self.results;
        let _ = writeln!(
            out,
            "## early exit\n\n\
             The position of the first match in 10,000,000 `u32`s (`benches/early_exit.rs`), \
             with the match at 1%, 10% and 50% of the input and with none: the plain \
             sequential loop, the same loop with `#[bounded(batch = 4096)]` (a `return` from \
             the parallel loop), and rayon's `position_first`. A search that exits early \
             should cost time proportional to the match's position.\n"
        );
        let mut t = Table::new(&[
            "match at",
            ">sequential",
            ">bounded",
            ">rayon",
            ">bounded ÷ rayon",
            ">bounded ÷ sequential",
        ]);
        for at in EARLY_EXIT_AT {
            let (s, b, y) = (
                r.get(EARLY_EXIT, "sequential", at),
                r.get(EARLY_EXIT, "bounded", at),
                r.get(EARLY_EXIT, "rayon", at),
            );
            let time = |e: Option<Estimate>| e.map_or(MISSING.to_owned(), |e| fmt_time(e.mean));
            t.row(vec![
                at.to_string(),
                time(s),
                time(b),
                time(y),
                ratio_cell(b, y.map(|e| e.mean)),
                ratio_cell(b, s.map(|e| e.mean)),
            ]);
        }
        let _ = writeln!(out, "{}", t.render());
    }

    /// The `progress/…` lines of `benches/progress.rs`: pairs of runs with and without
    /// a bar, on a terminal (`drawn`) and with stderr redirected (`hidden`).
    fn progress_section(&mut self, out: &mut String) {
        let _ = writeln!(
            out,
            "## progress bar\n\n\
             What `progress` costs (`benches/progress.rs`): each loop run with and without \
             a bar in back-to-back pairs, alternating which goes first; a ratio is the median \
             of the 301 (31 for `long`) per-pair ratios, with its quartiles. `drawn`: stderr \
             is a terminal (the bench runs under `script`); `hidden`: stderr is redirected, \
             so nothing is drawn. `auto` and `256` are the batching sweep's 10,000,000 \
             additions at `batch = auto` and `batch = 256`; a bar appears only once a run \
             has lasted 50 ms, so on a fast machine these never draw. `long` sums a range \
             of 200,000,000 and is drawn. The last column divides the fastest run with a \
             bar by the fastest without, the runs other processes disturbed least. Below the table, the cost per run of a loop of \
             1,000 items: the difference of the medians of 2001 runs with and 2001 without.\n"
        );
        let what = format!(
            "a progress bar costs ≤ {:.0}% of its loop",
            (PROGRESS_MAX - 1.0) * 100.0
        );
        let Some(text) = self.progress.take() else {
            let _ = writeln!(
                out,
                "{MISSING}: `cargo bench --bench progress` did not run.\n"
            );
            self.targets.push(Target::missing(what));
            return;
        };
        let mut t = Table::new(&[
            "stderr",
            "loop",
            ">a run",
            ">with ÷ without",
            ">quartiles",
            ">fastest ÷ fastest",
        ]);
        // The worst median, its row, and its quartiles' half-spread.
        let mut worst: Option<(f64, String, f64)> = None;
        let mut fixed = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("progress/paired/") {
                // `drawn/auto: 3.1 ms a run; … pairs 1.0012 (quartiles 0.98 .. 1.03)`
                let Some((key, rest)) = rest.split_once(": ") else {
                    continue;
                };
                let (shown, name) = key.split_once('/').unwrap_or((key, ""));
                let run = rest.split(" a run").next().unwrap_or(MISSING);
                let fastest = rest
                    .split_once("fastest without ")
                    .and_then(|(_, f)| f.split(';').next())
                    .and_then(|f| f.trim().parse::<f64>().ok())
                    .map_or(MISSING.to_owned(), |f| format!("{f:.3}x"));
                let tail = rest.rsplit(" pairs ").next().unwrap_or("");
                let (median, quartiles) = match tail.split_once(" (quartiles ") {
                    Some((m, q)) => (m.trim(), q.trim_end_matches(')')),
                    None => (tail.trim(), ""),
                };
                let Ok(ratio) = median.parse::<f64>() else {
                    continue;
                };
                t.row(vec![
                    shown.to_owned(),
                    code(name),
                    run.to_owned(),
                    format!("{ratio:.3}x"),
                    quartiles.to_owned(),
                    fastest,
                ]);
                let spread = quartiles
                    .split_once(" .. ")
                    .and_then(|(lo, hi)| {
                        Some((hi.parse::<f64>().ok()? - lo.parse::<f64>().ok()?) / 2.0)
                    })
                    .unwrap_or(0.0);
                if worst.as_ref().is_none_or(|(w, _, _)| ratio > *w) {
                    worst = Some((ratio, format!("{shown} `{name}`"), spread));
                }
            } else if let Some(rest) = line.strip_prefix("progress/fixed/") {
                if let Some((shown, rest)) = rest.split_once(": ") {
                    let cost = rest.rsplit(": ").next().unwrap_or(rest);
                    let cost = cost.split(" (").next().unwrap_or(cost);
                    fixed.push(format!("{cost} ({shown})"));
                }
            }
        }
        let _ = writeln!(out, "{}", t.render());
        if !fixed.is_empty() {
            let _ = writeln!(out, "A 1,000-item loop: {}.\n", fixed.join("; "));
        }
        self.targets.push(match worst {
            Some((ratio, row, spread)) => Target::new(
                what,
                format!(
                    "{ratio:.3}x at worst ({row}){}",
                    if spread > 0.05 {
                        format!(" (noisy: quartiles ±{:.0}%)", spread * 100.0)
                    } else {
                        String::new()
                    }
                ),
                Some(ratio <= PROGRESS_MAX),
            ),
            None => Target::missing(what),
        });
    }

    fn real_section(&mut self, out: &mut String) {
        let _ = writeln!(
            out,
            "## real programs\n\n\
             Benchmarks Game and rayon-demo programs (`benches/real.rs`), each written three \
             ways: the plain sequential program, the same program with the annotation, and \
             hand-written rayon, answers checked equal; `serial` is the annotated program \
             with `backend = serial`. A release harness runs every variant once per round in \
             a rotating order; a ratio is the median of the ratios within one round.\n"
        );
        let Some(text) = self.real.take() else {
            let _ = writeln!(out, "{MISSING}: `cargo bench --bench real` did not run.\n");
            self.targets
                .push(Target::missing("real programs ≤ 1.05x hand-written rayon"));
            return;
        };
        let mut in_summary = false;
        let mut in_threads = false;
        let mut vs_rayon = Vec::new();
        let mut program = Program::default();
        for line in text.lines() {
            // Nest the harness's headings under this section.
            let line = match line.strip_prefix("# ") {
                Some(_) => continue,
                None => line,
            };
            if let Some(h) = line.strip_prefix("## ") {
                self.program_targets(std::mem::take(&mut program));
                in_summary = h.starts_with("summary");
                in_threads = h.starts_with("pool threads");
                program.name = h.split("  (").next().unwrap_or(h).to_string();
                let _ = writeln!(out, "### {h}");
                continue;
            }
            let _ = writeln!(out, "{line}");
            if in_threads {
                self.threads_target(line);
                continue;
            }
            if !in_summary {
                program.row(line);
                continue;
            }
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            if cells.len() != 4 {
                continue;
            }
            // A loop of a few hundred nanoseconds is not a program: its own targets
            // (`program_targets`) hold its per-call cost, and it stays out of the mean.
            if cells[0].contains(PER_CALL) {
                continue;
            }
            let (Ok(rayon), program) = (cells[1].parse::<f64>(), cells[0]) else {
                if let Ok(serial) = cells[3].parse::<f64>() {
                    self.serial_target(cells[0], serial);
                }
                continue;
            };
            vs_rayon.push(rayon);
            self.targets.push(Target::new(
                format!("real program `{program}` ≤ {REAL_VS_RAYON_MAX}x hand-written rayon"),
                format!("{} of rayon", fmt_ratio(rayon)),
                Some(rayon <= REAL_VS_RAYON_MAX),
            ));
            if let Ok(serial) = cells[3].parse::<f64>() {
                self.serial_target(program, serial);
            }
        }
        self.program_targets(program);
        let _ = writeln!(out);
        if !vs_rayon.is_empty() {
            let geomean =
                (vs_rayon.iter().map(|r| r.ln()).sum::<f64>() / vs_rayon.len() as f64).exp();
            self.targets.push(Target::new(
                format!("real programs' geometric mean ≤ {REAL_GEOMEAN_MAX}x rayon"),
                format!("{} over {} programs", fmt_ratio(geomean), vs_rayon.len()),
                Some(geomean <= REAL_GEOMEAN_MAX),
            ));
        }
    }

    /// The targets one program's own table decides: `merge` against one shared
    /// `Mutex<HashMap>`, a pulled input against the sequential loop, and a small loop's
    /// cost per call.
    fn program_targets(&mut self, p: Program) {
        if p.name.contains(PER_CALL) {
            self.per_call_targets(&p);
            return;
        }
        if let (Some(bounded), Some(mutex)) = (p.bounded, p.mutex) {
            let ratio = bounded / mutex;
            self.targets.push(Target::new(
                format!(
                    "`reduce(counts: merge)` faster than one shared `Mutex<HashMap>` (`{}`)",
                    p.name
                ),
                format!("{} of `rayon Mutex<HashMap>`", fmt_ratio(ratio)),
                Some(ratio < 1.0),
            ));
        }
        if let (true, Some(bounded)) = (p.name.contains("(pulled)"), p.bounded) {
            self.targets.push(Target::new(
                format!(
                    "pulled input faster than sequential with the default batch (`{}`)",
                    p.name
                ),
                format!("{} of sequential", fmt_ratio(bounded)),
                Some(bounded < 1.0),
            ));
        }
    }

    /// A small loop called over and over: the annotated loop against rayon's per-call
    /// cost, `limit = cpus` (which reads the machine's CPUs) within 1.5x of it, and what
    /// `backend = serial` adds to the sequential loop per run, in nanoseconds: a run's
    /// fixed cost (its figures, two clock reads, the outcome rule) is a few hundred
    /// nanoseconds whatever the loop, so a ratio to a 100 ns loop would only measure it.
    fn per_call_targets(&mut self, p: &Program) {
        let name = &p.name;
        let rayon = p.per_call.get("rayon").copied();
        for (variant, max) in [
            ("bounded", REAL_VS_RAYON_MAX),
            ("limit = cpus", SMALL_CPUS_VS_RAYON_MAX),
        ] {
            let (Some(ns), Some(rayon)) = (p.per_call.get(variant).copied(), rayon) else {
                self.targets
                    .push(Target::missing(format!("`{variant}` per call (`{name}`)")));
                continue;
            };
            let ratio = ns / rayon;
            self.targets.push(Target::new(
                format!("small loop, `{variant}`, ≤ {max}x rayon's cost per call (`{name}`)"),
                format!(
                    "{} of rayon ({} against {})",
                    fmt_ratio(ratio),
                    fmt_time(ns),
                    fmt_time(rayon)
                ),
                Some(ratio <= max),
            ));
        }
        match (p.per_call.get("serial"), p.per_call.get("seq")) {
            (Some(&serial), Some(&seq)) => {
                let added = serial - seq;
                self.targets.push(Target::new(
                    format!(
                        "`backend = serial` adds ≤ {SERIAL_RUN_NS_MAX} ns a run to the sequential loop (`{name}`)"
                    ),
                    format!("{} ({} against {})", fmt_time(added), fmt_time(serial), fmt_time(seq)),
                    Some(added <= SERIAL_RUN_NS_MAX),
                ));
            }
            _ => self.targets.push(Target::missing(format!(
                "`backend = serial` per call (`{name}`)"
            ))),
        }
    }

    /// A row of the pool-threads table (`| loop | loops | peak workers |`): loops of
    /// `limit` lanes back to back on one pool never hold more workers than one loop
    /// uses, which is the most a pool needs for them whatever its `max`.
    fn threads_target(&mut self, line: &str) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let [looped, loops, peak] = cells[..] else {
            return;
        };
        let limit = looped
            .split("limit = ")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse::<usize>().ok());
        let (Some(limit), Ok(peak)) = (limit, peak.parse::<usize>()) else {
            return;
        };
        self.targets.push(Target::new(
            format!("pool peak workers for {loops} loops back to back ≤ their `limit` ({looped})"),
            format!("{peak} workers"),
            Some(peak <= limit),
        ));
    }

    fn serial_target(&mut self, program: &str, serial: f64) {
        self.targets.push(Target::new(
            format!(
                "`backend = serial` ≤ {SERIAL_VS_SEQ_MAX}x the sequential program (`{program}`)"
            ),
            format!("{} of sequential", fmt_ratio(serial)),
            Some(serial <= SERIAL_VS_SEQ_MAX),
        ));
    }

    fn memory_section(&mut self, out: &mut String) {
        let _ = writeln!(
            out,
            "## memory\n\n\
             Peak resident memory of one run per process (`tools/src/bin/memory.rs`, \
             `cargo run --release -p bounded-tools --bin memory`): the bounded loop beside the naive \
             baselines, over growing inputs.\n"
        );
        if let Some(note) = &self.memory_note {
            let _ = writeln!(out, "**{note}**\n");
        }
        let lines = match &self.memory {
            Some(lines) if !lines.is_empty() => lines.clone(),
            _ => {
                if self.memory_note.is_none() {
                    let _ = writeln!(out, "**The memory table is missing from this run.**\n");
                }
                self.targets.push(Target::missing(format!(
                    "flat memory for {}..{} items, growing naive baseline",
                    fmt_count(MEMORY_FROM),
                    fmt_count(MEMORY_TO)
                )));
                return;
            }
        };
        let mut t = Table::new(&[
            "variant",
            ">items",
            ">peak RSS",
            ">peak threads",
            ">wall (ms)",
            "note",
        ]);
        for l in &lines {
            t.row(vec![
                code(&l.variant),
                fmt_count(l.items),
                l.rss_kib.map_or("-".into(), fmt_mib),
                l.threads.clone(),
                l.wall_ms.clone(),
                l.note.clone(),
            ]);
        }
        let _ = writeln!(
            out,
            "{}\nFor the targets, a variant's memory is its peak RSS minus its input `Vec` \
             when the note gives one: what the loop itself holds.\n",
            t.render()
        );

        let mut variants: Vec<&str> = Vec::new();
        for l in &lines {
            if !variants.contains(&l.variant.as_str()) {
                variants.push(&l.variant);
            }
        }
        // Each variant's growth from its smallest to its largest measured input: the
        // bounded ones over MEMORY_FROM..=MEMORY_TO, the naive ones over all they ran.
        let growth = |variant: &str, naive: bool| {
            let measured: Vec<&MemoryLine> = lines
                .iter()
                .filter(|l| l.variant == variant && l.loop_kib().is_some())
                .filter(|l| naive || (MEMORY_FROM..=MEMORY_TO).contains(&l.items))
                .collect();
            let first = measured.iter().min_by_key(|l| l.items).copied();
            let last = measured.iter().max_by_key(|l| l.items).copied();
            match (first, last) {
                (Some(a), Some(b)) if a.items < b.items => {
                    let (ka, kb) = (a.loop_kib().unwrap_or(0), b.loop_kib().unwrap_or(0));
                    let ratio = kb as f64 / ka.max(1) as f64;
                    let text = format!(
                        "{} → {} items: {} → {} ({})",
                        fmt_count(a.items),
                        fmt_count(b.items),
                        fmt_mib(ka),
                        fmt_mib(kb),
                        fmt_ratio(ratio)
                    );
                    (Some(ratio), text)
                }
                (Some(a), _) => (
                    None,
                    format!(
                        "{} at {} items only",
                        a.rss_kib.map_or("-".into(), fmt_mib),
                        fmt_count(a.items)
                    ),
                ),
                _ => (None, MISSING.to_owned()),
            }
        };
        for variant in variants.iter().filter(|v| !v.starts_with("naive")) {
            let what = format!(
                "`{variant}`: memory flat from {} to {} items (≤ {FLAT_GROWTH_MAX:.2}x)",
                fmt_count(MEMORY_FROM),
                fmt_count(MEMORY_TO)
            );
            let (ratio, text) = growth(variant, false);
            self.targets
                .push(Target::new(what, text, ratio.map(|r| r <= FLAT_GROWTH_MAX)));
        }
        // The naive baselines together: met when every one measured at two sizes grows.
        let naive: Vec<(&str, Option<f64>, String)> = variants
            .iter()
            .filter(|v| v.starts_with("naive"))
            .map(|v| {
                let (ratio, text) = growth(v, true);
                (*v, ratio, text)
            })
            .collect();
        let what = "naive baselines: memory grows with the input";
        if naive.iter().all(|(_, r, _)| r.is_none()) {
            self.targets.push(Target::missing(what));
        } else {
            let text = naive
                .iter()
                .map(|(v, _, t)| format!("`{v}` {t}"))
                .collect::<Vec<_>>()
                .join("; ");
            let met = naive
                .iter()
                .filter_map(|(_, r, _)| *r)
                .all(|r| r > FLAT_GROWTH_MAX);
            self.targets.push(Target::new(what, text, Some(met)));
        }
    }
}

/// Rows for benchmarks of `group` that the report does not list by name.
fn push_others(t: &mut Table, r: &Results, group: &str, known: &[&str], peer: Option<Estimate>) {
    let known: Vec<(&str, &str)> = known.iter().map(|k| (*k, "")).collect();
    for (f, p, e) in r.others(group, &known) {
        let name = if p.is_empty() { f } else { format!("{f}/{p}") };
        let mut cells = vec![code(&name)];
        cells.extend(timing_cells(Some(e)));
        cells.push(ratio_cell(Some(e), peer.map(|p| p.mean)));
        t.row(cells);
    }
}

// ---------------------------------------------------------------------------------
// The machine.

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
        .map(|(_, m)| m.trim().to_owned())
}

fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(
        text.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// `YYYY-MM-DD HH:MM UTC` for a time since the epoch (civil-from-days).
fn fmt_utc(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs();
    format!("{} min {:02} s", s / 60, s % 60)
}

// ---------------------------------------------------------------------------------

struct Args {
    since: Option<u64>,
    load: Option<String>,
    load_after: Option<String>,
    others_cpu: Option<f64>,
    memory: Option<PathBuf>,
    memory_note: Option<String>,
    real: Option<PathBuf>,
    progress: Option<PathBuf>,
    pool_alternating: Option<PathBuf>,
    out: PathBuf,
}

const USAGE: &str = "\
usage: cargo run --release -p bounded-tools --bin bench-report -- [options]

  --since SECONDS     ignore criterion results older than this Unix time
  --load TEXT         load average before the benches, for the header
  --load-after TEXT   load average after the benches
  --others-cpu PCT    share of the machine's CPU time other processes took meanwhile
  --memory FILE       TSV lines of `cargo run --release -p bounded-tools --bin memory -- --tsv`
  --memory-note TEXT  shown above the memory table (why it is missing or partial)
  --real FILE         what `cargo bench --bench real` printed
  --progress FILE     what `cargo bench --bench progress` printed (its `progress/` lines)
  --pool-alternating FILE
                      what `cargo bench --bench pool -- alternating` printed
  --out FILE          where to write (default: BENCHMARKS.md at the repository root)";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        since: None,
        load: None,
        load_after: None,
        others_cpu: None,
        memory: None,
        memory_note: None,
        real: None,
        progress: None,
        pool_alternating: None,
        out: repository_root().join("BENCHMARKS.md"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--since" => {
                args.since = Some(
                    value()?
                        .parse()
                        .map_err(|_| "--since takes Unix seconds".to_owned())?,
                )
            }
            "--load" => args.load = Some(value()?),
            "--load-after" => args.load_after = Some(value()?),
            "--others-cpu" => {
                args.others_cpu = Some(
                    value()?
                        .parse()
                        .map_err(|_| "--others-cpu takes a percentage".to_owned())?,
                )
            }
            "--memory" => args.memory = Some(value()?.into()),
            "--memory-note" => args.memory_note = Some(value()?),
            "--real" => args.real = Some(value()?.into()),
            "--progress" => args.progress = Some(value()?.into()),
            "--pool-alternating" => args.pool_alternating = Some(value()?.into()),
            "--out" => args.out = value()?.into(),
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(args)
}

fn criterion_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("criterion"),
        _ => repository_root().join("target/criterion"),
    }
}

/// The workspace root: this crate lives in its `tools/` folder.
fn repository_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tools/ has a parent")
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("bench-report: {e}\n");
            }
            eprintln!("{USAGE}");
            return if e.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
    };
    let since = args.since.map(|s| UNIX_EPOCH + Duration::from_secs(s));
    let dir = criterion_dir();
    let results = Results::load(&dir, since);
    if results.0.is_empty() {
        eprintln!(
            "bench-report: no criterion results in {}{}",
            dir.display(),
            if since.is_some() {
                " from this run"
            } else {
                ""
            }
        );
    }

    let (memory, mut memory_note) = (
        args.memory
            .as_ref()
            .map(|p| std::fs::read_to_string(p).map(|t| parse_memory(&t))),
        args.memory_note.clone(),
    );
    let memory = match memory {
        Some(Ok(lines)) => Some(lines),
        Some(Err(e)) => {
            memory_note.get_or_insert(format!("The memory table is missing: {e}."));
            None
        }
        None => None,
    };

    let mut cx = Context {
        results,
        cores: bounded::available_cpus(),
        memory,
        memory_note,
        real: args
            .real
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok()),
        progress: args
            .progress
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok()),
        pool_alternating: args
            .pool_alternating
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok()),
        targets: Vec::new(),
    };
    let mut body = String::new();
    cx.cpu_section(&mut body);
    cx.sum_section(&mut body);
    cx.fanout_section(&mut body);
    cx.skew_section(&mut body);
    cx.pool_section(&mut body);
    cx.async_section(&mut body);
    cx.sweep_section(&mut body);
    cx.progress_section(&mut body);
    cx.early_exit_section(&mut body);
    cx.real_section(&mut body);
    cx.memory_section(&mut body);

    let now = SystemTime::now();
    let mut out = String::new();
    let _ = writeln!(out, "# Benchmarks\n");
    let _ = writeln!(
        out,
        "Generated by `{COMMAND}` on {}; every figure below comes from that run. \
         Regenerate with:\n\n```sh\n{COMMAND}\n```\n",
        fmt_utc(now)
    );
    let mut machine = Table::new(&["machine", ""]);
    machine.row(vec![
        "`nproc`".into(),
        command_output("nproc", &[]).unwrap_or_else(|| "n/a".into()),
    ]);
    machine.row(vec![
        "`bounded::available_cpus()`".into(),
        cx.cores.to_string(),
    ]);
    machine.row(vec![
        "CPU".into(),
        cpu_model().unwrap_or_else(|| "n/a".into()),
    ]);
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    machine.row(vec![
        "rustc".into(),
        command_output(&rustc, &["--version"]).unwrap_or_else(|| "n/a".into()),
    ]);
    if let Some(load) = &args.load {
        machine.row(vec!["load average before the benches".into(), load.clone()]);
    }
    if let Some(load) = args.load_after.clone().or_else(load_average) {
        machine.row(vec!["load average after the benches".into(), load]);
    }
    if let Some(pct) = args.others_cpu {
        machine.row(vec![
            "CPU time other processes took during the benches".into(),
            format!("{pct:.0}% of all cores"),
        ]);
    }
    if let Some(since) = since {
        if let Ok(took) = now.duration_since(since) {
            machine.row(vec!["run time".into(), fmt_duration(took)]);
        }
    }
    let _ = writeln!(out, "{}", machine.render());
    let _ = writeln!(
        out,
        "Times are criterion's mean per iteration, ± half its 95% confidence interval; \
         ratios divide times (below 1 is faster) unless the column says throughput. \
         Each group runs its variants side by side in one process. A target's figure \
         marked *noisy* rests on an estimate whose interval is wider than ±{:.0}%.\n",
        NOISY_SPREAD * 100.0
    );

    let _ = writeln!(out, "## Targets\n");
    let mut t = Table::new(&["target", "measured", "status"]);
    for target in &cx.targets {
        t.row(vec![
            target.what.clone(),
            target.measured.clone(),
            match target.met {
                Some(true) => "met".into(),
                Some(false) => "**MISSED**".into(),
                None => "-".into(),
            },
        ]);
    }
    let _ = writeln!(out, "{}", t.render());
    out += &body;

    if let Err(e) = std::fs::write(&args.out, out.trim_end().to_owned() + "\n") {
        eprintln!("bench-report: cannot write {}: {e}", args.out.display());
        return ExitCode::FAILURE;
    }
    let missed = cx.targets.iter().filter(|t| t.met == Some(false)).count();
    println!(
        "wrote {} ({} targets, {missed} missed)",
        args.out.display(),
        cx.targets.len()
    );
    ExitCode::SUCCESS
}

/// What one program's table in `benches/real.rs`'s output says, for its own targets:
/// the `÷ seq` column of the annotated loop and of the shared-mutex variant.
#[derive(Default)]
struct Program {
    name: String,
    bounded: Option<f64>,
    mutex: Option<f64>,
    /// A per-call table's medians, in nanoseconds a call, by variant.
    per_call: std::collections::HashMap<String, f64>,
}

impl Program {
    fn row(&mut self, line: &str) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells.len() != 4 {
            return;
        }
        let Ok(vs_seq) = cells[2].parse::<f64>() else {
            return;
        };
        if let Some(ns) = parse_ns(cells[1]) {
            self.per_call.insert(cells[0].to_string(), ns);
        }
        match cells[0] {
            "bounded" => self.bounded = Some(vs_seq),
            "rayon Mutex<HashMap>" => self.mutex = Some(vs_seq),
            _ => {}
        }
    }
}

/// A harness time (`513 ns`, `2.77 µs`, `4.05 ms`, `1.2 s`) in nanoseconds.
fn parse_ns(cell: &str) -> Option<f64> {
    let (value, unit) = cell.split_once(' ')?;
    let value: f64 = value.parse().ok()?;
    let scale = match unit {
        "ns" => 1.0,
        "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        _ => return None,
    };
    Some(value * scale)
}
