//! A simulated downstream, for tests, benchmarks and demonstrations of a bound: a FIFO
//! server of capacity `C` requests per second and base latency `L`, with optional
//! exponential jitter, a knee (latency grows past a concurrency), a hard limit that
//! answers [`Overloaded`], and a step change of capacity during the run.
//!
//! A request's answer time is `max(now + L·knee + jitter, previous answer + 1/C)`: with
//! up to `C·L` requests in flight each takes `L`; beyond that they queue, throughput
//! stays at `C` and latency grows with the queue — what a real service does when too
//! many callers push. The jitter comes from a seeded generator, so a run is repeatable
//! up to the host's timer. Requests *sleep* (a thread, or an executor-agnostic timer
//! for [`Downstream::call_async`]), so a simulation needs little CPU.
//!
//! ```
//! use bounded_runtime::sim::Downstream;
//! use std::time::Duration;
//!
//! let down = Downstream::builder(1000.0, Duration::from_millis(2)).build();
//! let took = down.call().unwrap();
//! assert!(took >= Duration::from_millis(2));
//! assert_eq!(down.stats().served, 1);
//! ```

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::error::Overloaded;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// How a [`Downstream`] behaves; made by [`Downstream::builder`].
#[derive(Debug, Clone)]
pub struct DownstreamBuilder {
    capacity: f64,
    latency: Duration,
    jitter: Duration,
    knee: Option<(usize, f64)>,
    hard_limit: Option<usize>,
    step: Option<(Duration, f64)>,
    seed: u64,
}

impl DownstreamBuilder {
    /// Adds exponentially distributed jitter of this mean to each request's latency.
    pub fn jitter(mut self, mean: Duration) -> Self {
        self.jitter = mean;
        self
    }

    /// Past `concurrency` requests in flight, each further one adds `slope × L / concurrency`
    /// to the latency of the requests that start (a server slowing under contention).
    pub fn knee(mut self, concurrency: usize, slope: f64) -> Self {
        self.knee = Some((concurrency.max(1), slope));
        self
    }

    /// A request that finds `limit` in flight is refused at once with [`Overloaded`].
    pub fn hard_limit(mut self, limit: usize) -> Self {
        self.hard_limit = Some(limit);
        self
    }

    /// From `after` the first request on, the capacity becomes `capacity` per second.
    pub fn step(mut self, after: Duration, capacity: f64) -> Self {
        self.step = Some((after, capacity));
        self
    }

    /// Seeds the jitter.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The downstream.
    pub fn build(self) -> Downstream {
        Downstream {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    start: None,
                    last_answer: None,
                    in_flight: 0,
                    stats: DownstreamStats::default(),
                    rng: self.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
                }),
                config: self,
            }),
        }
    }
}

/// What a [`Downstream`] has seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DownstreamStats {
    /// Requests answered.
    pub served: u64,
    /// Requests refused with [`Overloaded`].
    pub refused: u64,
    /// Requests in flight now.
    pub in_flight: usize,
    /// The most requests ever in flight at once.
    pub peak_in_flight: usize,
}

#[derive(Debug)]
struct State {
    start: Option<Instant>,
    last_answer: Option<Instant>,
    in_flight: usize,
    stats: DownstreamStats,
    rng: u64,
}

#[derive(Debug)]
struct Inner {
    config: DownstreamBuilder,
    state: Mutex<State>,
}

/// A simulated downstream service (see the module's description). Cloning shares it.
#[derive(Debug, Clone)]
pub struct Downstream {
    inner: Arc<Inner>,
}

/// One admitted request: when it is answered. Leaves the server when dropped.
struct Admitted {
    inner: Arc<Inner>,
    answer: Instant,
    took: Duration,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut st = lock(&self.inner.state);
        st.in_flight -= 1;
        st.stats.in_flight = st.in_flight;
        st.stats.served += 1;
    }
}

impl Downstream {
    /// A downstream of `capacity` requests per second and base latency `latency`.
    pub fn builder(capacity: f64, latency: Duration) -> DownstreamBuilder {
        DownstreamBuilder {
            capacity,
            latency,
            jitter: Duration::ZERO,
            knee: None,
            hard_limit: None,
            step: None,
            seed: 1,
        }
    }

    fn admit(&self) -> Result<Admitted, Overloaded> {
        let c = &self.inner.config;
        let mut st = lock(&self.inner.state);
        let now = Instant::now();
        let start = *st.start.get_or_insert(now);
        if c.hard_limit.is_some_and(|h| st.in_flight >= h) {
            st.stats.refused += 1;
            return Err(Overloaded);
        }
        st.in_flight += 1;
        st.stats.in_flight = st.in_flight;
        st.stats.peak_in_flight = st.stats.peak_in_flight.max(st.in_flight);
        let capacity = match c.step {
            Some((after, capacity)) if now - start >= after => capacity,
            _ => c.capacity,
        };
        let mut latency = c.latency.as_secs_f64();
        if let Some((k, slope)) = c.knee {
            if st.in_flight > k {
                latency *= 1.0 + slope * (st.in_flight - k) as f64 / k as f64;
            }
        }
        if !c.jitter.is_zero() {
            // xorshift64*, then an exponential draw of the jitter's mean.
            st.rng ^= st.rng >> 12;
            st.rng ^= st.rng << 25;
            st.rng ^= st.rng >> 27;
            let u = (st.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64;
            latency += -c.jitter.as_secs_f64() * (1.0 - u).ln();
        }
        let mut answer = now + Duration::from_secs_f64(latency);
        if let Some(last) = st.last_answer {
            answer = answer.max(last + Duration::from_secs_f64(1.0 / capacity.max(1e-9)));
        }
        st.last_answer = Some(answer);
        drop(st);
        Ok(Admitted {
            inner: self.inner.clone(),
            answer,
            took: answer - now,
        })
    }

    /// Makes one request, blocking the thread until it is answered: its latency, or
    /// [`Overloaded`] at once past the hard limit.
    pub fn call(&self) -> Result<Duration, Overloaded> {
        let admitted = self.admit()?;
        let now = Instant::now();
        if admitted.answer > now {
            std::thread::sleep(admitted.answer - now);
        }
        Ok(admitted.took)
    }

    /// [`Downstream::call`] for async code: waits on a timer thread of its own, so it
    /// runs under any executor.
    pub async fn call_async(&self) -> Result<Duration, Overloaded> {
        let admitted = self.admit()?;
        Sleep::until(admitted.answer).await;
        Ok(admitted.took)
    }

    /// What it has seen so far.
    pub fn stats(&self) -> DownstreamStats {
        lock(&self.inner.state).stats
    }

    /// The capacity in force now, in requests per second (after a [`step`], the new
    /// one).
    ///
    /// [`step`]: DownstreamBuilder::step
    pub fn capacity_now(&self) -> f64 {
        let c = &self.inner.config;
        let st = lock(&self.inner.state);
        match (c.step, st.start) {
            (Some((after, capacity)), Some(start)) if start.elapsed() >= after => capacity,
            _ => c.capacity,
        }
    }
}

/// One timer for every async request of the process: a thread that wakes sleepers.
struct Timer {
    heap: Mutex<BinaryHeap<Entry>>,
    changed: Condvar,
}

struct Entry {
    at: Instant,
    sleeper: Arc<Sleeper>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        // The earliest first, in a max-heap.
        other.at.cmp(&self.at)
    }
}

struct Sleeper {
    done: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

fn timer() -> &'static Timer {
    static TIMER: OnceLock<&'static Timer> = OnceLock::new();
    TIMER.get_or_init(|| {
        let t: &'static Timer = Box::leak(Box::new(Timer {
            heap: Mutex::new(BinaryHeap::new()),
            changed: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("bounded-sim-timer".into())
            .spawn(move || loop {
                let mut heap = lock(&t.heap);
                let now = Instant::now();
                while heap.peek().is_some_and(|e| e.at <= now) {
                    let e = heap.pop().expect("peeked");
                    e.sleeper.done.store(true, Relaxed);
                    let waker = lock(&e.sleeper.waker).take();
                    if let Some(w) = waker {
                        w.wake();
                    }
                }
                let wait = heap.peek().map(|e| e.at - now);
                // The guard is dropped at once: the next round locks again.
                match wait {
                    Some(d) => drop(t.changed.wait_timeout(heap, d)),
                    None => drop(t.changed.wait(heap)),
                }
            })
            .expect("the simulator's timer thread starts");
        t
    })
}

/// A future that is ready at an instant.
struct Sleep {
    at: Instant,
    sleeper: Option<Arc<Sleeper>>,
}

impl Sleep {
    fn until(at: Instant) -> Self {
        Sleep { at, sleeper: None }
    }
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.at {
            return Poll::Ready(());
        }
        match &self.sleeper {
            Some(s) => {
                *lock(&s.waker) = Some(cx.waker().clone());
                if s.done.load(Relaxed) {
                    return Poll::Ready(());
                }
            }
            None => {
                let s = Arc::new(Sleeper {
                    done: AtomicBool::new(false),
                    waker: Mutex::new(Some(cx.waker().clone())),
                });
                let t = timer();
                lock(&t.heap).push(Entry {
                    at: self.at,
                    sleeper: s.clone(),
                });
                t.changed.notify_one();
                self.sleeper = Some(s);
            }
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn a_queue_forms_past_c_times_l() {
        // C = 1000/s, L = 5 ms: C·L = 5. Twenty at once: the last is answered after
        // about 20 / C = 20 ms, not 5.
        let down = Downstream::builder(1000.0, Duration::from_millis(5)).build();
        let took: Vec<Duration> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..20).map(|_| s.spawn(|| down.call().unwrap())).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let worst = took.iter().max().unwrap();
        assert!(*worst >= Duration::from_millis(18), "{took:?}");
        assert_eq!(down.stats().served, 20);
        assert_eq!(down.stats().in_flight, 0);
    }

    #[test]
    fn the_hard_limit_refuses_at_once() {
        let down = Downstream::builder(1000.0, Duration::from_millis(30))
            .hard_limit(2)
            .build();
        let refused = std::thread::scope(|s| {
            let a = s.spawn(|| down.call());
            let b = s.spawn(|| down.call());
            std::thread::sleep(Duration::from_millis(10));
            let c = down.call();
            let _ = (a.join(), b.join());
            c
        });
        assert_eq!(refused, Err(Overloaded));
        assert_eq!(down.stats().refused, 1);
    }

    #[test]
    fn async_calls_sleep_on_the_timer() {
        let down = Downstream::builder(1000.0, Duration::from_millis(3)).build();
        let started = Instant::now();
        let took = futures_lite_block_on(down.call_async()).unwrap();
        assert!(started.elapsed() >= Duration::from_millis(3));
        assert!(took >= Duration::from_millis(3));
    }

    /// A minimal executor: polls on this thread, parks between wakes.
    fn futures_lite_block_on<F: Future>(f: F) -> F::Output {
        struct Unpark(std::thread::Thread);
        impl std::task::Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut f = std::pin::pin!(f);
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
            std::thread::park();
        }
    }
}
