//! A `futures::Stream` input of an async loop.

use std::ops::Range;
use std::sync::Mutex;

use super::{Shape, Source};

/// A `futures::Stream` input of an async loop. Lanes take turns polling it; a lane
/// that finds it pending is woken whenever another lane makes progress, so no lane
/// waits on a wake-up the stream gave to someone else.
pub struct Streamed<St: futures_core::Stream> {
    state: Mutex<StreamState<St>>,
}

struct StreamState<St: futures_core::Stream> {
    stream: std::pin::Pin<Box<St>>,
    offset: usize,
    done: bool,
    waiting: Vec<std::task::Waker>,
}

impl<St: futures_core::Stream> Streamed<St> {
    pub(crate) fn new(stream: St) -> Self {
        Streamed {
            state: Mutex::new(StreamState {
                stream: Box::pin(stream),
                offset: 0,
                done: false,
                waiting: Vec::new(),
            }),
        }
    }
}

// SAFETY: never indexed (`range` panics); items are moved out of the stream under the
// lock, so each goes to one future; unclaimed items stay in the stream and are dropped
// with it, so `discard` has nothing to do.
unsafe impl<St> Source for Streamed<St>
where
    St: futures_core::Stream + Send,
    St::Item: Send,
{
    type Item = St::Item;
    type Cursor<'a>
        = std::vec::Drain<'a, St::Item>
    where
        Self: 'a;
    type Scratch = Vec<St::Item>;

    fn shape(&self) -> Shape {
        Shape::Pulled { hint: None }
    }

    unsafe fn range(&self, _: Range<usize>) -> Self::Cursor<'_> {
        unreachable!("bounded: a stream source is never indexed")
    }

    unsafe fn discard(&self, _: Range<usize>) {}

    fn fill(&self, _: usize, _: &mut Vec<St::Item>) -> Option<usize> {
        panic!(
            "bounded: a `Stream` input needs a loop whose body awaits (it is polled by the loop's futures)"
        )
    }

    fn poll_fill(
        &self,
        cx: &mut std::task::Context<'_>,
        max: usize,
        scratch: &mut Vec<St::Item>,
    ) -> std::task::Poll<Option<usize>> {
        use std::task::Poll;
        scratch.clear();
        let Ok(mut st) = self.state.lock() else {
            return Poll::Ready(None);
        };
        if st.done {
            return Poll::Ready(None);
        }
        while scratch.len() < max {
            match st.stream.as_mut().poll_next(cx) {
                Poll::Ready(Some(item)) => scratch.push(item),
                Poll::Ready(None) => {
                    st.done = true;
                    break;
                }
                Poll::Pending => break,
            }
        }
        if scratch.is_empty() && !st.done {
            // The stream keeps only the last waker it was given: remember ours too.
            if !st.waiting.iter().any(|w| w.will_wake(cx.waker())) {
                st.waiting.push(cx.waker().clone());
            }
            return Poll::Pending;
        }
        // Progress (items or the end): let the lanes that found it pending look again.
        for w in st.waiting.drain(..) {
            w.wake();
        }
        if scratch.is_empty() {
            return Poll::Ready(None);
        }
        let offset = st.offset;
        st.offset += scratch.len();
        Poll::Ready(Some(offset))
    }

    fn drain<'a>(&'a self, scratch: &'a mut Vec<St::Item>, _: usize) -> Self::Cursor<'a> {
        scratch.drain(..)
    }
}
