//! `limit = cpus` under a real cgroup CPU quota: the test creates a cgroup limited to
//! one CPU (`cpu.max = 100000 100000` on cgroup v2; `cpu.cfs_quota_us` on a v1 `cpu`
//! hierarchy where the v2 tree has no `cpu` controller), moves a re-executed copy of
//! this test binary into it, and checks there that `available_cpus()` is 1, that a
//! `limit = cpus` loop runs one lane, and that `cpus * 2` gives two. The cgroup is
//! removed afterwards.
//!
//! Where no cgroup can be created (no permission, no `cpu` controller), the test says
//! so on stderr, past the harness's capture, and passes.

use bounded::{available_cpus, par_bounded};
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Set in the re-executed child, which then plays its part instead.
const CHILD: &str = "BOUNDED_CGROUP_CHILD";

const TEST: &str = "limit_cpus_follows_a_real_cgroup_quota";

#[test]
fn limit_cpus_follows_a_real_cgroup_quota() {
    if std::env::var_os(CHILD).is_some() {
        return child();
    }
    let group = match OneCpu::create() {
        Ok(group) => group,
        Err(why) => {
            skip(&why);
            return;
        }
    };
    let mut child = Running(
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
            .env(CHILD, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("re-execute the test binary"),
    );
    let pid = child.0.id();
    if let Err(e) = fs::write(group.dir.join("cgroup.procs"), pid.to_string()) {
        skip(&format!(
            "could not move a process into {} ({e})",
            group.dir.display()
        ));
        return;
    }
    // The child reads nothing about its CPUs before this line.
    writeln!(child.0.stdin.take().unwrap(), "go").unwrap();
    // Read the child's output to its end before waiting: closing the pipe early
    // would fail the child's harness on its last lines with a broken pipe.
    let out: Vec<String> = BufReader::new(child.0.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .collect();
    let result = out
        .iter()
        .find_map(|l| l.split_once("RESULT ").map(|(_, r)| r.to_owned()))
        .unwrap_or_else(|| panic!("the child reports its figures; it printed {out:#?}"));
    let status = child.0.wait().unwrap();
    assert!(status.success(), "the child failed: {status}");
    let figure = |key: &str| -> usize {
        result
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no `{key}` in {result:?}"))
    };
    println!(
        "{} ({}): {result}; outside it, available_cpus() = {}",
        group.dir.display(),
        group.kind,
        available_cpus()
    );
    assert_eq!(
        figure("cpus"),
        1,
        "available_cpus() inside a one-CPU cgroup"
    );
    assert_eq!(figure("lanes"), 1, "`limit = cpus` runs one lane there");
    assert_eq!(figure("peak"), 1);
    assert_eq!(
        figure("lanes2"),
        2,
        "`limit = cpus * 2` runs two lanes there"
    );
    assert!(figure("peak2") <= 2);
}

/// The child's part: wait until the parent moved it, then report.
fn child() {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    let cpus = available_cpus();
    let xs: Vec<u64> = (0..64).collect();
    par_bounded!(limit = cpus, batch = 1, name = "cgroup-cpus"; for x in &xs {
        std::thread::sleep(Duration::from_micros(200));
        std::hint::black_box(x);
    });
    let one = bounded::stats::last_run("cgroup-cpus").unwrap();
    par_bounded!(limit = cpus * 2, batch = 1, backend = pool, name = "cgroup-cpus-2"; for x in &xs {
        std::thread::sleep(Duration::from_micros(200));
        std::hint::black_box(x);
    });
    let two = bounded::stats::last_run("cgroup-cpus-2").unwrap();
    println!(
        "RESULT cpus={cpus} lanes={} peak={} lanes2={} peak2={}",
        one.lanes, one.peak_running, two.lanes, two.peak_running
    );
}

/// Says why the test did not run, on the terminal even while the harness captures
/// output.
fn skip(why: &str) {
    let _ = writeln!(
        std::io::stderr().lock(),
        "cgroup_cpus: skipped, no one-CPU cgroup could be made: {why}"
    );
}

/// The child process, killed if the test fails before it exits (so its cgroup can go).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A cgroup with a quota of one CPU, removed on drop.
struct OneCpu {
    dir: PathBuf,
    kind: &'static str,
}

impl OneCpu {
    fn create() -> Result<Self, String> {
        let name = format!("bounded-cpus-{}", std::process::id());
        let v2 = match own_cgroup(Hierarchy::V2) {
            Some(parent) => Self::v2(&parent, &name),
            None => Err("no cgroup v2 hierarchy".into()),
        };
        v2.or_else(|v2_why| match own_cgroup(Hierarchy::V1Cpu) {
            Some(parent) => {
                let group = Self::v1(&parent, &name)
                    .map_err(|v1_why| format!("cgroup v2: {v2_why}; cgroup v1 `cpu`: {v1_why}"))?;
                println!("cgroup v2 not used: {v2_why}");
                Ok(group)
            }
            None => Err(format!("cgroup v2: {v2_why}; no cgroup v1 `cpu` hierarchy")),
        })
    }

    fn v2(parent: &Path, name: &str) -> Result<Self, String> {
        let controllers = fs::read_to_string(parent.join("cgroup.controllers"))
            .map_err(|e| format!("{}: {e}", parent.display()))?;
        if !controllers.split_whitespace().any(|c| c == "cpu") {
            return Err(format!(
                "{} offers no `cpu` controller (it has: {:?})",
                parent.display(),
                controllers.trim()
            ));
        }
        let subtree = parent.join("cgroup.subtree_control");
        let enabled = fs::read_to_string(&subtree).unwrap_or_default();
        if !enabled.split_whitespace().any(|c| c == "cpu") {
            fs::write(&subtree, "+cpu")
                .map_err(|e| format!("enabling `cpu` in {}: {e}", subtree.display()))?;
        }
        let dir = parent.join(name);
        fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let group = OneCpu {
            dir,
            kind: "cgroup v2, cpu.max = 100000 100000",
        };
        fs::write(group.dir.join("cpu.max"), "100000 100000")
            .map_err(|e| format!("cpu.max: {e}"))?;
        Ok(group)
    }

    fn v1(parent: &Path, name: &str) -> Result<Self, String> {
        let dir = parent.join(name);
        fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let group = OneCpu {
            dir,
            kind: "cgroup v1 cpu, cfs_quota_us = cfs_period_us = 100000",
        };
        fs::write(group.dir.join("cpu.cfs_period_us"), "100000")
            .and_then(|()| fs::write(group.dir.join("cpu.cfs_quota_us"), "100000"))
            .map_err(|e| format!("cpu.cfs_quota_us: {e}"))?;
        Ok(group)
    }
}

impl Drop for OneCpu {
    fn drop(&mut self) {
        // The child has exited (or been killed): the group is empty and can go.
        for _ in 0..50 {
            if fs::remove_dir(&self.dir).is_ok() || !self.dir.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = writeln!(
            std::io::stderr().lock(),
            "cgroup_cpus: could not remove {}",
            self.dir.display()
        );
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Hierarchy {
    V2,
    V1Cpu,
}

/// The directory of this process's own cgroup in `hierarchy`, from `/proc/self/cgroup`
/// and the mount table.
fn own_cgroup(hierarchy: Hierarchy) -> Option<PathBuf> {
    let cgroups = fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = cgroups.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let wanted = match hierarchy {
            Hierarchy::V2 => controllers.is_empty(),
            Hierarchy::V1Cpu => controllers.split(',').any(|c| c == "cpu"),
        };
        wanted.then(|| path.to_owned())
    })?;
    let mounts = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mount = mounts.lines().find_map(|l| {
        // `ID PARENT MAJ:MIN ROOT MOUNT OPTIONS... - FSTYPE SOURCE SUPER_OPTIONS`
        let (left, right) = l.split_once(" - ")?;
        let mut left = left.split_whitespace();
        let (root, mount_point) = (left.nth(3)?, left.next()?);
        let mut right = right.split_whitespace();
        let (fstype, super_options) = (right.next()?, right.nth(1).unwrap_or(""));
        let wanted = match hierarchy {
            Hierarchy::V2 => fstype == "cgroup2",
            Hierarchy::V1Cpu => fstype == "cgroup" && super_options.split(',').any(|o| o == "cpu"),
        };
        wanted.then(|| (root.to_owned(), PathBuf::from(mount_point)))
    })?;
    // The mount shows the hierarchy from `root` down.
    let (root, mount) = mount;
    let inside = path.strip_prefix(root.as_str()).unwrap_or(&path);
    Some(mount.join(inside.trim_start_matches('/')))
}
