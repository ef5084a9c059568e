//! The memory harness of the performance contract: peak memory of a bounded loop over
//! 10^3 … 10^7 items beside the naive baselines, each run in a process of its own.
//!
//! ```sh
//! cargo run --release -p bounded-tools --bin memory                  # markdown table, < 1 min
//! cargo run --release -p bounded-tools --bin memory -- --tsv         # one TSV line per run
//! cargo run --release -p bounded-tools --bin memory -- --items 1000,20000
//! ```
//!
//! Every item is a 64-byte record ([`support::Item`]) whose processing (~0.1 µs) costs
//! more than making it, as when records are read from a file or a socket. Variants:
//!
//! - `bounded-vec`: the bounded loop over a `Vec` of all items (indexed input). The
//!   `Vec` itself is N × 64 bytes; the loop adds nothing to it.
//! - `bounded-pulled`: the bounded loop over an iterator that makes items on demand and
//!   does not know its length (like a channel or a file's lines). At most `limit × batch`
//!   items exist at once.
//! - `bounded-pulled-sized`: the same over `(0..n).map(..)`, whose exact size hint lets
//!   `batch = auto` pick batches of n / (16 × limit) items.
//! - `naive-threads`: `thread::spawn` per item, every `JoinHandle` kept and joined at the
//!   end (the textbook form). A finished thread keeps its stack mapped, and about 8 KiB
//!   of it resident, until it is joined: two memory mappings per thread, of the 65,530
//!   Linux allows by default (`vm.max_map_count`). Above 20,000 items the run is
//!   skipped, not crashed.
//! - `naive-queue`: a producer sends every item into an unbounded crossbeam channel
//!   drained by one worker per CPU; the queue holds whatever the workers have not yet
//!   taken.
//!
//! TSV columns: `variant items peak_rss_kib peak_threads wall_ms note`; a value that
//! was not measured is `-` (skipped run) or `n/a` (no `/proc` on this system).

// The measuring support the showcase example uses too: one copy, in `examples/`.
#[path = "../../../examples/support/mod.rs"]
mod support;

use std::process::ExitCode;
use std::thread;

use bounded::par_bounded;
use support::{batches_of, lazy_items, Item, Live, Report, Run};

/// The contract's sizes (10^5 … 10^7), and two smaller ones at which a thread per item
/// can still run.
const DEFAULT_SIZES: [usize; 5] = [1_000, 10_000, 100_000, 1_000_000, 10_000_000];

/// Above this many items, `naive-threads` is not run (see the module docs).
const THREAD_CAP: usize = 20_000;

struct Variant {
    name: &'static str,
    run: fn(usize) -> Run,
    /// Runs on rayon's global pool (the `bounded` variants).
    rayon: bool,
}

const VARIANTS: &[Variant] = &[
    Variant {
        name: "bounded-vec",
        run: bounded_vec,
        rayon: true,
    },
    Variant {
        name: "bounded-pulled",
        run: bounded_pulled,
        rayon: true,
    },
    Variant {
        name: "bounded-pulled-sized",
        run: bounded_pulled_sized,
        rayon: true,
    },
    Variant {
        name: "naive-threads",
        run: naive_threads,
        rayon: false,
    },
    Variant {
        name: "naive-queue",
        run: naive_queue,
        rayon: false,
    },
];

// ---------------------------------------------------------------------------------
// The variants. Each times everything from the first item made to the last processed,
// and returns the sum of the items' digests (the same for every variant).

fn bounded_vec(n: usize) -> Run {
    let run = Run::time(|| {
        let items: Vec<Item> = (0..n as u64).map(Item::new).collect();
        let mut total = 0u64;
        par_bounded!(reduce(total: +), name = "vec"; for item in &items {
            total += item.digest();
        });
        total
    });
    let input_kib = n * std::mem::size_of::<Item>() / 1024;
    run.with_note(format!("input Vec {input_kib} KiB; {}", batches_of("vec")))
}

fn bounded_pulled(n: usize) -> Run {
    let run = Run::time(|| {
        let mut total = 0u64;
        par_bounded!(reduce(total: +), name = "pulled"; for item in lazy_items(n as u64) {
            total += item.digest();
        });
        total
    });
    run.with_note(batches_of("pulled"))
}

fn bounded_pulled_sized(n: usize) -> Run {
    let run = Run::time(|| {
        let mut total = 0u64;
        let items = (0..n as u64).map(Item::new);
        par_bounded!(reduce(total: +), name = "sized"; for item in items {
            total += item.digest();
        });
        total
    });
    run.with_note(batches_of("sized"))
}

fn naive_threads(n: usize) -> Run {
    let run = Run::time(|| {
        let handles: Vec<_> = (0..n as u64)
            .map(|id| {
                let item = Item::new(id);
                thread::spawn(move || {
                    let _live = Live::enter();
                    item.digest()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    run.with_note(format!("{n} threads spawned, each kept until joined"))
}

fn naive_queue(n: usize) -> Run {
    let mut backlog = 0;
    let run = Run::time(|| {
        let (tx, rx) = crossbeam_channel::unbounded::<Item>();
        thread::scope(|s| {
            let workers: Vec<_> = (0..bounded::available_cpus())
                .map(|_| {
                    let rx = rx.clone();
                    s.spawn(move || {
                        let _live = Live::enter();
                        rx.iter().map(|item| item.digest()).sum::<u64>()
                    })
                })
                .collect();
            for id in 0..n as u64 {
                tx.send(Item::new(id)).unwrap();
                if id % 1024 == 0 {
                    backlog = backlog.max(tx.len());
                }
            }
            drop(tx);
            workers.into_iter().map(|w| w.join().unwrap()).sum()
        })
    });
    run.with_note(format!("queue peaked at {backlog} items"))
}

// ---------------------------------------------------------------------------------
// The parent.

struct Options {
    sizes: Vec<usize>,
    tsv: bool,
}

const USAGE: &str = "\
usage: cargo run --release -p bounded-tools --bin memory -- [--tsv] [--items N[,N...]]

  --tsv            one line per run: variant items peak_rss_kib peak_threads wall_ms note
  --items N,...    input sizes (default 1000,10000,100000,1000000,10000000)
  --help           this text";

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        sizes: DEFAULT_SIZES.to_vec(),
        tsv: false,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--tsv" => options.tsv = true,
            "--items" | "-n" => {
                let list = args.next().ok_or("--items needs a value")?;
                options.sizes = list
                    .split(',')
                    .map(|s| support::parse_count(s.trim()))
                    .collect::<Result<_, _>>()?;
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(options)
}

/// One finished (or skipped) run.
struct Line {
    variant: &'static str,
    items: usize,
    rss_kib: String,
    threads: String,
    wall_ms: String,
    note: String,
}

fn measure(variant: &Variant, items: usize, expected: u64) -> Line {
    let mut line = Line {
        variant: variant.name,
        items,
        rss_kib: "-".into(),
        threads: "-".into(),
        wall_ms: "-".into(),
        note: String::new(),
    };
    if variant.name == "naive-threads" && items > THREAD_CAP {
        line.note = format!("skipped: OS thread limit ({items} threads > {THREAD_CAP})");
        return line;
    }
    let args = [
        "--child".to_owned(),
        variant.name.to_owned(),
        items.to_string(),
    ];
    match support::run_child(&args) {
        Ok(report) => {
            let na = |v: Option<u64>| v.map_or("n/a".to_owned(), |v| v.to_string());
            line.rss_kib = na(report.peak_rss_kib);
            line.threads = na(report.peak_threads);
            line.wall_ms = format!("{:.1}", report.wall.as_secs_f64() * 1e3);
            line.note = report.note;
            if report.answer != expected {
                line.note = format!("WRONG ANSWER {} (expected {expected})", report.answer);
            }
        }
        Err(why) => line.note = format!("failed: {why}"),
    }
    line
}

/// The answer every variant must give, computed sequentially in the parent.
fn expected_answer(items: usize) -> u64 {
    (0..items as u64).map(|id| Item::new(id).digest()).sum()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        return child(&args[1..]);
    }
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let options = match parse_args(&args) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("memory: {e}\n\n{USAGE}");
            return ExitCode::FAILURE;
        }
    };

    if !options.tsv {
        println!(
            "Peak memory per run ({} CPUs, each run in its own process, 64-byte items)\n",
            bounded::available_cpus()
        );
        println!("| variant | items | peak RSS (KiB) | peak threads | wall (ms) | note |");
        println!("|---|---:|---:|---:|---:|---|");
    }
    let mut ok = true;
    for &items in &options.sizes {
        let expected = expected_answer(items);
        for variant in VARIANTS {
            let line = measure(variant, items, expected);
            ok &= !line.note.starts_with("failed") && !line.note.starts_with("WRONG");
            if options.tsv {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    line.variant, line.items, line.rss_kib, line.threads, line.wall_ms, line.note
                );
            } else {
                println!(
                    "| {} | {} | {} | {} | {} | {} |",
                    line.variant,
                    support::fmt_items(line.items),
                    line.rss_kib,
                    line.threads,
                    line.wall_ms,
                    line.note
                );
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `--child VARIANT ITEMS`: one run, one report line.
fn child(args: &[String]) -> ExitCode {
    let [name, items] = args else {
        eprintln!("memory: --child needs VARIANT ITEMS");
        return ExitCode::FAILURE;
    };
    let (Some(variant), Ok(items)) = (VARIANTS.iter().find(|v| v.name == name), items.parse())
    else {
        eprintln!("memory: unknown variant `{name}`");
        return ExitCode::FAILURE;
    };
    if variant.rayon {
        support::start_counted_rayon_pool();
    }
    Report::measure(1, || (variant.run)(items)).emit();
    ExitCode::SUCCESS
}
