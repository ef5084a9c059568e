//! The cluster's timely worker: one per process, started with the cluster, running one
//! small dataflow per loop that broadcasts two messages from each process — which loop
//! it reached, then its result — and hands every process's result back.
//!
//! Only bytes (`Vec<u8>`) are handed to timely: nothing it holds borrows from a loop.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use timely::communication::Allocate;
use timely::dataflow::operators::{Broadcast, Input, Inspect, Probe};
use timely::worker::Worker;

use crate::cancel::CancelToken;

/// A message of a loop's dataflow: its kind, the process that sent it, its bytes.
type Message = (u8, usize, Vec<u8>);
const ARRIVED: u8 = 0;
const RESULT: u8 = 1;

/// What the worker is asked to do.
pub(crate) enum Job {
    /// One loop: its site, the local result when it is ready, where to answer.
    Loop(LoopJob),
    /// The program is done with the cluster.
    Stop,
}

pub(crate) struct LoopJob {
    /// `name at file:line`: every process must reach the same one.
    pub(crate) site: String,
    /// This process's result, serialized, once its part of the loop has run.
    pub(crate) result: Receiver<Vec<u8>>,
    /// Every process's result in process order, or why the loop cannot end.
    pub(crate) reply: Sender<Result<Vec<Vec<u8>>, String>>,
    /// Fired when the loop cannot end, so that the local part stops early.
    pub(crate) cancel: CancelToken,
}

/// What the worker loop knows.
pub(crate) struct Member {
    pub(crate) process: usize,
    pub(crate) processes: usize,
    pub(crate) timeout: Duration,
}

/// The worker's life: loops until told to stop. After a failure the cluster is broken
/// (its dataflows can no longer line up), and every later loop is answered with it.
pub(crate) fn serve<A: Allocate>(worker: &mut Worker<A>, me: &Member, jobs: &Receiver<Job>) {
    let mut broken: Option<String> = None;
    while let Ok(job) = jobs.recv() {
        let job = match job {
            Job::Loop(job) => job,
            Job::Stop => break,
        };
        if let Some(why) = &broken {
            job.cancel.cancel();
            let _ = job.reply.send(Err(why.clone()));
            continue;
        }
        let seen = Rc::new(RefCell::new(Seen::new(me.processes)));
        let outcome = catch_unwind(AssertUnwindSafe(|| run_loop(worker, me, &job, &seen)));
        let answer = match outcome {
            Ok(answer) => answer,
            Err(payload) => Err(format!(
                "a process of the cluster died or lost its connection during loop `{}`: no result from {} ({})",
                job.site,
                processes(&seen.borrow().missing_results()),
                super::start::panic_message(&*payload),
            )),
        };
        if let Err(why) = &answer {
            job.cancel.cancel();
            broken = Some(format!("the cluster stopped at an earlier loop: {why}"));
        }
        let _ = job.reply.send(answer);
    }
}

/// What has arrived so far, by process.
struct Seen {
    sites: Vec<Option<String>>,
    results: Vec<Option<Vec<u8>>>,
}

impl Seen {
    fn new(n: usize) -> Self {
        Seen {
            sites: vec![None; n],
            results: vec![None; n],
        }
    }

    fn missing_sites(&self) -> Vec<usize> {
        (0..self.sites.len())
            .filter(|&p| self.sites[p].is_none())
            .collect()
    }

    fn missing_results(&self) -> Vec<usize> {
        (0..self.results.len())
            .filter(|&p| self.results[p].is_none())
            .collect()
    }
}

/// `process 1`, `processes 1, 2`.
pub(crate) fn processes(list: &[usize]) -> String {
    let names: Vec<String> = list.iter().map(|p| p.to_string()).collect();
    match names.len() {
        0 => "no process".into(),
        1 => format!("process {}", names[0]),
        _ => format!("processes {}", names.join(", ")),
    }
}

fn run_loop<A: Allocate>(
    worker: &mut Worker<A>,
    me: &Member,
    job: &LoopJob,
    seen: &Rc<RefCell<Seen>>,
) -> Result<Vec<Vec<u8>>, String> {
    let record = Rc::clone(seen);
    let (mut input, probe) = worker.dataflow::<u64, _, _>(move |scope| {
        let (input, stream) = scope.new_input::<Message>();
        let probe = stream
            .broadcast()
            .inspect(move |(kind, from, bytes): &Message| {
                let mut seen = record.borrow_mut();
                match *kind {
                    ARRIVED => {
                        seen.sites[*from] = Some(String::from_utf8_lossy(bytes).into_owned())
                    }
                    _ => seen.results[*from] = Some(bytes.clone()),
                }
            })
            .probe();
        (input, probe)
    });
    input.send((ARRIVED, me.process, job.site.clone().into_bytes()));
    input.advance_to(1);

    // Every process reaches this loop within the connect timeout, or it fails.
    let deadline = Instant::now() + me.timeout;
    while !seen.borrow().missing_sites().is_empty() {
        if Instant::now() >= deadline {
            let missing = seen.borrow().missing_sites();
            return Err(format!(
                "{} did not reach loop `{}` within {:?} (BOUNDED_CONNECT_TIMEOUT): it died, is late, or runs other code",
                processes(&missing),
                job.site,
                me.timeout,
            ));
        }
        worker.step_or_park(Some(Duration::from_millis(5)));
    }
    let mismatched: Vec<String> = {
        let seen = seen.borrow();
        seen.sites
            .iter()
            .enumerate()
            .filter(|(_, s)| s.as_deref() != Some(job.site.as_str()))
            .map(|(p, s)| format!("process {p} reached loop `{}`", s.as_deref().unwrap_or("?")))
            .collect()
    };
    if !mismatched.is_empty() {
        return Err(format!(
            "the processes reached different loops: process {} reached loop `{}`, but {}; every process must run the same `backend = timely` loops in the same order",
            me.process,
            job.site,
            mismatched.join(", "),
        ));
    }

    // The local part runs on the caller's side meanwhile; stepping keeps the
    // connections read, so a process that dies is noticed now, not at the end.
    let result = loop {
        match job.result.recv_timeout(Duration::from_millis(20)) {
            Ok(bytes) => break bytes,
            Err(RecvTimeoutError::Timeout) => {
                worker.step_or_park(Some(Duration::ZERO));
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(format!(
                    "process {} gave no result for loop `{}`",
                    me.process, job.site
                ))
            }
        }
    };
    input.send((RESULT, me.process, result));
    drop(input);
    while !probe.done() {
        worker.step_or_park(Some(Duration::from_millis(5)));
    }
    let mut seen = seen.borrow_mut();
    let missing = seen.missing_results();
    if !missing.is_empty() {
        return Err(format!(
            "no result from {} for loop `{}`",
            processes(&missing),
            job.site
        ));
    }
    Ok(seen
        .results
        .iter_mut()
        .map(|r| r.take().unwrap_or_default())
        .collect())
}
