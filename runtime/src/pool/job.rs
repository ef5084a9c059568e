//! One job's closure, stored in the task itself when it is small.
//!
//! Most jobs capture a few words (an index, an `Arc`, a sender). Boxing each one costs
//! an allocation on the submitting thread and a free on the worker, which on a busy pool
//! is most of what handing a job over costs. A closure of up to `INLINE` bytes and
//! word alignment is kept inline; a larger one is boxed, as before.

use std::marker::PhantomData;
use std::mem::{self, ManuallyDrop, MaybeUninit};
use std::ptr;

/// Words kept inline: enough for an index, an `Arc` and a reference or two.
const WORDS: usize = 4;

type Inline = [MaybeUninit<usize>; WORDS];

/// A type-erased `FnOnce(&mut S) -> bool + Send`: inline when it fits, boxed otherwise.
pub(crate) struct Job<S> {
    data: Inline,
    /// Runs the closure stored in `data` (moving it out), given the worker's state.
    call: unsafe fn(*mut Inline, &mut S) -> bool,
    /// Drops the closure stored in `data` without running it.
    drop: unsafe fn(*mut Inline),
    _state: PhantomData<fn(&mut S)>,
}

// SAFETY: a `Job` is only made from a `Send` closure (`Job::new`'s bound), and it owns
// that closure and nothing else.
unsafe impl<S> Send for Job<S> {}

fn fits<F>() -> bool {
    mem::size_of::<F>() <= mem::size_of::<Inline>()
        && mem::align_of::<F>() <= mem::align_of::<Inline>()
}

impl<S> Job<S> {
    /// Stores `f`.
    ///
    /// # Safety
    ///
    /// `Job` has no lifetime: the caller guarantees that everything `f` borrows
    /// outlives the moment the job is run or dropped. For a `'static` closure that is
    /// always so ([`Job::new_static`]); a scope ensures it by waiting for its jobs.
    pub(crate) unsafe fn new<F>(f: F) -> Self
    where
        F: FnOnce(&mut S) -> bool + Send,
    {
        let mut data: Inline = [MaybeUninit::uninit(); WORDS];
        if fits::<F>() {
            // SAFETY: `data` is large and aligned enough for `F` (checked by `fits`).
            unsafe { ptr::write(data.as_mut_ptr().cast::<F>(), f) };
            Job {
                data,
                call: call_inline::<S, F>,
                drop: drop_inline::<F>,
                _state: PhantomData,
            }
        } else {
            let boxed: *mut F = Box::into_raw(Box::new(f));
            // SAFETY: a pointer fits in the first word.
            unsafe { ptr::write(data.as_mut_ptr().cast::<*mut F>(), boxed) };
            Job {
                data,
                call: call_boxed::<S, F>,
                drop: drop_boxed::<F>,
                _state: PhantomData,
            }
        }
    }

    /// Stores a closure that borrows nothing.
    pub(crate) fn new_static<F>(f: F) -> Self
    where
        F: FnOnce(&mut S) -> bool + Send + 'static,
    {
        // SAFETY: `F` is `'static`.
        unsafe { Self::new(f) }
    }

    /// Runs the closure. If it panics, the closure (moved out of the job first) is
    /// dropped by the unwinding, once.
    pub(crate) fn run(self, state: &mut S) -> bool {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `call` matches what `new` stored in `data`, and `this` is never
        // dropped, so the closure is moved out exactly once.
        unsafe { (this.call)(&mut this.data, state) }
    }
}

impl<S> Drop for Job<S> {
    fn drop(&mut self) {
        // SAFETY: the job was not run (`run` forgets it), so `data` still holds what
        // `new` stored, which `drop` matches.
        unsafe { (self.drop)(&mut self.data) }
    }
}

unsafe fn call_inline<S, F: FnOnce(&mut S) -> bool>(data: *mut Inline, state: &mut S) -> bool {
    // SAFETY: the caller passes the `data` `new` wrote an `F` into, once.
    let f = unsafe { ptr::read(data.cast::<F>()) };
    f(state)
}

unsafe fn drop_inline<F>(data: *mut Inline) {
    // SAFETY: as in `call_inline`.
    unsafe { ptr::drop_in_place(data.cast::<F>()) }
}

unsafe fn call_boxed<S, F: FnOnce(&mut S) -> bool>(data: *mut Inline, state: &mut S) -> bool {
    // SAFETY: the caller passes the `data` `new` wrote the box's pointer into, once.
    let f = unsafe { Box::from_raw(ptr::read(data.cast::<*mut F>())) };
    f(state)
}

unsafe fn drop_boxed<F>(data: *mut Inline) {
    // SAFETY: as in `call_boxed`.
    drop(unsafe { Box::from_raw(ptr::read(data.cast::<*mut F>())) })
}

#[cfg(test)]
mod tests {
    use super::Job;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;

    /// Counts its drops; `bytes` of payload decide inline or boxed.
    struct Counted<const N: usize>(Arc<AtomicUsize>, [u8; N]);
    impl<const N: usize> Drop for Counted<N> {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    fn each_size(check: impl Fn(&dyn Fn(Arc<AtomicUsize>) -> Job<u32>)) {
        check(&|d| {
            let c = Counted(d, [0; 1]);
            Job::new_static(move |s: &mut u32| {
                *s += c.1.len() as u32;
                false
            })
        });
        check(&|d| {
            let c = Counted(d, [7; 200]);
            Job::new_static(move |s: &mut u32| {
                *s += c.1.len() as u32;
                true
            })
        });
    }

    #[test]
    fn a_job_run_or_dropped_drops_its_closure_once() {
        each_size(|make| {
            let drops = Arc::new(AtomicUsize::new(0));
            let mut state = 0;
            let ran = make(drops.clone()).run(&mut state);
            assert!(state == 1 && !ran || state == 200 && ran);
            assert_eq!(drops.load(SeqCst), 1);
            drop(make(drops.clone()));
            assert_eq!(drops.load(SeqCst), 2);
        });
    }

    #[test]
    fn a_panicking_job_drops_its_closure_once() {
        for big in [false, true] {
            let drops = Arc::new(AtomicUsize::new(0));
            let job = if big {
                let c = Counted(drops.clone(), [1; 100]);
                Job::new_static(move |_: &mut u32| -> bool {
                    let _c = &c;
                    panic!("boom")
                })
            } else {
                let c = Counted(drops.clone(), [1; 1]);
                Job::new_static(move |_: &mut u32| -> bool {
                    let _c = &c;
                    panic!("boom")
                })
            };
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(&mut 0)));
            assert!(r.is_err());
            assert_eq!(drops.load(SeqCst), 1);
        }
    }

    #[test]
    fn small_word_aligned_closures_are_inline() {
        assert!(super::fits::<(usize, Arc<u8>, &u8)>());
        assert!(!super::fits::<[u64; 5]>());
    }
}
