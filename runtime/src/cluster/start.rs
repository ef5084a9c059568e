//! Starting the cluster from the environment, and leaving it.

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crossbeam_channel::Sender;

use super::exchange::{self, Job, LoopJob};

/// Where this process stands in the cluster, read from the environment.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) processes: usize,
    pub(crate) process: usize,
    pub(crate) hosts: Vec<String>,
    pub(crate) workers: Option<usize>,
    pub(crate) timeout: Duration,
}

/// The default first port, as timely's own examples use.
pub(crate) const DEFAULT_PORT: u16 = 2101;

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn number(name: &str) -> Result<Option<usize>, String> {
    var(name)
        .map(|v| {
            v.trim()
                .parse::<usize>()
                .map_err(|_| format!("`{name}={v}` is not a number"))
        })
        .transpose()
}

impl Settings {
    pub(crate) fn from_env() -> Result<Self, String> {
        let processes = number("BOUNDED_PROCESSES")?.unwrap_or(1);
        if processes == 0 {
            return Err("`BOUNDED_PROCESSES=0`: a cluster has at least one process".into());
        }
        let process = number("BOUNDED_PROCESS")?.unwrap_or(0);
        if process >= processes {
            return Err(format!(
                "`BOUNDED_PROCESS={process}` is not one of the {processes} processes (0 … {})",
                processes - 1
            ));
        }
        let hosts: Vec<String> = match (var("BOUNDED_HOSTS"), var("BOUNDED_HOSTFILE")) {
            (Some(list), _) => list.split(',').map(|h| h.trim().to_string()).collect(),
            (None, Some(file)) => std::fs::read_to_string(&file)
                .map_err(|e| format!("`BOUNDED_HOSTFILE={file}` cannot be read: {e}"))?
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string)
                .collect(),
            (None, None) => (0..processes)
                .map(|p| format!("localhost:{}", DEFAULT_PORT as usize + p))
                .collect(),
        };
        if hosts.len() < processes {
            return Err(format!(
                "{processes} processes (BOUNDED_PROCESSES) but {} host(s) in BOUNDED_HOSTS or BOUNDED_HOSTFILE",
                hosts.len()
            ));
        }
        let workers = number("BOUNDED_WORKERS")?;
        if workers == Some(0) {
            return Err("`BOUNDED_WORKERS=0`: a process needs at least one worker".into());
        }
        let timeout = match var("BOUNDED_CONNECT_TIMEOUT") {
            Some(v) => Duration::from_secs_f64(
                v.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s > 0.0)
                    .ok_or_else(|| {
                        format!("`BOUNDED_CONNECT_TIMEOUT={v}` is not a positive number of seconds")
                    })?,
            ),
            None => Duration::from_secs(30),
        };
        Ok(Settings {
            processes,
            process,
            hosts: hosts.into_iter().take(processes).collect(),
            workers,
            timeout,
        })
    }
}

/// This process's membership of the running cluster.
pub(crate) struct Cluster {
    pub(crate) settings: Settings,
    /// Worker threads of this process: the lanes of its part of each loop run here.
    pub(crate) pool: &'static rayon::ThreadPool,
    pub(crate) workers: usize,
    jobs: Sender<Job>,
    worker: thread::Thread,
    /// Joins timely's threads once the worker stops.
    joined: Mutex<Option<thread::JoinHandle<()>>>,
}

static CLUSTER: Mutex<Option<Result<Arc<Cluster>, String>>> = Mutex::new(None);

/// The cluster, started by the first loop that asks (whose `limit` is the default
/// number of workers). An error is kept: a process whose cluster did not form fails
/// every `backend = timely` loop.
pub(crate) fn cluster(limit: usize) -> Result<Arc<Cluster>, String> {
    let mut slot = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(started) = &*slot {
        return started.clone();
    }
    let started = Settings::from_env()
        .and_then(|s| start(s, limit))
        .map(Arc::new);
    *slot = Some(started.clone());
    started
}

fn start(settings: Settings, limit: usize) -> Result<Cluster, String> {
    let workers = settings.workers.unwrap_or(limit).max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .thread_name(|i| format!("bounded-cluster-{i}"))
        .build()
        .map_err(|e| format!("the worker threads did not start: {e}"))?;
    let pool: &'static rayon::ThreadPool = Box::leak(Box::new(pool));
    let (jobs, inbox) = crossbeam_channel::unbounded::<Job>();
    let (ready, started) = crossbeam_channel::bounded::<Result<thread::Thread, String>>(1);
    let communication = if settings.processes == 1 {
        timely::CommunicationConfig::Thread
    } else {
        timely::CommunicationConfig::Cluster {
            threads: 1,
            process: settings.process,
            addresses: settings.hosts.clone(),
            report: false,
            zerocopy: false,
            log_fn: Arc::new(|_| None),
        }
    };
    let config = timely::Config {
        communication,
        worker: timely::WorkerConfig::default(),
    };
    let member = exchange::Member {
        process: settings.process,
        processes: settings.processes,
        timeout: settings.timeout,
    };
    // Timely connects every process before `execute` returns: on a thread of its own,
    // so that a peer that never comes is a timeout here, not a hang.
    let ready_for_worker = ready.clone();
    let joined = thread::Builder::new()
        .name("bounded-cluster".into())
        .spawn(move || {
            let guards = timely::execute(config, move |worker| {
                let _ = ready_for_worker.send(Ok(thread::current()));
                exchange::serve(worker, &member, &inbox);
            });
            match guards {
                Ok(guards) => drop(guards.join()),
                Err(e) => drop(ready.send(Err(e))),
            }
        })
        .map_err(|e| format!("the cluster's thread did not start: {e}"))?;
    match started.recv_timeout(settings.timeout) {
        Ok(Ok(worker)) => Ok(Cluster {
            settings,
            pool,
            workers,
            jobs,
            worker,
            joined: Mutex::new(Some(joined)),
        }),
        Ok(Err(e)) => Err(format!(
            "process {} of {} could not start the cluster at {}: {e}",
            settings.process, settings.processes, settings.hosts[settings.process]
        )),
        Err(_) => {
            let others: Vec<usize> = (0..settings.processes)
                .filter(|&p| p != settings.process)
                .collect();
            Err(format!(
                "process {} of {} could not connect to every peer within {:?} (BOUNDED_CONNECT_TIMEOUT): {} at {} did not all connect",
                settings.process,
                settings.processes,
                settings.timeout,
                exchange::processes(&others),
                others
                    .iter()
                    .map(|&p| settings.hosts[p].as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            ))
        }
    }
}

impl Cluster {
    /// Hands a loop to the worker.
    pub(crate) fn submit(&self, job: LoopJob) {
        let _ = self.jobs.send(Job::Loop(job));
        self.worker.unpark();
    }

    /// Wakes the worker (a local result is ready).
    pub(crate) fn wake(&self) {
        self.worker.unpark();
    }

    /// The worker's thread, to wake it.
    pub(crate) fn worker(&self) -> &thread::Thread {
        &self.worker
    }
}

/// Ends this process's membership: the worker stops and timely closes its connections
/// once every process has done the same, so no peer sees a connection drop. Call it
/// (or drop the [`Role::Member`] of [`run_local`]) after the last `backend = timely`
/// loop; a process that exits without it is noticed as gone by peers still running.
/// Waits at most the connect timeout; does nothing without a cluster.
pub fn shutdown() {
    let cluster = match &*CLUSTER.lock().unwrap_or_else(|e| e.into_inner()) {
        Some(Ok(c)) => Arc::clone(c),
        _ => return,
    };
    let _ = cluster.jobs.send(Job::Stop);
    cluster.worker.unpark();
    let handle = cluster
        .joined
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    if let Some(handle) = handle {
        let (done, waited) = crossbeam_channel::bounded::<()>(1);
        let _ = thread::Builder::new().spawn(move || {
            let _ = handle.join();
            let _ = done.send(());
        });
        let _ = waited.recv_timeout(cluster.settings.timeout);
    }
}

/// The message of a panic payload (`&str` or `String`), for re-raising elsewhere.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a payload that is not a string".to_string()
    }
}
