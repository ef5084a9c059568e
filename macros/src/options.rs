//! The option table: `key = value`, `key(...)` and flags, shared by `#[bounded]`, a loop's
//! own `#[bounded(...)]` and `par_bounded!`.
//!
//! Parsing only builds [`Options`]: it rejects unknown and duplicate keys (listing the
//! valid ones) and values of the wrong form, each at the user's span. Whether a
//! combination makes sense for the loop is `validate.rs`'s business.

// The option values are syntax trees built once per macro call: boxing the large
// variants would only add indirection.
#![allow(clippy::large_enum_variant)]

use crate::words::{Backend, OnFull, Schedule, Word};
use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{parenthesized, Expr, Ident, Lit, LitStr, Path, Token};

/// Every key `#[bounded]` and `par_bounded!` know, in the order the book lists them.
pub const KEYS: &[&str] = &[
    "limit",
    "batch",
    "schedule",
    "backend",
    "pool",
    "queue",
    "on_full",
    "with",
    "reduce",
    "if",
    "keep_going",
    "key",
    "weight",
    "rate",
    "burst",
    "timeout",
    "cancel",
    "progress",
    "name",
    "crate",
];

/// Option keys that belong to backends this version does not have yet, with the
/// reason given in their error.
pub const PLANNED: &[(&str, &str)] = &[];

/// What one `#[bounded(...)]` or `par_bounded!(...;` said. `None` means "not given here";
/// a loop's own options override the function's key by key.
#[derive(Default, Clone)]
pub struct Options {
    pub limit: Option<LimitOpt>,
    pub batch: Option<BatchOpt>,
    pub schedule: Option<Choice<Schedule>>,
    pub backend: Option<Choice<Backend>>,
    pub reduce: Option<Vec<Reduction>>,
    pub with: Option<Vec<WithState>>,
    pub parallel_if: Option<Expr>,
    pub keep_going: Option<Span>,
    pub name: Option<LitStr>,
    /// `progress` or `progress = "label"`: the key's span and the label.
    pub progress: Option<(Span, Option<LitStr>)>,
    pub krate: Option<Path>,
    /// `pool = EXPR`: a `bounded::Pool` (or anything that derefs to one).
    pub pool: Option<Expr>,
    /// `queue = EXPR`
    pub queue: Option<Expr>,
    /// `on_full = block | drop | reject | caller_runs`
    pub on_full: Option<Choice<OnFull>>,
    /// `timeout = DURATION`
    pub timeout: Option<(Span, Duration)>,
    /// `cancel = EXPR`: a `bounded::CancelToken`.
    pub cancel: Option<Expr>,
    /// `weight = EXPR`: an item's share of `limit`.
    pub weight: Option<Expr>,
    /// `key = EXPR`: items with equal keys run on the same lane, in input order.
    pub key: Option<Expr>,
    /// `rate = N / s` or `rate = EXPR` (a `bounded::Rate`), with the key's span.
    pub rate: Option<(Span, RateOpt)>,
    /// `burst = EXPR`, with the key's span.
    pub burst: Option<(Span, Expr)>,
    /// Keys that exist but are not available in this version, rejected by validation.
    pub planned: Vec<Ident>,
}

/// `limit = …`
#[derive(Clone)]
pub enum LimitOpt {
    Expr(Expr),
    Cpus {
        factor: Option<Expr>,
    },
    Little {
        rate: Expr,
        latency: Duration,
    },
    /// `adaptive(max = M, min = m, initial = i)`: each an expression; `span` is the
    /// whole call's.
    Adaptive {
        span: Span,
        max: Expr,
        min: Option<Expr>,
        initial: Option<Expr>,
    },
}

/// `rate = …`
#[derive(Clone)]
pub enum RateOpt {
    /// `N / s`, `N / ms`, `N / min`: `N` a literal or an expression (a `u32`).
    PerUnit { items: Expr, unit: RateUnit },
    /// A `bounded::Rate` value.
    Expr(Expr),
}

/// The unit after the `/` of `rate = N / unit`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum RateUnit {
    Second,
    Millisecond,
    Minute,
}

impl RateUnit {
    /// The runtime constructor of a `Rate` in this unit.
    pub fn constructor(self) -> &'static str {
        match self {
            RateUnit::Second => "per_second",
            RateUnit::Millisecond => "per_millisecond",
            RateUnit::Minute => "per_minute",
        }
    }
}

/// `batch = …`
#[derive(Clone)]
pub enum BatchOpt {
    Auto,
    Expr(Expr),
}

/// A word chosen from a fixed list (`schedule = dynamic`), typed, with its span.
#[derive(Clone)]
pub struct Choice<W> {
    pub value: W,
    pub span: Span,
}

/// A duration: `200ms`, `2s`, `1.5s`, or any expression of type `Duration`.
#[derive(Clone)]
pub enum Duration {
    Literal { nanos: u128 },
    Expr(Expr),
}

/// `reduce(VAR: OP)`
#[derive(Clone)]
pub struct Reduction {
    pub var: Ident,
    pub op: ReduceOp,
    pub op_span: Span,
}

/// The operators of `reduce`.
#[derive(Clone)]
pub enum ReduceOp {
    Sum,
    Product,
    BitAnd,
    BitOr,
    BitXor,
    And,
    Or,
    Min,
    Max,
    Append,
    Merge,
    Extend,
    Last,
    Fold(Path),
}

impl ReduceOp {
    /// The runtime's unit struct for this operator (`op::Sum` …).
    pub fn runtime_name(&self) -> &'static str {
        match self {
            ReduceOp::Sum => "Sum",
            ReduceOp::Product => "Product",
            ReduceOp::BitAnd => "BitAnd",
            ReduceOp::BitOr => "BitOr",
            ReduceOp::BitXor => "BitXor",
            ReduceOp::And => "All",
            ReduceOp::Or => "Any",
            ReduceOp::Min => "Min",
            ReduceOp::Max => "Max",
            ReduceOp::Append => "Append",
            ReduceOp::Merge => "Merge",
            ReduceOp::Extend => "Extend",
            ReduceOp::Last => "Last",
            ReduceOp::Fold(_) => "Fold",
        }
    }

    /// The operator as the attribute spells it (`+`, `max`, a path's last segment).
    pub fn spelling(&self) -> String {
        match self {
            ReduceOp::Sum => "+",
            ReduceOp::Product => "*",
            ReduceOp::BitAnd => "&",
            ReduceOp::BitOr => "|",
            ReduceOp::BitXor => "^",
            ReduceOp::And => "&&",
            ReduceOp::Or => "||",
            ReduceOp::Min => "min",
            ReduceOp::Max => "max",
            ReduceOp::Append => "append",
            ReduceOp::Merge => "merge",
            ReduceOp::Extend => "extend",
            ReduceOp::Last => "last",
            ReduceOp::Fold(p) => {
                let segments: Vec<String> =
                    p.segments.iter().map(|s| s.ident.to_string()).collect();
                return segments.join("::");
            }
        }
        .to_owned()
    }
}

/// `with(NAME = EXPR)`
#[derive(Clone)]
pub struct WithState {
    pub name: Ident,
    pub init: Expr,
}

impl Parse for Options {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut options = Options::default();
        let mut seen: Vec<Ident> = Vec::new();
        let mut errors: Option<syn::Error> = None;
        while !input.is_empty() {
            let key = Ident::parse_any(input)?;
            let name = key.to_string();
            if let Some(first) = seen.iter().find(|k| **k == name) {
                let mut e = syn::Error::new(key.span(), format!("duplicate option `{name}`"));
                e.combine(syn::Error::new(
                    first.span(),
                    format!("`{name}` is first given here"),
                ));
                return Err(e);
            }
            seen.push(key.clone());
            if let Err(e) = options.parse_value(&key, input) {
                // A bad value of one key should not hide the others' errors.
                match errors.as_mut() {
                    Some(all) => all.combine(e),
                    None => errors = Some(e),
                }
                skip_to_comma(input);
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        match errors {
            Some(e) => Err(e),
            None => Ok(options),
        }
    }
}

fn skip_to_comma(input: ParseStream) {
    let _ = input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tt, next)) = rest.token_tree() {
            if let proc_macro2::TokenTree::Punct(p) = &tt {
                if p.as_char() == ',' {
                    return Ok(((), rest));
                }
            }
            rest = next;
        }
        Ok(((), rest))
    });
}

fn unknown_key(key: &Ident) -> syn::Error {
    let valid = KEYS
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    syn::Error::new(
        key.span(),
        format!("unknown option `{key}`\nhelp: the options are {valid}"),
    )
}

impl Options {
    fn parse_value(&mut self, key: &Ident, input: ParseStream) -> syn::Result<()> {
        match key.to_string().as_str() {
            "limit" => {
                eq(input, key)?;
                self.limit = Some(parse_limit(input)?);
            }
            "batch" => {
                eq(input, key)?;
                let e: Expr = input.parse()?;
                self.batch = Some(match ident_of(&e) {
                    Some(i) if i == "auto" => BatchOpt::Auto,
                    _ => BatchOpt::Expr(e),
                });
            }
            "schedule" => {
                eq(input, key)?;
                self.schedule = Some(choice(input, Schedule::ALL)?);
            }
            "backend" => {
                eq(input, key)?;
                // `async` is a keyword; `Ident::parse_any` accepts it.
                self.backend = Some(choice(input, Backend::ALL)?);
            }
            "reduce" => {
                let content;
                parenthesized!(content in input);
                let list = Punctuated::<Reduction, Token![,]>::parse_terminated(&content)?;
                if list.is_empty() {
                    return Err(syn::Error::new(
                        key.span(),
                        "`reduce()` names no variable\nhelp: write `reduce(total: +)`, one `VAR: OP` for each outer variable the body updates",
                    ));
                }
                self.reduce = Some(list.into_iter().collect());
            }
            "with" => {
                let content;
                parenthesized!(content in input);
                let list = Punctuated::<WithState, Token![,]>::parse_terminated(&content)?;
                if list.is_empty() {
                    return Err(syn::Error::new(
                        key.span(),
                        "`with()` names no state\nhelp: write `with(buf = Vec::new())`",
                    ));
                }
                self.with = Some(list.into_iter().collect());
            }
            "if" => {
                eq(input, key)?;
                self.parallel_if = Some(input.parse()?);
            }
            "keep_going" => {
                if input.peek(Token![=]) {
                    return Err(syn::Error::new(
                        input.span(),
                        "`keep_going` takes no value\nhelp: write `keep_going` to run every item even after errors",
                    ));
                }
                self.keep_going = Some(key.span());
            }
            "name" => {
                eq(input, key)?;
                let at = value_span(input, key);
                self.name = Some(input.parse().map_err(|e| {
                    syn::Error::new(
                        at.unwrap_or(e.span()),
                        "`name` takes a string literal, like `name = \"resize-images\"`",
                    )
                })?);
            }
            "progress" => {
                let label = if input.peek(Token![=]) {
                    input.parse::<Token![=]>()?;
                    let at = value_span(input, key);
                    Some(input.parse().map_err(|e| {
                        syn::Error::new(
                            at.unwrap_or(e.span()),
                            "`progress` takes a string literal label, like `progress = \"resize\"`, or no value\nhelp: write `progress` to label the bar with the loop's name",
                        )
                    })?)
                } else {
                    None
                };
                self.progress = Some((key.span(), label));
            }
            "crate" => {
                eq(input, key)?;
                self.krate = Some(Path::parse_mod_style(input)?);
            }
            "pool" => {
                eq(input, key)?;
                self.pool = Some(input.parse()?);
            }
            "queue" => {
                eq(input, key)?;
                self.queue = Some(input.parse()?);
            }
            "on_full" => {
                eq(input, key)?;
                self.on_full = Some(choice(input, OnFull::ALL)?);
            }
            "timeout" => {
                eq(input, key)?;
                let e: Expr = input.parse()?;
                self.timeout = Some((key.span(), parse_duration(&e)?));
            }
            "cancel" => {
                eq(input, key)?;
                self.cancel = Some(input.parse()?);
            }
            "weight" => {
                eq(input, key)?;
                self.weight = Some(input.parse()?);
            }
            "key" => {
                eq(input, key)?;
                self.key = Some(input.parse()?);
            }
            "rate" => {
                eq(input, key)?;
                let e: Expr = input.parse()?;
                self.rate = Some((key.span(), parse_rate(e)?));
            }
            "burst" => {
                eq(input, key)?;
                self.burst = Some((key.span(), input.parse()?));
            }
            other if PLANNED.iter().any(|(k, _)| *k == other) => {
                // Consume the value so the rest of the list still parses.
                if input.peek(Token![=]) {
                    input.parse::<Token![=]>()?;
                    input.parse::<Expr>()?;
                } else if input.peek(syn::token::Paren) {
                    let _content;
                    parenthesized!(_content in input);
                }
                self.planned.push(key.clone());
            }
            _ => return Err(unknown_key(key)),
        }
        Ok(())
    }
}

pub fn eq(input: ParseStream, key: &Ident) -> syn::Result<()> {
    if input.peek(Token![=]) {
        input.parse::<Token![=]>()?;
        Ok(())
    } else {
        Err(syn::Error::new(
            key.span(),
            format!("`{key}` needs a value: `{key} = …`"),
        ))
    }
}

fn ident_of(e: &Expr) -> Option<&Ident> {
    match e {
        Expr::Path(p) if p.qself.is_none() && p.attrs.is_empty() => p.path.get_ident(),
        _ => None,
    }
}

/// Where to report a missing value: at the key when nothing follows the `=` (the
/// parser's own error would point past the end of the options, at the whole call).
fn value_span(input: ParseStream, key: &Ident) -> Option<Span> {
    (input.is_empty() || input.peek(Token![,]) || input.peek(Token![;])).then(|| key.span())
}

/// One of the words `valid` (all of a [`Word`]'s, or the ones an attribute allows).
pub fn choice<W: Word>(input: ParseStream, valid: &[(&str, W)]) -> syn::Result<Choice<W>> {
    let ident = Ident::parse_any(input)?;
    let spelled = ident.to_string();
    match valid.iter().find(|(w, _)| *w == spelled) {
        Some((_, value)) => Ok(Choice {
            value: *value,
            span: ident.span(),
        }),
        None => {
            let list = valid
                .iter()
                .map(|(w, _)| format!("`{w}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let key = W::KEY;
            Err(syn::Error::new(
                ident.span(),
                format!("unknown {key} `{ident}`\nhelp: `{key}` is one of {list}"),
            ))
        }
    }
}

pub fn parse_limit(input: ParseStream) -> syn::Result<LimitOpt> {
    let e: Expr = input.parse()?;
    if let Some(i) = ident_of(&e) {
        if i == "cpus" {
            return Ok(LimitOpt::Cpus { factor: None });
        }
    }
    if let Expr::Binary(b) = &e {
        if let (syn::BinOp::Mul(_), Some(i)) = (&b.op, ident_of(&b.left)) {
            if i == "cpus" {
                return Ok(LimitOpt::Cpus {
                    factor: Some((*b.right).clone()),
                });
            }
        }
    }
    if let Expr::Call(call) = &e {
        if let Some(f) = ident_of(&call.func) {
            if f == "little" {
                return parse_little(call, e.span());
            }
            if f == "adaptive" {
                return parse_adaptive(call, e.span());
            }
        }
    }
    Ok(LimitOpt::Expr(e))
}

fn parse_adaptive(call: &syn::ExprCall, span: Span) -> syn::Result<LimitOpt> {
    let usage = "write `adaptive(max = 64)`, optionally with `min = 1` and `initial = 4`: the limit moves within min..=max with measured latency";
    let (mut max, mut min, mut initial) = (None, None, None);
    for arg in &call.args {
        let Expr::Assign(a) = arg else {
            return Err(syn::Error::new(
                arg.span(),
                format!("`adaptive` takes named arguments\nhelp: {usage}"),
            ));
        };
        let name = ident_of(&a.left).map(|i| i.to_string());
        let slot = match name.as_deref() {
            Some("max") => &mut max,
            Some("min") => &mut min,
            Some("initial") => &mut initial,
            other => {
                let what = other.map_or("this argument".to_owned(), |n| format!("`{n}`"));
                return Err(syn::Error::new(
                    a.left.span(),
                    format!("`adaptive` has no argument {what}: it takes `max`, `min` and `initial`\nhelp: {usage}"),
                ));
            }
        };
        if slot.is_some() {
            return Err(syn::Error::new(
                a.left.span(),
                format!("`adaptive` takes each of `max`, `min` and `initial` once\nhelp: {usage}"),
            ));
        }
        *slot = Some((*a.right).clone());
    }
    match max {
        Some(max) => Ok(LimitOpt::Adaptive {
            span,
            max,
            min,
            initial,
        }),
        None => Err(syn::Error::new(
            span,
            format!("`adaptive` needs `max`: the most items the limiter may ever run at once\nhelp: {usage}"),
        )),
    }
}

fn parse_little(call: &syn::ExprCall, span: Span) -> syn::Result<LimitOpt> {
    let usage =
        "write `little(rate = 500, latency = 200ms)`: items per second times seconds per item";
    let mut rate = None;
    let mut latency = None;
    for arg in &call.args {
        let Expr::Assign(a) = arg else {
            return Err(syn::Error::new(
                arg.span(),
                format!("`little` takes named arguments\nhelp: {usage}"),
            ));
        };
        match ident_of(&a.left).map(|i| i.to_string()).as_deref() {
            Some("rate") if rate.is_none() => rate = Some((*a.right).clone()),
            Some("latency") if latency.is_none() => latency = Some(parse_duration(&a.right)?),
            _ => {
                return Err(syn::Error::new(
                    a.left.span(),
                    format!("`little` takes `rate` and `latency`, once each\nhelp: {usage}"),
                ))
            }
        }
    }
    match (rate, latency) {
        (Some(rate), Some(latency)) => Ok(LimitOpt::Little { rate, latency }),
        _ => Err(syn::Error::new(
            span,
            format!("`little` needs both `rate` and `latency`\nhelp: {usage}"),
        )),
    }
}

const RATE_USAGE: &str = "write `rate = 50 / s` (also `/ ms`, `/ min`), or `rate = EXPR` with a `bounded::Rate` such as `Rate::per_second(50)`";

/// `N / s`, `N / ms`, `N / min`, or an expression of type `bounded::Rate`. A division by
/// anything but a unit, and a bare number, are errors at the user's span.
pub fn parse_rate(e: Expr) -> syn::Result<RateOpt> {
    match e {
        Expr::Binary(syn::ExprBinary {
            op: syn::BinOp::Div(_),
            left,
            right,
            ..
        }) => {
            let unit = match ident_of(&right).map(|i| i.to_string()).as_deref() {
                Some("s") => RateUnit::Second,
                Some("ms") => RateUnit::Millisecond,
                Some("min") => RateUnit::Minute,
                _ => {
                    let spelled = quote::ToTokens::to_token_stream(&*right).to_string();
                    return Err(syn::Error::new(
                        right.span(),
                        format!("`rate` counts items per `s`, `ms` or `min`, and `{spelled}` is not one of them\nhelp: {RATE_USAGE}"),
                    ));
                }
            };
            Ok(RateOpt::PerUnit { items: *left, unit })
        }
        Expr::Lit(ref l) if matches!(l.lit, Lit::Int(_) | Lit::Float(_)) => Err(syn::Error::new(
            e.span(),
            format!(
                "`rate` needs a unit of time: items per `s`, `ms` or `min`\nhelp: {RATE_USAGE}"
            ),
        )),
        e => Ok(RateOpt::Expr(e)),
    }
}

/// `200ms`, `2s`, `1.5s`, `50us`, `10ns`, `1min`, or an expression of type `Duration`.
pub fn parse_duration(e: &Expr) -> syn::Result<Duration> {
    let Expr::Lit(lit) = e else {
        return Ok(Duration::Expr(e.clone()));
    };
    let (value, suffix): (f64, &str) = match &lit.lit {
        Lit::Int(i) => (i.base10_parse::<u64>()? as f64, i.suffix()),
        Lit::Float(f) => (f.base10_parse::<f64>()?, f.suffix()),
        _ => return Ok(Duration::Expr(e.clone())),
    };
    let nanos_per_unit = match suffix {
        "ns" => 1.0,
        "us" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "min" => 60e9,
        _ => {
            return Err(syn::Error::new(
                lit.span(),
                "a duration needs a unit: `ns`, `us`, `ms`, `s` or `min`, like `200ms`",
            ))
        }
    };
    Ok(Duration::Literal {
        nanos: (value * nanos_per_unit).round() as u128,
    })
}

impl Parse for Reduction {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let var: Ident = input.parse()?;
        if !input.peek(Token![:]) || input.peek(Token![::]) {
            return Err(syn::Error::new(
                var.span(),
                format!("`reduce` needs an operator for `{var}`\nhelp: write `reduce({var}: +)`; the operators are + * & | ^ && || min max append merge extend last, or a path to `fn(T, T) -> T`"),
            ));
        }
        input.parse::<Token![:]>()?;
        let op_span = input.span();
        let op = if input.peek(Token![&&]) {
            input.parse::<Token![&&]>()?;
            ReduceOp::And
        } else if input.peek(Token![||]) {
            input.parse::<Token![||]>()?;
            ReduceOp::Or
        } else if input.peek(Token![+]) {
            input.parse::<Token![+]>()?;
            ReduceOp::Sum
        } else if input.peek(Token![*]) {
            input.parse::<Token![*]>()?;
            ReduceOp::Product
        } else if input.peek(Token![&]) {
            input.parse::<Token![&]>()?;
            ReduceOp::BitAnd
        } else if input.peek(Token![|]) {
            input.parse::<Token![|]>()?;
            ReduceOp::BitOr
        } else if input.peek(Token![^]) {
            input.parse::<Token![^]>()?;
            ReduceOp::BitXor
        } else {
            let path: Path = input.parse().map_err(|e| {
                syn::Error::new(e.span(), "expected a reduction operator: + * & | ^ && || min max append merge extend last, or a path to `fn(T, T) -> T`")
            })?;
            match path.get_ident().map(|i| i.to_string()).as_deref() {
                Some("min") => ReduceOp::Min,
                Some("max") => ReduceOp::Max,
                Some("append") => ReduceOp::Append,
                Some("merge") => ReduceOp::Merge,
                Some("extend") => ReduceOp::Extend,
                Some("last") => ReduceOp::Last,
                _ => ReduceOp::Fold(path),
            }
        };
        Ok(Reduction { var, op, op_span })
    }
}

impl Parse for WithState {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let name: Ident = input.parse()?;
        if !input.peek(Token![=]) {
            return Err(syn::Error::new(
                name.span(),
                format!("`with` needs an initial value for `{name}`\nhelp: write `with({name} = Vec::new())`; it runs once per worker"),
            ));
        }
        input.parse::<Token![=]>()?;
        Ok(WithState {
            name,
            init: input.parse()?,
        })
    }
}

impl Options {
    /// The backend the loop runs on: the one named, else `pool` when a pool is named,
    /// else `rayon`.
    pub fn backend(&self) -> Backend {
        match (&self.backend, &self.pool) {
            (Some(b), _) => b.value,
            (None, Some(_)) => Backend::Pool,
            (None, None) => Backend::Rayon,
        }
    }

    /// Whether the loop can stop on its own (and so fail with `Rejected` or `Cancelled`).
    pub fn rejects(&self) -> bool {
        self.on_full
            .as_ref()
            .is_some_and(|c| c.value == OnFull::Reject)
    }

    /// Whether a deadline or a token can cancel the loop.
    pub fn cancels(&self) -> bool {
        self.timeout.is_some() || self.cancel.is_some()
    }

    /// `self`, with every key given in `over` replaced (a loop's own options over the
    /// function's).
    pub fn overridden_by(&self, over: &Options) -> Options {
        fn pick<T: Clone>(a: &Option<T>, b: &Option<T>) -> Option<T> {
            b.clone().or_else(|| a.clone())
        }
        Options {
            limit: pick(&self.limit, &over.limit),
            batch: pick(&self.batch, &over.batch),
            schedule: pick(&self.schedule, &over.schedule),
            backend: pick(&self.backend, &over.backend),
            reduce: pick(&self.reduce, &over.reduce),
            with: pick(&self.with, &over.with),
            parallel_if: pick(&self.parallel_if, &over.parallel_if),
            keep_going: over.keep_going.or(self.keep_going),
            name: pick(&self.name, &over.name),
            progress: pick(&self.progress, &over.progress),
            krate: pick(&self.krate, &over.krate),
            pool: pick(&self.pool, &over.pool),
            queue: pick(&self.queue, &over.queue),
            on_full: pick(&self.on_full, &over.on_full),
            timeout: pick(&self.timeout, &over.timeout),
            cancel: pick(&self.cancel, &over.cancel),
            weight: pick(&self.weight, &over.weight),
            key: pick(&self.key, &over.key),
            rate: pick(&self.rate, &over.rate),
            burst: pick(&self.burst, &over.burst),
            planned: self.planned.iter().chain(&over.planned).cloned().collect(),
        }
    }
}
