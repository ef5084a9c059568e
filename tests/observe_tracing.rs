//! Feature `tracing`: one `bounded.loop` span per run, with its name, limit and backend,
//! and events for errors, panics, shed items and the run's own stops.
#![cfg(feature = "tracing")]

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::Duration;

use bounded::{par_bounded, CancelToken, Cancelled};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

type Fields = HashMap<String, String>;

#[derive(Clone, Debug)]
struct SpanRecord {
    name: &'static str,
    fields: Fields,
}

#[derive(Clone, Debug)]
struct EventRecord {
    /// The explicit parent, or the span entered on the emitting thread.
    parent: Option<u64>,
    level: tracing::Level,
    fields: Fields,
}

/// Records every span and event, process-wide (lane threads emit events too).
#[derive(Default)]
struct Recorder {
    next: AtomicU64,
    spans: Mutex<HashMap<u64, SpanRecord>>,
    events: Mutex<Vec<EventRecord>>,
}

thread_local! {
    static ENTERED: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

struct Collect<'a>(&'a mut Fields);

impl Visit for Collect<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

impl Subscriber for &'static Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Relaxed) + 1;
        let mut fields = Fields::new();
        span.record(&mut Collect(&mut fields));
        let name = span.metadata().name();
        self.spans
            .lock()
            .unwrap()
            .insert(id, SpanRecord { name, fields });
        Id::from_u64(id)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut spans = self.spans.lock().unwrap();
        let s = spans.get_mut(&span.into_u64()).unwrap();
        values.record(&mut Collect(&mut s.fields));
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields::new();
        event.record(&mut Collect(&mut fields));
        let parent = match event.parent() {
            Some(id) => Some(id.into_u64()),
            None if event.is_contextual() => ENTERED.with(|e| e.borrow().last().copied()),
            None => None,
        };
        self.events.lock().unwrap().push(EventRecord {
            parent,
            level: *event.metadata().level(),
            fields,
        });
    }
    fn enter(&self, span: &Id) {
        ENTERED.with(|e| e.borrow_mut().push(span.into_u64()));
    }
    fn exit(&self, span: &Id) {
        ENTERED.with(|e| {
            let mut e = e.borrow_mut();
            if let Some(i) = e.iter().rposition(|s| *s == span.into_u64()) {
                e.remove(i);
            }
        });
    }
}

fn recorder() -> &'static Recorder {
    static RECORDER: OnceLock<&'static Recorder> = OnceLock::new();
    RECORDER.get_or_init(|| {
        let r: &'static Recorder = Box::leak(Box::default());
        tracing::subscriber::set_global_default(r).expect("one subscriber for this test binary");
        r
    })
}

/// The `bounded.loop` span of the loop named `name` (it runs once per test), and the
/// events under it.
fn run_of(name: &str) -> (SpanRecord, Vec<EventRecord>) {
    let r = recorder();
    let spans = r.spans.lock().unwrap();
    let (id, span) = spans
        .iter()
        .find(|(_, s)| {
            s.name == "bounded.loop" && s.fields.get("name").map(String::as_str) == Some(name)
        })
        .unwrap_or_else(|| panic!("no span for {name}: {spans:?}"));
    let events = r
        .events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.parent == Some(*id))
        .cloned()
        .collect();
    (span.clone(), events)
}

fn messages(events: &[EventRecord]) -> Vec<String> {
    events
        .iter()
        .map(|e| e.fields.get("message").cloned().unwrap_or_default())
        .collect()
}

#[test]
fn a_run_is_one_span_with_its_name_limit_backend_and_end() {
    recorder();
    let xs: Vec<u64> = (0..1000).collect();
    let mut total = 0;
    par_bounded!(limit = 3, batch = 10, name = "traced-ok", reduce(total: +); for x in &xs {
        total += x;
    });
    assert_eq!(total, 499_500);
    let (span, events) = run_of("traced-ok");
    assert_eq!(span.fields["limit"], "3");
    assert_eq!(span.fields["backend"], "rayon");
    assert_eq!(span.fields["items"], "1000");
    assert_eq!(span.fields["ended"], "completed");
    assert!(events.is_empty(), "{events:?}");
}

#[test]
fn the_span_is_entered_on_the_calling_thread() {
    recorder();
    let xs: Vec<u64> = (0..10).collect();
    par_bounded!(backend = serial, name = "traced-serial"; for x in &xs {
        tracing::info!(x, "inside");
    });
    let (span, events) = run_of("traced-serial");
    assert_eq!(span.fields["backend"], "serial");
    assert_eq!(messages(&events), vec!["inside"; 10]);
}

#[derive(Debug, PartialEq)]
enum Failure {
    Item(u64),
    Late,
}

impl From<Cancelled> for Failure {
    fn from(_: Cancelled) -> Self {
        Failure::Late
    }
}

#[test]
fn errors_are_events_at_their_item() {
    recorder();
    let xs: Vec<u64> = (0..100).collect();
    let r = (|| -> Result<(), Failure> {
        par_bounded!(backend = pool, limit = 2, batch = 10, name = "traced-error"; for x in &xs {
            if *x == 42 {
                Err(Failure::Item(*x))?;
            }
        });
        Ok(())
    })();
    assert_eq!(r, Err(Failure::Item(42)));
    let (span, events) = run_of("traced-error");
    assert_eq!(span.fields["backend"], "pool");
    assert_eq!(span.fields["ended"], "failed");
    assert_eq!(messages(&events), vec!["item failed"]);
    assert_eq!(events[0].fields["item"], "42");
    assert_eq!(events[0].level, tracing::Level::WARN);
}

#[test]
fn panics_are_error_events() {
    recorder();
    let xs: Vec<u64> = (0..100).collect();
    let caught = catch_unwind(AssertUnwindSafe(|| {
        par_bounded!(limit = 2, batch = 10, name = "traced-panic"; for x in &xs {
            if *x == 7 {
                panic!("seven");
            }
        });
    }));
    assert!(caught.is_err());
    let (span, events) = run_of("traced-panic");
    assert_eq!(span.fields["ended"], "panicked");
    assert_eq!(messages(&events), vec!["body panicked"]);
    assert_eq!(events[0].level, tracing::Level::ERROR);
}

#[test]
fn shed_items_are_events_with_their_count() {
    recorder();
    let items: Vec<u32> = (0..200).collect();
    par_bounded!(backend = pool, limit = 1, queue = 1, batch = 1, on_full = drop, name = "traced-drop"; for _x in &items {
        thread::sleep(Duration::from_micros(300));
    });
    let dropped = bounded::stats::last_run("traced-drop").unwrap().dropped;
    assert!(dropped > 0);
    let (_, events) = run_of("traced-drop");
    let counted: u64 = events
        .iter()
        .filter(|e| e.fields["message"].starts_with("items dropped"))
        .map(|e| e.fields["items"].parse::<u64>().unwrap())
        .sum();
    assert_eq!(counted, dropped);
}

#[test]
fn cancellation_is_an_event() {
    recorder();
    let token = CancelToken::new();
    token.cancel();
    let xs: Vec<u64> = (0..100).collect();
    let r = (|| -> Result<(), Failure> {
        par_bounded!(limit = 2, cancel = token, name = "traced-cancel"; for x in &xs {
            std::hint::black_box(x);
        });
        Ok(())
    })();
    assert_eq!(r, Err(Failure::Late));
    let (span, events) = run_of("traced-cancel");
    assert_eq!(span.fields["ended"], "cancelled");
    assert!(
        messages(&events)[0].starts_with("loop cancelled"),
        "{events:?}"
    );
}

#[test]
fn async_loops_have_their_span_and_events() {
    recorder();
    let xs: Vec<u64> = (0..20).collect();
    let r: Result<(), Failure> = futures::executor::block_on(async {
        par_bounded!(limit = 2, batch = 2, name = "traced-async"; for x in &xs {
            std::future::ready(()).await;
            if *x == 5 {
                Err(Failure::Item(*x))?;
            }
        });
        Ok(())
    });
    assert_eq!(r, Err(Failure::Item(5)));
    let (span, events) = run_of("traced-async");
    assert_eq!(span.fields["backend"], "async");
    assert_eq!(span.fields["ended"], "failed");
    assert_eq!(messages(&events), vec!["item failed"]);
    assert_eq!(events[0].fields["item"], "5");
}
