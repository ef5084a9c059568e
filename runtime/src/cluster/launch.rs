//! [`run_local`]: a cluster of local processes started by the program itself.
//!
//! The launcher re-runs its own executable `n` times with the cluster's environment
//! and waits; each copy is a member, which [`Launch::run`] tells by
//! `BOUNDED_PROCESS` being set, and goes on with the program. Under `cargo test` the
//! copy is the same test binary, run with the test's own name as an exact filter
//! (libtest names a test's thread after the test), so each member runs that test alone.

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::start::DEFAULT_PORT;

/// Which side of [`run_local`] this process is on.
#[derive(Debug)]
pub enum Role {
    /// The process that started the members; they have all ended.
    Launcher(Launched),
    /// One of the members: the program goes on. Dropping it ends this process's
    /// membership cleanly ([`shutdown`](super::shutdown)).
    Member(Member),
}

/// A member of a cluster; dropping it calls [`shutdown`](super::shutdown).
#[derive(Debug)]
pub struct Member {
    /// This process's index.
    pub process: usize,
}

impl Drop for Member {
    fn drop(&mut self) {
        super::start::shutdown();
    }
}

/// How the members of a local cluster ended.
#[derive(Debug)]
pub struct Launched {
    /// One entry per process, in process order.
    pub members: Vec<MemberOutput>,
}

/// One member's exit status and output.
#[derive(Debug)]
pub struct MemberOutput {
    /// `None` when the member was killed at the launch's deadline.
    pub status: Option<ExitStatus>,
    /// What it wrote to stdout.
    pub stdout: String,
    /// What it wrote to stderr.
    pub stderr: String,
}

impl Launched {
    /// Whether every member exited successfully.
    pub fn success(&self) -> bool {
        self.members
            .iter()
            .all(|m| m.status.is_some_and(|s| s.success()))
    }
}

/// A local cluster to start: [`run_local`] with the defaults, or with a port, a
/// deadline, a connect timeout and extra environment for the members.
///
/// ```no_run
/// use bounded_runtime::cluster::{Launch, Role};
/// match Launch::new(2).workers(1).port(23000).run() {
///     Role::Launcher(done) => assert!(done.success()),
///     Role::Member(_member) => { /* the program's loops */ }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Launch {
    processes: usize,
    workers: usize,
    port: u16,
    deadline: Option<Duration>,
    connect_timeout: Option<f64>,
    env: Vec<(String, String)>,
    only: Option<Vec<usize>>,
}

impl Launch {
    /// `processes` local processes of one worker each, from port 2101.
    pub fn new(processes: usize) -> Self {
        Launch {
            processes,
            workers: 1,
            port: DEFAULT_PORT,
            deadline: None,
            connect_timeout: None,
            env: Vec::new(),
            only: None,
        }
    }

    /// Worker threads per process (`BOUNDED_WORKERS`).
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// The first port: process `i` listens on `port + i` of localhost.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Kills the members still running after `deadline` (their status is then `None`).
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// `BOUNDED_CONNECT_TIMEOUT` for the members.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout.as_secs_f64());
        self
    }

    /// An environment variable for every member.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Starts only these processes of the cluster (the others never come): for
    /// testing what a missing process does to the rest.
    pub fn only(mut self, processes: &[usize]) -> Self {
        self.only = Some(processes.to_vec());
        self
    }

    /// In a member (`BOUNDED_PROCESS` is set): returns [`Role::Member`] at once. In the
    /// launcher: starts the members, waits for them, and returns [`Role::Launcher`].
    ///
    /// # Panics
    ///
    /// If the executable cannot be re-run.
    #[track_caller]
    pub fn run(self) -> Role {
        if let Some(p) = std::env::var_os("BOUNDED_PROCESS") {
            let process = p.to_string_lossy().trim().parse().unwrap_or(0);
            return Role::Member(Member { process });
        }
        let exe = std::env::current_exe()
            .unwrap_or_else(|e| panic!("bounded: run_local cannot find its executable: {e}"));
        let args = member_args();
        let hosts: Vec<String> = (0..self.processes)
            .map(|p| format!("127.0.0.1:{}", self.port as usize + p))
            .collect();
        let started = Instant::now();
        let mut running = Vec::new();
        for p in 0..self.processes {
            if self.only.as_ref().is_some_and(|only| !only.contains(&p)) {
                continue;
            }
            let mut command = Command::new(&exe);
            command
                .args(&args)
                .env("BOUNDED_PROCESSES", self.processes.to_string())
                .env("BOUNDED_PROCESS", p.to_string())
                .env("BOUNDED_HOSTS", hosts.join(","))
                .env("BOUNDED_WORKERS", self.workers.to_string())
                .env_remove("BOUNDED_HOSTFILE")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            if let Some(t) = self.connect_timeout {
                command.env("BOUNDED_CONNECT_TIMEOUT", t.to_string());
            }
            for (k, v) in &self.env {
                command.env(k, v);
            }
            let mut child = command
                .spawn()
                .unwrap_or_else(|e| panic!("bounded: run_local cannot start process {p}: {e}"));
            let out = reader(child.stdout.take());
            let err = reader(child.stderr.take());
            running.push((child, out, err));
        }
        let mut members = Vec::new();
        for (mut child, out, err) in running {
            let status = loop {
                match child.try_wait() {
                    Ok(Some(status)) => break Some(status),
                    Ok(None) => {}
                    Err(_) => break None,
                }
                if self.deadline.is_some_and(|d| started.elapsed() >= d) {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                thread::sleep(Duration::from_millis(10));
            };
            members.push(MemberOutput {
                status,
                stdout: out.join().unwrap_or_default(),
                stderr: err.join().unwrap_or_default(),
            });
        }
        Role::Launcher(Launched { members })
    }
}

fn reader(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
        text
    })
}

/// The members' arguments: under libtest (whose test threads are named after their
/// test), that test alone; otherwise the launcher's own arguments.
fn member_args() -> Vec<String> {
    match thread::current().name() {
        Some(name) if name != "main" => vec![
            name.to_string(),
            "--exact".into(),
            "--nocapture".into(),
            "--test-threads=1".into(),
        ],
        _ => std::env::args().skip(1).collect(),
    }
}

/// Runs the current executable as `processes` local processes with `workers` worker
/// threads each, and waits for them: [`Launch::new`]`(processes).workers(workers).run()`.
///
/// ```no_run
/// use bounded_runtime::cluster::{run_local, Role};
/// let _member = match run_local(2, 1) {
///     Role::Launcher(done) => std::process::exit(if done.success() { 0 } else { 1 }),
///     Role::Member(member) => member,
/// };
/// // … the program's `backend = timely` loops, on every process
/// ```
#[track_caller]
pub fn run_local(processes: usize, workers: usize) -> Role {
    Launch::new(processes).workers(workers).run()
}
