//! The cluster's timely worker: one per process, started with the cluster, running one
//! small dataflow per loop that broadcasts two messages from each process — which loop
//! it reached, then its result — and hands every process's result back.
//!
//! Only bytes (`Vec<u8>`) are handed to timely: nothing it holds borrows from a loop.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use timely::communication::Allocate;
use timely::dataflow::operators::{Exchange, Input, Inspect, Map, Probe};
use timely::worker::Worker;

use super::part::Ship;
use crate::cancel::CancelToken;

/// A message of a loop's dataflow: the process it is for ([`EVERY`] for all), its
/// kind, the process that sent it, its bytes. One worker per process, so a process's
/// index is its worker's.
type Message = (u64, u8, usize, Vec<u8>);
const EVERY: u64 = u64::MAX;
/// The loop's site, from every process.
const ARRIVED: u8 = 0;
/// A process's report.
const RESULT: u8 = 1;
/// A batch of a pulled input, from process 0.
const ITEMS: u8 = 2;
/// The end of a pulled input, from process 0: the number of batches sent (8 bytes).
const END: u8 = 3;

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
    /// Process 0 of a pulled input: the batches for the other processes.
    pub(crate) ship: Option<Receiver<Ship>>,
    /// The other processes of a pulled input: where the batches from process 0 go.
    pub(crate) arrivals: Option<Sender<Vec<u8>>>,
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
        let mut job = job;
        let seen = Rc::new(RefCell::new(Seen::new(me.processes)));
        // The only sender of the local part's arrivals: dropped when they are complete.
        seen.borrow_mut().arrivals = job.arrivals.take();
        let outcome = catch_unwind(AssertUnwindSafe(|| run_loop(worker, me, &job, &seen)));
        let answer = match outcome {
            Ok(answer) => answer,
            Err(payload) => {
                // Timely noticed a connection drop: name who had not arrived, or, if
                // all had, who had not sent a result yet (this process aside).
                let seen = seen.borrow();
                let (missing, what) = match seen.missing_sites() {
                    sites if !sites.is_empty() => (sites, "reached"),
                    _ => (
                        seen.missing_results()
                            .into_iter()
                            .filter(|&p| p != me.process)
                            .collect(),
                        "finished",
                    ),
                };
                Err(format!(
                    "the cluster lost a connection: {} had not {what} loop `{}` ({}); a process died or its host is unreachable",
                    processes(&missing),
                    job.site,
                    super::start::panic_message(&*payload),
                ))
            }
        };
        if let Err(why) = &answer {
            job.cancel.cancel();
            broken = Some(format!("the cluster stopped at an earlier loop: {why}"));
        }
        let _ = job.reply.send(answer);
    }
}

/// What has arrived so far, by process; and, for a pulled input, where its batches
/// go and how many process 0 said it sent.
struct Seen {
    sites: Vec<Option<String>>,
    results: Vec<Option<Vec<u8>>>,
    arrivals: Option<Sender<Vec<u8>>>,
    arrived: u64,
    expected: Option<u64>,
}

impl Seen {
    fn new(n: usize) -> Self {
        Seen {
            sites: vec![None; n],
            results: vec![None; n],
            arrivals: None,
            arrived: 0,
            expected: None,
        }
    }

    /// Closes the local part's input once every batch sent to it has arrived.
    fn close_if_complete(&mut self) {
        if self.expected.is_some_and(|n| self.arrived >= n) {
            self.arrivals = None;
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
    let peers = me.processes as u64;
    let (mut input, probe) = worker.dataflow::<u64, _, _>(move |scope| {
        let (input, stream) = scope.new_input::<Message>();
        let probe = stream
            .flat_map(move |m: Message| {
                let to: Vec<u64> = if m.0 == EVERY {
                    (0..peers).collect()
                } else {
                    vec![m.0]
                };
                to.into_iter().map(move |p| (p, m.1, m.2, m.3.clone()))
            })
            .exchange(|m: &Message| m.0)
            .inspect(move |(_, kind, from, bytes): &Message| {
                let mut seen = record.borrow_mut();
                match *kind {
                    ARRIVED => {
                        seen.sites[*from] = Some(String::from_utf8_lossy(bytes).into_owned())
                    }
                    RESULT => seen.results[*from] = Some(bytes.clone()),
                    ITEMS => {
                        seen.arrived += 1;
                        if let Some(arrivals) = &seen.arrivals {
                            // A part that stopped early no longer takes batches.
                            let _ = arrivals.send(bytes.clone());
                        }
                        seen.close_if_complete();
                    }
                    _ => {
                        let mut n = [0u8; 8];
                        n.copy_from_slice(&bytes[..8]);
                        seen.expected = Some(u64::from_le_bytes(n));
                        seen.close_if_complete();
                    }
                }
            })
            .probe();
        (input, probe)
    });
    input.send((EVERY, ARRIVED, me.process, job.site.clone().into_bytes()));
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

    // The local part runs on the caller's side meanwhile: its batches for the others
    // go out as they come, and stepping keeps the connections read, so batches arrive
    // and a process that dies is noticed now, not at the end. The caller wakes this
    // thread when it has something.
    let ship = |input: &mut timely::dataflow::InputHandle<u64, Message>| {
        if let Some(ship) = &job.ship {
            while let Ok(s) = ship.try_recv() {
                match s {
                    Ship::Items(to, bytes) => input.send((to as u64, ITEMS, me.process, bytes)),
                    Ship::End(to, sent) => {
                        input.send((to as u64, END, me.process, sent.to_le_bytes().to_vec()))
                    }
                }
            }
        }
    };
    let result = loop {
        ship(&mut input);
        match job.result.try_recv() {
            Ok(bytes) => break bytes,
            Err(TryRecvError::Empty) => {
                worker.step_or_park(Some(Duration::from_millis(2)));
            }
            Err(TryRecvError::Disconnected) => {
                return Err(format!(
                    "process {} gave no result for loop `{}`",
                    me.process, job.site
                ))
            }
        }
    };
    ship(&mut input);
    input.send((EVERY, RESULT, me.process, result));
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
