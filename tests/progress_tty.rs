//! Progress bars on a real terminal: `examples/progress.rs` run under a pseudo-terminal
//! (util-linux `script`), and with stderr redirected to a file. What the bars wrote is
//! replayed on a small terminal model (cursor moves and line clears), so the tests see
//! the screen a user sees, frame by frame, and how it is left.
#![cfg(feature = "progress")]

#[path = "common/faults.rs"]
mod faults;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use bounded::par_bounded;
use faults::{Ledger, Probe, Rng};

/// `target/<profile>/examples/NAME`, built (or brought up to date) first.
fn example(name: &str, release: bool) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let target_dir = exe.parent()?.parent()?.parent()?;
    let profile = if release { "release" } else { "debug" };
    let path = target_dir.join(profile).join("examples").join(name);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "--example", name]);
    if release {
        build.arg("--release");
    }
    let status = build
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .ok()?;
    assert!(status.success(), "building examples/{name}.rs failed");
    path.exists().then_some(path)
}

/// The pseudo-terminal's size (`stty` sets it, [`Screen`] wraps lines at its width): wide
/// enough for a row of the showcase's table.
const COLUMNS: usize = 240;
const ROWS: usize = 40;

/// Runs `command` under a pseudo-terminal of `COLUMNS` × `ROWS`; what it wrote to the
/// terminal.
fn under_terminal(command: &str) -> String {
    let sized = format!("stty cols {COLUMNS} rows {ROWS}; {command}");
    let out = Command::new("script")
        .args(["-qfec", &sized, "/dev/null"])
        .output()
        .expect("script runs");
    assert!(
        out.status.success(),
        "`{command}` failed under script: {out:?}"
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn has_script() -> bool {
    let found = Command::new("script").arg("--version").output().is_ok();
    if !found {
        eprintln!("skipped: util-linux `script` is not installed (apt-get install bsdutils)");
    }
    found
}

/// A terminal's text, replayed from what was written to it: printable characters
/// (wrapping at `COLUMNS`, after the last column is written, as terminals do), `\r`,
/// `\n`, and the escape sequences `indicatif` uses (cursor up and down, clear line,
/// clear to the end of the screen); colours and cursor visibility are ignored.
/// `frames` holds the screen as it was before each redraw (each cursor-up or `\r`).
#[derive(Default)]
struct Screen {
    lines: Vec<String>,
    row: usize,
    col: usize,
    frames: Vec<Vec<String>>,
}

impl Screen {
    fn replay(text: &str) -> Screen {
        let mut s = Screen {
            lines: vec![String::new()],
            ..Screen::default()
        };
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\r' => {
                    s.snapshot();
                    s.col = 0;
                }
                '\n' => {
                    s.row += 1;
                    s.col = 0;
                    s.line();
                }
                '\x1b' if chars.peek() == Some(&'[') => {
                    chars.next();
                    let mut params = String::new();
                    let mut end = ' ';
                    for c in chars.by_ref() {
                        if c.is_ascii_alphabetic() || c == '~' {
                            end = c;
                            break;
                        }
                        params.push(c);
                    }
                    let n: usize = params.trim_start_matches('?').parse().unwrap_or(0);
                    match end {
                        'A' => {
                            s.snapshot();
                            s.row = s.row.saturating_sub(n.max(1));
                            s.col = s.col.min(COLUMNS - 1);
                        }
                        'B' => {
                            s.row += n.max(1);
                            s.col = s.col.min(COLUMNS - 1);
                            s.line();
                        }
                        'G' => s.col = n.saturating_sub(1),
                        'K' => {
                            let col = s.col;
                            let line = s.line();
                            match n {
                                2 => line.clear(),
                                _ => {
                                    let keep: String = line.chars().take(col).collect();
                                    *line = keep;
                                }
                            }
                        }
                        'J' => {
                            let col = s.col;
                            let line = s.line();
                            let keep: String = line.chars().take(col).collect();
                            *line = keep;
                            s.lines.truncate(s.row + 1);
                        }
                        _ => {}
                    }
                }
                c if !c.is_control() => {
                    if s.col >= COLUMNS {
                        s.row += 1;
                        s.col = 0;
                    }
                    let col = s.col;
                    let line = s.line();
                    let mut cells: Vec<char> = line.chars().collect();
                    while cells.len() < col {
                        cells.push(' ');
                    }
                    if col < cells.len() {
                        cells[col] = c;
                    } else {
                        cells.push(c);
                    }
                    *line = cells.into_iter().collect();
                    s.col += 1;
                }
                _ => {}
            }
        }
        s
    }

    fn line(&mut self) -> &mut String {
        while self.lines.len() <= self.row {
            self.lines.push(String::new());
        }
        &mut self.lines[self.row]
    }

    fn snapshot(&mut self) {
        let visible: Vec<String> = self
            .lines
            .iter()
            .map(|l| l.trim_end().to_string())
            .collect();
        if self.frames.last() != Some(&visible) {
            self.frames.push(visible);
        }
    }

    /// The lines now, without trailing blanks and empty lines.
    fn text(&self) -> Vec<&str> {
        self.lines
            .iter()
            .map(|l| l.trim_end())
            .filter(|l| !l.is_empty())
            .collect()
    }
}

fn count(frame: &[String], prefix: &str) -> usize {
    frame.iter().filter(|l| l.starts_with(prefix)).count()
}

/// `done` in `"… done/total items …"`.
fn position(line: &str, total: u64) -> Option<u64> {
    let (done, _) = line.split_once(&format!("/{total} items"))?;
    done.rsplit(' ').next()?.parse().ok()
}

#[test]
fn bars_nest_and_end_clean() {
    if !has_script() {
        return;
    }
    let Some(example) = example("progress", false) else {
        eprintln!("skipped: examples/progress could not be built");
        return;
    };
    let written = under_terminal(&example.display().to_string());
    let screen = Screen::replay(&written);
    let text = screen.text();
    assert!(text.contains(&"total = 119400"), "the loop ran: {text:#?}");
    assert!(text.contains(&"sizes = 47610"), "{text:#?}");

    // The flat loop's bar moves, and counts never go back.
    let resize: Vec<u64> = screen
        .frames
        .iter()
        .flat_map(|f| f.iter().filter(|l| l.starts_with("resize [")))
        .filter_map(|l| position(l, 200))
        .collect();
    assert!(resize.len() >= 3, "the bar updates: {resize:?}");
    assert!(resize.windows(2).all(|w| w[0] <= w[1]), "{resize:?}");
    assert!(resize.iter().any(|&p| 0 < p && p < 200), "{resize:?}");
    // Its four-item inner loops end at once: they never drew.
    assert!(
        !written.contains("/4 items"),
        "a short nested loop drew: {text:#?}"
    );

    // While the albums run, their photo loops draw under the albums' bar, indented,
    // two at a time at most (the outer limit), never a second albums bar.
    let mut both = 0;
    let mut two_children = false;
    for frame in &screen.frames {
        let albums = count(frame, "albums [");
        let photos = count(frame, "  photos [");
        assert!(albums <= 1, "two albums bars: {frame:#?}");
        assert!(
            photos <= 2,
            "more photo bars than loops running: {frame:#?}"
        );
        if albums == 1 && photos >= 1 {
            let at = frame
                .iter()
                .position(|l| l.starts_with("albums ["))
                .unwrap();
            assert!(
                frame[at + 1..].iter().any(|l| l.starts_with("  photos [")),
                "children under their parent: {frame:#?}"
            );
            both += 1;
            two_children |= photos == 2;
        }
    }
    assert!(both >= 2, "frames with both levels: {both}");
    assert!(two_children, "two inner loops at once, each with its bar");

    // And the screen is left clean: each root bar once, in its final state; no child.
    for (label, total) in [("resize [", 200), ("albums [", 6), ("fetch [", 200)] {
        let finals: Vec<&&str> = text.iter().filter(|l| l.starts_with(label)).collect();
        assert_eq!(finals.len(), 1, "{label} left once: {text:#?}");
        assert!(
            finals[0].contains(&format!("{total}/{total} items")) && finals[0].ends_with("done"),
            "{finals:?}"
        );
    }
    assert!(
        !text.iter().any(|l| l.contains("photos")),
        "a finished child bar stayed: {text:#?}"
    );
}

#[test]
fn draws_nothing_when_stderr_is_a_file() {
    if !has_script() {
        return;
    }
    let Some(example) = example("progress", false) else {
        eprintln!("skipped: examples/progress could not be built");
        return;
    };
    let dir = std::env::temp_dir().join(format!("bounded-progress-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("stderr.txt");
    // stdout stays a terminal; stderr, where the bars would go, is a file.
    let screen = under_terminal(&format!("{} 2>{}", example.display(), log.display()));
    assert!(screen.contains("total = 119400"), "{screen:?}");
    assert!(screen.contains("sizes = 47610"), "{screen:?}");
    assert!(!screen.contains("items"), "{screen:?}");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert_eq!(logged, "", "nothing is drawn into a file");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The showcase, built as `cargo run --release --example showcase` builds it (no
/// `--features`), shows a live bar for its longest scenario, `skew`, and leaves the
/// table whole.
#[test]
fn the_showcase_draws_a_live_bar() {
    if !has_script() {
        return;
    }
    let Some(showcase) = example("showcase", true) else {
        eprintln!("skipped: examples/showcase could not be built");
        return;
    };
    // Long enough on any machine for the bar to show and move (on two CPUs, the
    // scenario's own size already runs about half a second).
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let items = 20_000 * (cpus / 2).max(1);
    let written = under_terminal(&format!(
        "{} --scenario skew --reps 1 --items {items}",
        showcase.display()
    ));
    let screen = Screen::replay(&written);
    let text = screen.text();
    let moving: Vec<u64> = screen
        .frames
        .iter()
        .flat_map(|f| f.iter().filter(|l| l.starts_with("skew/guided [")))
        .filter_map(|l| position(l, items as u64))
        .collect();
    assert!(
        moving.iter().any(|&p| 0 < p && p < items as u64),
        "a live frame: {moving:?} in {text:#?}"
    );
    assert!(moving.windows(2).all(|w| w[0] <= w[1]), "{moving:?}");
    let row = text
        .iter()
        .find(|l| l.contains("the same, with a progress bar"))
        .unwrap_or_else(|| panic!("the row: {text:#?}"));
    assert!(row.contains("bar drawn on stderr"), "{row}");
    // One run, one bar left in its final state; every other row of the table intact.
    let finals: Vec<&&str> = text
        .iter()
        .filter(|l| l.starts_with("skew/guided ["))
        .collect();
    assert_eq!(finals.len(), 1, "{text:#?}");
    assert!(
        finals[0].contains(&format!("{items}/{items} items")) && finals[0].ends_with("done"),
        "{finals:?}"
    );
    let rows = text.iter().filter(|l| l.starts_with("| skew ")).count();
    assert_eq!(rows, 8, "the scenario's rows: {text:#?}");
}

/// Set in the environment of [`program_nested_faults`] when
/// [`child_bars_survive_faults`] runs it under a terminal.
const PROGRAM: &str = "BOUNDED_PROGRESS_TTY_PROGRAM";

/// The program [`child_bars_survive_faults`] runs under a terminal (this test binary,
/// re-executed with `PROGRAM` set); without it, this returns at once. Eight albums, two
/// at a time, each a loop with a bar of its own over 40 owned photos: one album in
/// four completes, one panics, one fails, one breaks, at an item a seed picks; the
/// first album's body also starts an unrelated loop with a bar on a thread of its own.
#[test]
fn program_nested_faults() {
    let Some(seed) = std::env::var_os(PROGRAM) else {
        return;
    };
    let seed: u64 = seed.to_str().and_then(|s| s.parse().ok()).unwrap_or(1);
    // The panics are the test's own: their messages would only clutter the screen.
    std::panic::set_hook(Box::new(|_| {}));
    const PHOTOS: usize = 40;
    let ledger = Ledger::leak(8 * PHOTOS);
    let albums: Vec<usize> = (0..8).collect();
    let mut rng = Rng(seed);
    let at: Vec<usize> = albums.iter().map(|_| rng.range(10, 39)).collect();
    let mut outcomes = 0usize;
    par_bounded!(limit = 2, batch = 1, progress = "albums", reduce(outcomes: +); for album in &albums {
        let photos: Vec<faults::Tracked> =
            (0..PHOTOS).map(|i| ledger.make(album * PHOTOS + i)).collect();
        let probe = Probe::default();
        let fail_at = at[*album];
        if *album == 0 {
            // Not a lane of this loop: a root of its own, which must not draw while
            // the albums' bar is showing.
            std::thread::scope(|s| {
                s.spawn(|| {
                    let xs: Vec<u64> = (0..40).collect();
                    par_bounded!(limit = 2, batch = 1, progress = "orphan"; for _x in &xs {
                        std::thread::sleep(Duration::from_millis(2));
                    });
                });
            });
        }
        let ran = catch_unwind(AssertUnwindSafe(|| -> Result<usize, String> {
            let mut bytes = 0usize;
            par_bounded!(limit = 2, batch = 1, progress = "photos", reduce(bytes: +); for photo in photos {
                let _running = probe.enter();
                std::thread::sleep(Duration::from_millis(3));
                if photo.id % PHOTOS == fail_at {
                    match album % 4 {
                        1 => panic!("photo {} panicked", photo.id),
                        2 => return Err(format!("photo {} failed", photo.id)),
                        3 => break,
                        _ => {}
                    }
                }
                bytes += photo.text().len();
            });
            Ok(bytes)
        }));
        assert!(probe.peak() <= 2, "album {album}: {} photos at once", probe.peak());
        let expected = match album % 4 {
            0 => matches!(ran, Ok(Ok(_))),
            1 => ran.is_err(),
            2 => matches!(ran, Ok(Err(_))),
            _ => matches!(ran, Ok(Ok(_))),
        };
        assert!(expected, "album {album} ended as it should not");
        outcomes += 1;
    });
    assert_eq!(outcomes, 8);
    ledger.assert_once("every photo dropped once");
    println!("nested faults: done");
}

/// Child bars under panics, errors and breaks of their loops, with a loop on a
/// thread of its own trying to draw beside them: the program ends (a watchdog turns a
/// hang into a failure), drops every item once, never draws two albums bars, more
/// photo bars than loops running, or the unrelated loop's bar, and leaves only the
/// albums' final bar.
#[test]
fn child_bars_survive_faults() {
    if !has_script() || std::env::var_os(PROGRAM).is_some() {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    for seed in [1u64, 2, 3] {
        let command = format!(
            "stty cols {COLUMNS} rows {ROWS}; {PROGRAM}={seed} {} program_nested_faults --exact --nocapture --test-threads 1",
            exe.display()
        );
        let mut child = Command::new("script")
            .args(["-qfec", &command, "/dev/null"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("script runs");
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > Duration::from_secs(120) {
                let _ = child.kill();
                panic!("seed {seed}: the program hung");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut written = String::new();
        std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut written).unwrap();
        assert!(status.success(), "seed {seed}: {written}");
        let screen = Screen::replay(&written);
        let text = screen.text();
        assert!(
            text.iter().any(|l| l.contains("nested faults: done")),
            "seed {seed}: {text:#?}"
        );
        assert!(
            !written.contains("orphan"),
            "an unrelated root drew: {text:#?}"
        );
        let mut both = false;
        for frame in &screen.frames {
            assert!(count(frame, "albums [") <= 1, "{frame:#?}");
            assert!(count(frame, "  photos [") <= 2, "{frame:#?}");
            both |= count(frame, "albums [") == 1 && count(frame, "  photos [") >= 1;
        }
        assert!(both, "seed {seed}: no frame with both levels");
        let finals: Vec<&&str> = text.iter().filter(|l| l.starts_with("albums [")).collect();
        assert_eq!(finals.len(), 1, "{text:#?}");
        assert!(
            finals[0].contains("8/8 items") && finals[0].ends_with("done"),
            "{finals:?}"
        );
        assert!(
            !text.iter().any(|l| l.contains("photos")),
            "a child bar stayed: {text:#?}"
        );
    }
}
