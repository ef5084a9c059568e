//! Model checks of the pool's synchronisation (queue, hand-off, scope wait, shutdown).
//!
//! Run with: `RUSTFLAGS="--cfg loom" cargo test -p bounded-runtime --test loom_pool --release`
#![cfg(loom)]

use bounded_runtime::pool::{Pool, Shutdown};
use bounded_runtime::OnFull;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    builder.check(f);
}

/// Two jobs through a one-worker pool with a direct hand-off queue: both run, and
/// the drain sees both completed, whatever the interleaving.
#[test]
fn hand_off_and_drain() {
    model(|| {
        let pool = Pool::builder().workers(1).queue(0).build().unwrap();
        let done = Arc::new(AtomicUsize::new(0));
        for _ in 0..2 {
            let done = done.clone();
            pool.execute(move || {
                done.fetch_add(1, SeqCst);
            })
            .unwrap();
        }
        let stats = pool.shutdown(Shutdown::Drain);
        assert_eq!(done.load(SeqCst), 2);
        assert_eq!(stats.completed, 2);
        assert_eq!(stats.submitted, stats.accounted());
    });
}

/// A bounded queue with a blocked submitter: nothing is lost and nobody hangs.
#[test]
fn queue_with_blocked_submitter() {
    model(|| {
        let pool = Pool::builder().workers(1).queue(1).build().unwrap();
        for _ in 0..3 {
            pool.execute(|| ()).unwrap();
        }
        let stats = pool.shutdown(Shutdown::Drain);
        assert_eq!(stats.completed, 3);
    });
}

/// The scope returns only after its jobs ran.
#[test]
fn scope_waits() {
    model(|| {
        let pool = Pool::builder().workers(1).queue(1).build().unwrap();
        let done = AtomicUsize::new(0);
        pool.scope(|s| {
            for _ in 0..2 {
                s.execute(|| {
                    done.fetch_add(1, SeqCst);
                })
                .unwrap();
            }
        });
        assert_eq!(done.load(SeqCst), 2);
    });
}

/// Abort racing with a running job: every job is either completed or cancelled.
#[test]
fn abort_accounts_for_every_job() {
    model(|| {
        let pool = Pool::builder()
            .workers(1)
            .queue(2)
            .on_full(OnFull::Reject)
            .build()
            .unwrap();
        for _ in 0..2 {
            let _ = pool.execute(|| ());
        }
        let stats = pool.shutdown(Shutdown::Abort);
        assert_eq!(stats.submitted, 2);
        assert_eq!(stats.submitted, stats.accounted());
        assert_eq!(stats.workers, 0);
    });
}
