//! The progress bar on a real terminal: `examples/progress.rs` run under a
//! pseudo-terminal (util-linux `script`), and with stderr redirected to a file.
#![cfg(feature = "progress")]

use std::path::PathBuf;
use std::process::Command;

/// `target/<profile>/examples/progress`, built (or brought up to date) first.
fn example() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let profile_dir = exe.parent()?.parent()?;
    let path = profile_dir.join("examples").join("progress");
    {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--example", "progress", "--features", "progress"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .ok()?;
        assert!(status.success(), "building examples/progress.rs failed");
    }
    path.exists().then_some(path)
}

/// Runs `command` under a pseudo-terminal; `None` without `script`.
fn under_terminal(command: &str) -> Option<String> {
    let out = Command::new("script")
        .args(["-qfec", command, "/dev/null"])
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "`{command}` failed under script: {out:?}"
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn has_script() -> bool {
    let found = Command::new("script").arg("--version").output().is_ok();
    if !found {
        eprintln!("skipped: util-linux `script` is not installed (apt-get install bsdutils)");
    }
    found
}

#[test]
fn draws_a_bar_that_ends_at_done_over_total() {
    if !has_script() {
        return;
    }
    let Some(example) = example() else {
        eprintln!("skipped: examples/progress could not be built");
        return;
    };
    let screen = under_terminal(&example.display().to_string()).expect("script runs");
    assert!(
        screen.contains("total = 119400"),
        "the loop ran: {screen:?}"
    );
    // Each redraw returns to the line's start and clears it.
    let frames: Vec<&str> = screen
        .split('\r')
        .filter(|f| f.contains("resize ["))
        .collect();
    assert!(frames.len() >= 3, "the bar updates: {screen:?}");
    let positions: Vec<u64> = frames
        .iter()
        .filter_map(|f| {
            let (done, _) = f.split_once("/200 items")?;
            done.rsplit(' ').next()?.parse().ok()
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] <= w[1]),
        "counts never go back: {positions:?}"
    );
    assert!(positions.iter().any(|&p| 0 < p && p < 200), "{positions:?}");
    let last = frames.last().unwrap();
    assert!(
        last.contains("200/200 items"),
        "ends at done/total: {last:?}"
    );
    assert!(last.contains("done"), "{last:?}");
    // The async loop after it draws its own bar, ending at done/total.
    let fetch = screen
        .split('\r')
        .rfind(|f| f.contains("fetch ["))
        .expect("the async loop's bar");
    assert!(
        fetch.contains("200/200 items") && fetch.contains("done"),
        "{fetch:?}"
    );
    // Only the outermost loop draws: no frame of the nested loops.
    assert!(
        !screen.contains("/4 items"),
        "a nested bar was drawn: {screen:?}"
    );
}

#[test]
fn draws_nothing_when_stderr_is_a_file() {
    if !has_script() {
        return;
    }
    let Some(example) = example() else {
        eprintln!("skipped: examples/progress could not be built");
        return;
    };
    let dir = std::env::temp_dir().join(format!("bounded-progress-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("stderr.txt");
    // stdout stays a terminal; stderr, where the bar would go, is a file.
    let screen =
        under_terminal(&format!("{} 2>{}", example.display(), log.display())).expect("script runs");
    assert!(screen.contains("total = 119400"), "{screen:?}");
    assert!(!screen.contains("items"), "{screen:?}");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert_eq!(logged, "", "nothing is drawn into a file");
    let _ = std::fs::remove_dir_all(&dir);
}
