//! The body rules and option checks of the reference chapter. Every error is at the
//! user's span, says what is wrong and what to write instead, and all of a loop's errors
//! are reported together.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Expr, Ident, Lit};

use crate::model::{Assignment, Call, CallUse, Context, ParLoop, Rhs};
use crate::options::{BatchOpt, LimitOpt, RateOpt, ReduceOp, PLANNED};
use crate::words::{Backend, OnFull};

const REDUCE_OPS: &str =
    "+ * & | ^ && || min max append merge extend last, or a path to `fn(T, T) -> T`";

/// Most reductions one loop may name (one more tuple slot is the collect form's).
const MAX_REDUCTIONS: usize = 11;

fn err(span: Span, msg: impl std::fmt::Display) -> syn::Error {
    syn::Error::new(span, msg)
}

fn is_zero_literal(e: &Expr) -> bool {
    match e {
        Expr::Lit(l) => matches!(&l.lit, Lit::Int(i) if i.base10_digits() == "0"),
        Expr::Paren(p) => is_zero_literal(&p.expr),
        Expr::Group(g) => is_zero_literal(&g.expr),
        _ => false,
    }
}

fn int_literal(e: &Expr) -> Option<u128> {
    match e {
        Expr::Lit(l) => match &l.lit {
            Lit::Int(i) => i.base10_parse().ok(),
            _ => None,
        },
        Expr::Paren(p) => int_literal(&p.expr),
        Expr::Group(g) => int_literal(&g.expr),
        _ => None,
    }
}

/// `limit = adaptive(max = M, min = m, initial = i)`: where it runs, and literal
/// arguments that cannot (runtime values are checked when the loop starts).
fn check_adaptive(
    l: &ParLoop,
    span: Span,
    max: &Expr,
    min: Option<&Expr>,
    initial: Option<&Expr>,
    errors: &mut Vec<syn::Error>,
) {
    let backend = l.options.backend();
    if !l.is_async() && backend != Backend::Pool {
        errors.push(err(
            span,
            format!("`limit = adaptive(...)` moves the bound of the pool and async backends, but this loop runs on `{backend}`\nhelp: add `backend = pool` for blocking work, or await in the body to run on `backend = async`; for CPU work keep `limit = cpus`"),
        ));
    }
    if let Some(k) = &l.options.key {
        errors.push(err(
            k.span(),
            "`key` with `limit = adaptive(...)` is not supported: keyed dispatch keeps a fixed bound\nhelp: remove `key`, or write a fixed `limit`",
        ));
    }
    for (name, e) in [("max", Some(max)), ("min", min)] {
        if let Some(e) = e.filter(|e| is_zero_literal(e)) {
            errors.push(err(
                e.span(),
                format!("`adaptive({name} = 0)` would never run an item\nhelp: the limit moves within min..=max, both at least 1: write `adaptive(max = 64)` (min is 1 unless given)"),
            ));
        }
    }
    let (lo, hi) = (min.and_then(int_literal), int_literal(max));
    if let (Some(m), Some(lo), Some(hi)) = (min, lo, hi) {
        if lo > hi {
            errors.push(err(
                m.span(),
                format!("`adaptive(min = {lo}, max = {hi})` has min above max\nhelp: the limit moves within min..=max: write a min of at most {hi}"),
            ));
        }
    }
    if let (Some(i), Some(v)) = (initial, initial.and_then(int_literal)) {
        let lo = lo.unwrap_or(1);
        if v < lo || hi.is_some_and(|hi| v > hi) {
            let range = hi.map_or(format!("{lo}.."), |hi| format!("{lo}..={hi}"));
            errors.push(err(
                i.span(),
                format!("`adaptive(initial = {v})` is outside min..=max ({range})\nhelp: write an initial limit within {range}, or leave it out (it is 4, within min..=max)"),
            ));
        }
    }
}

/// A body that awaits runs as bounded futures: where that can happen, and what it needs.
fn check_async(l: &ParLoop, errors: &mut Vec<syn::Error>) {
    let o = &l.options;
    let explicit = o.backend.as_ref().map(|b| (b.value, b.span));
    if !l.is_async() {
        if let Some((Backend::Async, span)) = explicit {
            errors.push(err(
                span,
                "`backend = async` runs the body as futures, but the body never awaits\nhelp: remove `backend = async`: without `.await` the loop runs on rayon (CPU work) or, with `backend = pool`, on a worker pool (blocking work)",
            ));
        }
        return;
    }
    let first_await = l.facts.awaits[0];
    if let Context::Function {
        name,
        is_async: false,
        ..
    } = &l.context
    {
        errors.push(err(
            first_await,
            format!("`.await` in a parallel loop of `{name}`, which is not `async`\nhelp: make it `async fn {name}`, so the loop runs as bounded futures; or call the blocking version of this operation and use `backend = pool`"),
        ));
    }
    if let Some((b, span)) = &explicit {
        if *b != Backend::Async {
            errors.push(err(
                *span,
                format!("the body awaits, so the loop runs as futures, but it says `backend = {b}`\nhelp: remove `backend = {b}` (a body that awaits runs on `backend = async`)"),
            ));
        }
    }
    if o.limit.is_none() {
        errors.push(err(
            l.for_span,
            "a loop whose body awaits needs a `limit`: it bounds the futures in flight, which depends on what they wait on, not on the number of CPUs\nhelp: by Little's law, items in flight = arrival rate × time per item: for 500 requests/s that take 200ms each, write `limit = little(rate = 500, latency = 200ms)` (= 100), or a number such as `limit = 64`",
        ));
    }
    if let Some(s) = &o.schedule {
        errors.push(err(
            s.span,
            "`schedule` distributes batches over threads; async lanes take the next batch as each finishes (dynamic), so it does not apply\nhelp: remove `schedule`",
        ));
    }
    if let Some(p) = &o.pool {
        errors.push(err(
            p.span(),
            "`pool` names a thread pool, but a loop whose body awaits runs as futures on the caller's task\nhelp: remove `pool`; `limit` bounds the futures in flight",
        ));
    }
    if let Some(c) = o.on_full.as_ref().filter(|c| c.value == OnFull::CallerRuns) {
        errors.push(err(
            c.span,
            "`on_full = caller_runs` has no caller to run on in an async loop: the lane futures are the only runners\nhelp: use `block` (wait for room), `drop` or `reject`",
        ));
    }
}

/// The options of the pool backend: where they apply, and what they require.
fn check_pool_options(l: &ParLoop, errors: &mut Vec<syn::Error>) {
    let o = &l.options;
    if l.is_async() {
        return;
    }
    let backend = o.backend();
    if backend == Backend::Pool && o.limit.is_none() {
        let at = o
            .backend
            .as_ref()
            .map(|b| b.span)
            .or_else(|| o.pool.as_ref().map(|p| p.span()))
            .unwrap_or(l.for_span);
        errors.push(err(
            at,
            "`backend = pool` needs a `limit`: blocking work is bounded by what it waits on, not by the number of CPUs\nhelp: by Little's law, items in flight = arrival rate × time per item: for 500 items/s that take 200ms each, write `limit = little(rate = 500, latency = 200ms)` (= 100), or a number such as `limit = 64`",
        ));
    }
    if backend == Backend::Pool {
        if let Some(s) = &o.schedule {
            errors.push(err(
                s.span,
                "`schedule` distributes index ranges over rayon lanes; the pool backend's dispatcher hands batches out in input order to whichever lane is free (dynamic), so it does not apply\nhelp: remove `schedule`",
            ));
        }
    }
    if backend != Backend::Pool && backend != Backend::Timely {
        let named = |what: &str| {
            format!("`{what}` applies to the pool backend and to loops whose body awaits, but this loop runs on `{backend}`\nhelp: add `backend = pool`; rayon lanes claim batches directly, so nothing ever waits in a queue")
        };
        if let Some(q) = &o.queue {
            errors.push(err(q.span(), named("queue")));
        }
        if let Some(c) = &o.on_full {
            errors.push(err(c.span, named("on_full")));
        }
        if let (Some(p), Some(b)) = (&o.pool, &o.backend) {
            if b.value != Backend::Rayon {
                errors.push(err(
                    p.span(),
                    format!("`pool = …` names the pool the loop runs on, but `backend = {}` runs it on the calling thread\nhelp: remove `pool`, or use `backend = pool` (a `bounded::Pool`) or `backend = rayon` (a rayon `ThreadPool`)", b.value),
                ));
            }
        }
    }
}

/// `backend = timely`: the options that have no meaning across processes, each with
/// the reason.
fn check_timely(l: &ParLoop, errors: &mut Vec<syn::Error>) {
    let o = &l.options;
    if l.is_async() || o.backend() != Backend::Timely {
        return;
    }
    let why = |what: &str, reason: &str| {
        format!("`{what}` does not apply to `backend = timely`: {reason}")
    };
    if let Some(p) = &o.pool {
        errors.push(err(p.span(), why("pool", "the loop runs on the cluster's own worker threads of every process, not on a pool of this one\nhelp: remove `pool`; `BOUNDED_WORKERS` sets the worker threads per process")));
    }
    if let Some(q) = &o.queue {
        errors.push(err(q.span(), why("queue", "each process's workers claim their part of the input directly, so no batch ever waits in a queue\nhelp: remove `queue`")));
    }
    if let Some(c) = &o.on_full {
        errors.push(err(c.span, why("on_full", "there is no queue to fill; and a batch dropped or rejected on one process would make the processes' results differ\nhelp: remove `on_full`")));
    }
    if let Some(w) = &o.weight {
        errors.push(err(w.span(), why("weight", "the weighted permits of `limit` are one process's, while the input is split across processes by position\nhelp: remove `weight`; give heavy items a batch of their own with `batch`")));
    }
    if let Some(k) = &o.key {
        errors.push(err(k.span(), why("key", "an indexed input is split across processes by position, so equal keys are not brought together\nhelp: remove `key`, and reduce per-key results with `merge` into a map")));
    }
    let stop = o
        .timeout
        .as_ref()
        .map(|(s, _)| (*s, "timeout"))
        .or_else(|| o.cancel.as_ref().map(|c| (c.span(), "cancel")));
    if let Some((span, what)) = stop {
        errors.push(err(span, why(what, "a deadline or a token is one process's, but every process must end the loop with the same result\nhelp: remove it; stop the whole program instead, and the cluster fails on every process")));
    }
    for span in &l.facts.returns {
        errors.push(err(*span, "`return` from a `backend = timely` loop: the value would be one process's, but every process must return the same\nhelp: `break` at the item, and keep what it found with `reduce(found: last)`, then return it after the loop"));
    }
}

/// A loop that can fail on its own (`on_full = reject`, `timeout`, `cancel`) needs a
/// function that can return the failure.
fn check_stops(l: &ParLoop, errors: &mut Vec<syn::Error>) {
    let o = &l.options;
    if let Context::Function {
        name,
        returns_nothing: true,
        ..
    } = &l.context
    {
        if let Some(c) = o.on_full.as_ref().filter(|c| c.value == OnFull::Reject) {
            errors.push(err(
                c.span,
                format!("`on_full = reject` makes the loop fail with `bounded::Rejected`, but `{name}` returns nothing\nhelp: return a `Result` whose error type converts from `bounded::Rejected` (`impl From<bounded::Rejected> for MyError`), or use `on_full = block`"),
            ));
        }
        let cancel_span = o
            .timeout
            .as_ref()
            .map(|(s, _)| *s)
            .or_else(|| o.cancel.as_ref().map(|c| c.span()));
        if let Some(span) = cancel_span {
            errors.push(err(
                span,
                format!("`timeout` and `cancel` make the loop fail with `bounded::Cancelled`, but `{name}` returns nothing\nhelp: return a `Result` whose error type converts from `bounded::Cancelled` (`impl From<bounded::Cancelled> for MyError`)"),
            ));
        }
    }
}

/// `rate` and `burst`: a rate that starts nothing, an empty bucket, a bucket without a
/// rate.
fn check_rate(l: &ParLoop, errors: &mut Vec<syn::Error>) {
    let o = &l.options;
    if let Some((_, RateOpt::PerUnit { items, .. })) = &o.rate {
        if is_zero_literal(items) {
            errors.push(err(
                items.span(),
                "`rate = 0 / …` would never start an item\nhelp: write a rate of at least 1, like `rate = 1 / s`, or remove `rate` to start items as fast as `limit` allows",
            ));
        }
    }
    if let Some((key, b)) = &o.burst {
        if o.rate.is_none() {
            errors.push(err(
                *key,
                "`burst` is the size of the `rate` token bucket, but the loop has no `rate`\nhelp: add a rate, like `rate = 100 / s, burst = 10`, or remove `burst`",
            ));
        } else if is_zero_literal(b) {
            errors.push(err(
                b.span(),
                "`burst = 0` would hold no token, so no item could start\nhelp: write `burst = 1` (the default: items start evenly spaced) or more to let that many start at once after a pause",
            ));
        }
    }
}

/// Checks one loop, adding every broken rule to `errors`.
pub fn check(l: &ParLoop, errors: &mut Vec<syn::Error>) {
    let o = &l.options;

    for key in &o.planned {
        let why = PLANNED
            .iter()
            .find(|(k, _)| key == k)
            .map_or("", |(_, w)| w);
        errors.push(err(
            key.span(),
            format!("the option `{key}` is not available yet: {why}"),
        ));
    }

    match &o.limit {
        Some(LimitOpt::Expr(e)) if is_zero_literal(e) => errors.push(err(
            e.span(),
            "`limit = 0` would never run an item\nhelp: write `limit = 1` for one at a time, or `limit = cpus` for one per CPU",
        )),
        Some(LimitOpt::Cpus { factor: Some(e) }) if is_zero_literal(e) => errors.push(err(
            e.span(),
            "`limit = cpus * 0` would never run an item\nhelp: write `limit = cpus` or `limit = cpus * 2`",
        )),
        Some(LimitOpt::Adaptive {
            span,
            max,
            min,
            initial,
        }) => check_adaptive(l, *span, max, min.as_ref(), initial.as_ref(), errors),
        _ => {}
    }
    if let Some(BatchOpt::Expr(e)) = &o.batch {
        if is_zero_literal(e) {
            errors.push(err(
                e.span(),
                "`batch = 0` would put no item in a batch\nhelp: write `batch = 1` to dispatch items one by one, or `batch = auto`",
            ));
        }
    }
    check_rate(l, errors);
    check_async(l, errors);
    check_pool_options(l, errors);
    check_timely(l, errors);
    check_stops(l, errors);
    if let Some(k) = &o.key {
        if l.is_async() || !matches!(o.backend(), Backend::Pool | Backend::Timely) {
            let on = if l.is_async() {
                "async".to_owned()
            } else {
                o.backend().to_string()
            };
            errors.push(err(
                k.span(),
                format!("`key` sends items with equal keys to the same pool worker, but this loop runs on `{on}`\nhelp: add `backend = pool` (for async loops, keyed dispatch is not available)"),
            ));
        }
        if let Some(c) = o.on_full.as_ref().filter(|c| c.value == OnFull::CallerRuns) {
            errors.push(err(
                c.span,
                "`on_full = caller_runs` with `key`: a batch run by the caller could overtake an earlier batch of the same key\nhelp: use `on_full = block` (the default), `drop` or `reject`",
            ));
        }
        if matches!(l.body, crate::model::LoopBody::Collect(_)) {
            errors.push(err(
                k.span(),
                "`key` regroups items by key, so the collect form could not keep input order\nhelp: drop `key`: without it the collect form keeps input order",
            ));
        }
        for r in o.reduce.iter().flatten() {
            let what = match r.op {
                ReduceOp::Append => "`append` keeps input order",
                ReduceOp::Extend => {
                    "`extend` lets later items' entries replace earlier ones in input order"
                }
                ReduceOp::Last => "`last` keeps the value of the last item in input order",
                _ => continue,
            };
            errors.push(err(
                r.op_span,
                format!("{what}, which `key` gives up across keys\nhelp: reduce `{}` with `merge` into a map keyed by the same key, or drop `key`", r.var),
            ));
        }
    }
    if let Some(w) = &o.weight {
        if !l.is_async() && !matches!(o.backend(), Backend::Pool | Backend::Timely) {
            errors.push(err(
                w.span(),
                format!("`weight` makes an item wait for its share of `limit`, which suits the pool and async backends; this loop runs on `{}`, where a waiting item would hold a CPU thread idle\nhelp: add `backend = pool`, or give heavy items a batch of their own instead", o.backend()),
            ));
        }
    }

    // `break` and `return` keep their sequential meaning (the run is cut at the first
    // item in input order that leaves); only a label outside the loop cannot be reached,
    // and the collect form has no statement to leave from.
    let collect = matches!(l.body, crate::model::LoopBody::Collect(_));
    for span in &l.facts.returns {
        if collect {
            errors.push(err(
                *span,
                "`return` in the collect form: its value would be one item's, not the collected one\nhelp: write the loop with a body (`for x in xs { … }`) to return from it, or collect `Option`s and look for the first `Some` after the loop",
            ));
        }
    }
    let own = l.label.as_ref().map(|l| l.name.ident.to_string());
    for (span, label) in &l.facts.breaks {
        match label {
            Some(label) if own.as_deref() != Some(&label.ident.to_string()) => {
                errors.push(err(
                    *span,
                    format!("`break {label}` cannot reach a loop outside the parallel loop\nhelp: `break` (or `break` with the parallel loop's own label) ends the parallel loop at this item, as it would sequentially; to end an enclosing loop too, set a flag here and test it after the parallel loop"),
                ));
            }
            _ if collect => errors.push(err(
                *span,
                "`break` in the collect form: the collected value would stop at this item\nhelp: write the loop with a body (`for x in xs { out.push(…) }` with `reduce(out: append)`) to break out of it",
            )),
            _ => {}
        }
    }
    for (span, label) in &l.facts.outer_continues {
        errors.push(err(
            *span,
            format!("`continue {label}` cannot reach a loop outside the parallel loop\nhelp: `continue` skips the rest of this item; to stop the loop, return an error with `?`"),
        ));
    }

    let with_names: Vec<String> = o
        .with
        .iter()
        .flatten()
        .map(|w| w.name.to_string())
        .collect();
    for a in &l.facts.outer_assignments {
        let name = a.root.to_string();
        if let Some(r) = o.reduce.iter().flatten().find(|r| r.var == a.root) {
            check_reduced_assignment(a, &r.op, errors);
            continue;
        }
        if with_names.contains(&name) {
            continue;
        }
        if name != "self" && a.indexed {
            errors.push(indexed_write(a));
            continue;
        }
        if name == "self" || !a.whole {
            errors.push(err(
                a.span,
                format!("a parallel body cannot write into `{name}`, which every item shares\nhelp: reduce a whole local instead: `let mut part = …;` before the loop, `reduce(part: OP)` on it, and write `part` back after the loop; the operators are {REDUCE_OPS}"),
            ));
            continue;
        }
        let suggestion = match (a.op, &a.rhs) {
            (Some(op @ ("+" | "*" | "&" | "|" | "^")), _) => format!("add `reduce({name}: {op})` to the options"),
            (Some("-"), _) => format!("`-=` is not associative: add `reduce({name}: +)` and add the negated values, or reduce a separate sum and subtract it after the loop"),
            (Some(op), _) => format!("`{op}=` is not an associative reduction; collect the values with `reduce(values: append)` and fold them after the loop"),
            (None, Some(Rhs::Replaces)) => format!("add `reduce({name}: last)` to the options: `{name}` ends with the value assigned by the last item, in input order, that assigns it"),
            (None, Some(Rhs::Step(op))) => format!("add `reduce({name}: {op})` to the options"),
            (None, _) => format!("name it in a reduction, e.g. `reduce({name}: max)` when the body writes `{name} = {name}.max(…)`; the operators are {REDUCE_OPS}"),
        };
        errors.push(err(
            a.span,
            format!("the parallel body assigns to `{name}`, which every item shares, without a reduction\nhelp: {suggestion}"),
        ));
    }
    check_unreduced_calls(l, &with_names, errors);
    for r in o.reduce.iter().flatten() {
        for c in l.facts.outer_calls.iter().filter(|c| c.root == r.var) {
            check_reduced_call(c, &r.op, errors);
        }
        if matches!(r.op, ReduceOp::Last) {
            for (_, span) in l.facts.outer_reads.iter().filter(|(x, _)| *x == r.var) {
                errors.push(err(
                    *span,
                    format!("the body reads `{x}`, but under `last` a batch's copy of `{x}` has no value until one of its items assigns it, so a read cannot see what the item before it in input order assigned\nhelp: read a copy made before the loop (`let {x}_before = {x};`), or reduce `{x}` with the operator of its update", x = r.var),
                ));
            }
        }
    }

    if let Context::Function {
        error_not_send: Some(span),
        ..
    } = &l.context
    {
        if !l.facts.tries.is_empty() {
            errors.push(err(
                *span,
                "the loop's `?` sends its error across threads (from the lane that ran the item to the caller), but `Box<dyn Error>` is not `Send`\nhelp: return `Box<dyn Error + Send + Sync>`: `?` converts every error type that is `Send + Sync` into it, as it does for `Box<dyn Error>`",
            ));
        }
    }
    if let Context::Function {
        returns_option: true,
        ..
    } = l.context
    {
        for span in &l.facts.tries {
            errors.push(err(
                *span,
                "`?` on `Option` in a parallel loop is not supported\nhelp: make the function return a `Result` (for example with `.ok_or(MyError)?`), or mark the loop `#[serial]`",
            ));
        }
    }

    if let Some(span) = o.keep_going {
        if l.facts.tries.is_empty() {
            errors.push(err(
                span,
                "`keep_going` has no effect: the body has no `?`, so no item can fail\nhelp: remove `keep_going`, or return errors from the body with `?`",
            ));
        }
    }

    if let Some(reduce) = &o.reduce {
        if reduce.len() > MAX_REDUCTIONS {
            errors.push(err(reduce[MAX_REDUCTIONS].var.span(), format!("a loop takes at most {MAX_REDUCTIONS} reductions\nhelp: group variables into a struct that implements `bounded::reduce::Merge` and reduce it with `merge`")));
        }
        for (i, r) in reduce.iter().enumerate() {
            if reduce[..i].iter().any(|p| p.var == r.var) {
                errors.push(err(r.var.span(), format!("`{}` is reduced twice", r.var)));
            }
            if with_names.contains(&r.var.to_string()) {
                errors.push(err(r.var.span(), format!("`{}` is both per-worker state (`with`) and a reduction\nhelp: rename one of them", r.var)));
            }
            if let ReduceOp::Fold(p) = &r.op {
                if p.segments.len() == 1
                    && p.segments[0]
                        .ident
                        .to_string()
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_uppercase())
                {
                    errors.push(err(r.op_span, format!("`{}` is not a reduction operator\nhelp: the operators are {REDUCE_OPS}", p.segments[0].ident)));
                }
            }
        }
    }
    if let Some(with) = &o.with {
        for (i, w) in with.iter().enumerate() {
            if with[..i].iter().any(|p| p.name == w.name) {
                errors.push(err(
                    w.name.span(),
                    format!("`{}` is declared twice in `with`\nhelp: give each per-worker state its own name", w.name),
                ));
            }
        }
    }
}

/// Operators spelled as the attribute spells them, which a step can name.
const BUILTIN_STEPS: [&str; 9] = ["+", "*", "&", "|", "^", "&&", "||", "min", "max"];

/// Whether `op` reduces a `spelled` step to the sequential answer (`x += e` and
/// `x = x + e` are `+` steps, `x = x.max(e)` a `max` step).
fn fits(op: &ReduceOp, spelled: &str) -> bool {
    match op {
        ReduceOp::Sum => spelled == "+",
        ReduceOp::Product => spelled == "*",
        ReduceOp::BitAnd | ReduceOp::And => matches!(spelled, "&" | "&&"),
        ReduceOp::BitOr | ReduceOp::Or => matches!(spelled, "|" | "||"),
        ReduceOp::BitXor => spelled == "^",
        ReduceOp::Min => spelled == "min",
        ReduceOp::Max => spelled == "max",
        // Numbers merge by adding; strings append (`s += "…"`).
        ReduceOp::Merge | ReduceOp::Append => spelled == "+",
        ReduceOp::Extend | ReduceOp::Last => false,
        ReduceOp::Fold(_) => true,
    }
}

/// An assignment to a reduced variable: a replacement needs `last`, a step needs its
/// own operator, and under `last` nothing may read the variable.
fn check_reduced_assignment(a: &Assignment, op: &ReduceOp, errors: &mut Vec<syn::Error>) {
    let x = &a.root;
    let shown = match a.op {
        Some(c) => format!("`{x} {c}= …`"),
        None => format!("`{x} = …`"),
    };
    // The operator the statement spells, if it spells one.
    let spelled = match (a.op, &a.rhs) {
        (Some("-"), _) => Some("+".to_owned()),
        (Some(c), _) => BUILTIN_STEPS.contains(&c).then(|| c.to_owned()),
        (None, Some(Rhs::Step(s))) => Some(s.clone()),
        _ => None,
    };
    if let ReduceOp::Last = op {
        if !a.whole {
            errors.push(err(
                a.span,
                format!("this assignment writes into `{x}`, but under `last` a batch's copy of `{x}` has no value until one of its items assigns the whole of it\nhelp: assign the whole variable, `{x} = …`, or reduce `{x}` with another operator"),
            ));
            return;
        }
        if a.op.is_none() && a.rhs == Some(Rhs::Replaces) {
            return;
        }
        let help = match &spelled {
            Some(s) => format!("{shown} is a `{s}` step: write `reduce({x}: {s})`"),
            None => format!("assign without reading `{x}`, or reduce it with the operator of the update (`{x} = {x}.max(e)` is `max`)"),
        };
        errors.push(err(
            a.span,
            format!("{shown} reads `{x}`, but under `last` a batch's copy of `{x}` has no value until one of its items assigns it, so it cannot see what the item before it in input order assigned\nhelp: {help}"),
        ));
        return;
    }
    if !a.whole {
        return;
    }
    if a.op.is_none() && a.rhs == Some(Rhs::Replaces) {
        let op = op.spelling();
        errors.push(err(
            a.span,
            format!("{shown} replaces `{x}` without reading it, but `reduce({x}: {op})` combines every batch's copy of `{x}` with `{op}`, so the loop would not end with the value of the last assignment\nhelp: write `reduce({x}: last)`: `{x}` ends with the value assigned by the last item, in input order, that assigns it"),
        ));
        return;
    }
    if let Some(s) = spelled.filter(|s| BUILTIN_STEPS.contains(&s.as_str())) {
        if !fits(op, &s) {
            errors.push(err(
                a.span,
                format!("{shown} is a `{s}` step, but `{x}` is reduced with `{}`, which would not give the sequential answer\nhelp: write `reduce({x}: {s})`", op.spelling()),
            ));
        }
    }
}

/// Calls that remove entries: no batch can remove what other batches added.
const REMOVALS: [&str; 15] = [
    "remove",
    "remove_entry",
    "retain",
    "clear",
    "pop",
    "pop_front",
    "pop_back",
    "pop_first",
    "pop_last",
    "truncate",
    "drain",
    "swap_remove",
    "take",
    "split_off",
    "extract_if",
];

/// A method call on a reduced collection: what each collection operator can reduce.
fn check_reduced_call(c: &Call, op: &ReduceOp, errors: &mut Vec<syn::Error>) {
    let (m, method) = (&c.root, c.method.to_string());
    let collection = matches!(op, ReduceOp::Merge | ReduceOp::Extend | ReduceOp::Append);
    if let ReduceOp::Last = op {
        errors.push(err(
            c.span,
            format!("`{m}.{method}(…)` works on `{m}`, but under `last` a batch's copy of `{m}` has no value until one of its items assigns it\nhelp: under `last` the body only assigns `{m} = …`; a collection that items add to reduces with `append`, `merge` or `extend`"),
        ));
        return;
    }
    if collection && REMOVALS.contains(&method.as_str()) {
        errors.push(err(
            c.span,
            format!("`{m}.{method}(…)` removes entries, but a batch's copy of `{m}` holds only what its own items added: what earlier items added is in other batches, out of its reach\nhelp: collect what to remove (`reduce(removed: append)`) and remove it from `{m}` after the loop, or mark the loop `#[serial]`"),
        ));
        return;
    }
    match (op, method.as_str(), c.used) {
        (ReduceOp::Merge | ReduceOp::Extend, "entry", CallUse::KeepsFirst) => {
            let combined = if let ReduceOp::Merge = op {
                "merges the values of equal keys"
            } else {
                "lets later entries replace earlier ones"
            };
            errors.push(err(
                c.span,
                format!("`{m}.entry(…).or_insert(…)` on its own keeps the value of the first item that reaches a key, but each batch keeps its own first value and `{}` {combined}\nhelp: no reduction keeps the earliest entry: collect `(key, value)` pairs with `reduce(pairs: append)` (they keep input order) and keep the first of each key after the loop, or mark the loop `#[serial]`", op.spelling()),
            ));
        }
        (ReduceOp::Merge, "insert", _) if c.args == 2 => errors.push(err(
            c.span,
            format!("`{m}.insert(…)` replaces the value of an equal key, but `merge` merges the values of equal keys (numbers add), so the loop would not end with the last inserted value\nhelp: write `reduce({m}: extend)`: later items' entries replace earlier ones, in input order, as `insert` does in the sequential loop"),
        )),
        (ReduceOp::Merge, _, CallUse::Overwritten) => errors.push(err(
            c.span,
            format!("this assignment through `{m}.{method}(…)` replaces the value of a key, but `merge` merges the values of equal keys (numbers add)\nhelp: write `{m}.insert(key, value)` and `reduce({m}: extend)`: later items' entries replace earlier ones, in input order"),
        )),
        (ReduceOp::Extend, "entry" | "get_mut", CallUse::Other) => errors.push(err(
            c.span,
            format!("`{m}.{method}(…)` reads the value an earlier item left under the key, but under `extend` each batch starts from an empty `{m}` and its entries replace the earlier ones\nhelp: write `reduce({m}: merge)`: the values of equal keys merge (numbers add), so `*{m}.entry(key).or_insert(0) += 1` counts"),
        )),
        (ReduceOp::Append, "insert", _) if c.args == 2 => errors.push(err(
            c.span,
            format!("`{m}.insert(…)` puts a value at a position of this batch's own part of `{m}`, but `append` concatenates the batches' parts in input order, so the position is not the sequential loop's\nhelp: `push` the value (the result keeps input order) and reorder the result after the loop, or mark the loop `#[serial]`"),
        )),
        _ => {}
    }
}

/// `xs[i] = …` on an outer slice: every item would write through the one shared `xs`;
/// iterating the elements mutably hands each item its own.
fn indexed_write(a: &Assignment) -> syn::Error {
    let name = &a.root;
    err(
        a.span,
        format!("a parallel body cannot write into `{name}` by index: every item shares `{name}`\nhelp: iterate the elements mutably, `for x in {name}.iter_mut()` (with `.enumerate()` when the body needs the index), and write `*x = …`; each item then owns its element"),
    )
}

/// The reduction that makes a known mutating method call on an outer collection give
/// the sequential answer, by the method called.
fn operator_for_method(method: &str, args: usize) -> Option<&'static str> {
    match (method, args) {
        ("push" | "push_str" | "push_back" | "extend_from_slice" | "append", _) => Some("append"),
        ("insert", 1 | 2) => Some("extend"),
        ("entry", 1) => Some("merge"),
        _ => None,
    }
}

/// Calls of well-known `&mut self` methods (`out.push(x)`, `m.insert(k, v)`,
/// `m.entry(k)`) on an outer variable that no `reduce` clause or `with` names: every
/// item would change the one shared value.
fn check_unreduced_calls(l: &ParLoop, with_names: &[String], errors: &mut Vec<syn::Error>) {
    let reduced = |x: &Ident| l.options.reduce.iter().flatten().any(|r| r.var == *x);
    for c in &l.facts.outer_calls {
        let name = c.root.to_string();
        if name == "self" || reduced(&c.root) || with_names.contains(&name) {
            continue;
        }
        let Some(op) = operator_for_method(&c.method.to_string(), c.args) else {
            continue;
        };
        errors.push(err(
            c.span,
            format!("`{name}.{m}(…)` changes `{name}`, which every item of the parallel body shares, without a reduction\nhelp: add `reduce({name}: {op})` to the options: each batch then works on its own `{name}`, and the parts are combined in input order", m = c.method),
        ));
    }
}
