//! Fuzzing the front end: mutated token streams into the three entry functions.
//!
//! The seeds are the real inputs of the project: every `#[bounded]`, `#[gate]` and
//! `par_bounded!` in the trybuild cases (`tests/ui/`) and in the expansion snapshots
//! (`tests.rs`). Each case takes one seed and applies a few mutations — insert a word, a
//! punctuation, a literal or a group; delete, duplicate, replace or swap a token; wrap a
//! run of tokens in a new group or unwrap one; splice in a run from another seed — at any
//! depth. Whatever comes out, an entry function must not panic, and its output must be
//! Rust: an item list for the attributes, an expression for `par_bounded!`. Every
//! `compile_error!` it emits must point at the user's tokens, not at the macro call,
//! unless its message is one that can only mean the whole call (see [`CALL_SITE_OK`]).
//!
//! `cargo test -p bounded-macros fuzz` runs a few hundred cases per entry point. Longer:
//!
//! ```text
//! BOUNDED_FUZZ_CASES=200000 cargo test -p bounded-macros --release fuzz -- --nocapture
//! BOUNDED_FUZZ_SECS=600 cargo test -p bounded-macros --release fuzz -- --nocapture
//! ```
//!
//! The first runs that many cases per entry point; the second keeps going for that many
//! seconds per entry point (the three tests run in parallel). Both print what they saw.
//! A failure prints the input as source text: keep it as a case in `tests/ui/fail/`.
//!
//! The mutated streams are built from tokens lexed once, so they have real spans (the
//! tests need `proc-macro2`'s `span-locations`) and the source map does not grow with the
//! case count. Two rules keep them to what the compiler's lexer can hand a macro: a
//! punctuation marked joint is followed by punctuation, and `'` starts a lifetime.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant};

use proc_macro2::{Delimiter, Group, Punct, Spacing, Span, TokenStream, TokenTree};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use quote::ToTokens;
use syn::parse::{Parse, ParseStream};
use syn::visit::Visit;

use crate::gate::gate_attr;
use crate::pipeline::{bounded_attr, par_bounded};

/// How the messages that may point at the whole attribute or macro call begin. The item
/// is not a function; or the input ended early, where syn's error has no token to point
/// at: "unexpected end of input, …", "expected `,`" for missing punctuation, and the
/// options' own wording of a missing value.
const CALL_SITE_OK: &[&str] = &[
    "`#[bounded]` goes on a function",
    "`#[gate]` goes on a function",
    "unexpected end of input",
    "expected ",
    "`name` takes a string literal",
];

/// Words the options, the loops and the bodies use, and some they do not (the tables
/// are split at whitespace).
const WORDS: &str = "\
    limit batch reduce with backend pool schedule queue on_full keep_going timeout \
    cancel name key weight coalesce crate if progress cpus auto little adaptive rate burst \
    latency serial rayon async static dynamic guided steal block reject drop caller_runs \
    merge extend last append max min for in loop while break continue return await self \
    Self super _ x xs total mut let fn move ms s us ns h bounded par_bounded gate r#for";

/// Punctuation, alone and joint, and the shapes a lifetime and a path take.
const PUNCTS: &str = "\
    = , ; : :: + - * / % & && | || ^ ! ? . .. ..= => -> < > <= == # @ $ ~ 'a 'static += \
    |= &=";

/// Literals of every kind, including the ones an option value might choke on.
const LITERALS: &str = "\
    0 1 4 8 -1 64 4096 18446744073709551615 18446744073709551616 \
    340282366920938463463374607431768211456 1_000 0x10 0b1 1u8 1usize 1.5 1e3 0.0 1ms \
    200ms 5s 30s 1us 3ns 10m 2h 1sec \"\" \"x\" \"thumbnails\" \"a-b\" r#\"raw\"# 'c' \
    b'a' b\"x\" c\"x\" true false";

/// Groups, empty and with something inside.
const GROUPS: &[&str] = &[
    "()",
    "[]",
    "{}",
    "(limit = 2)",
    "(total: +)",
    "{ x }",
    "[1, 2]",
    "(rate = 5, latency = 1s)",
    "{ for x in xs { } }",
    "(((())))",
];

#[derive(Clone)]
enum Node {
    Leaf(TokenTree),
    Group(Delimiter, Span, Vec<Node>),
}

fn nodes(tokens: TokenStream) -> Vec<Node> {
    tokens
        .into_iter()
        .map(|t| match t {
            TokenTree::Group(g) => Node::Group(g.delimiter(), g.span(), nodes(g.stream())),
            t => Node::Leaf(t),
        })
        .collect()
}

fn stream(nodes: &[Node]) -> TokenStream {
    nodes
        .iter()
        .map(|n| match n {
            Node::Leaf(t) => t.clone(),
            Node::Group(d, span, inner) => {
                let mut g = Group::new(*d, stream(inner));
                g.set_span(*span);
                TokenTree::Group(g)
            }
        })
        .collect()
}

/// Places in depth-first order: every node of every level and, with `ends`, the end of
/// every level (where an insertion appends).
fn places(nodes: &[Node], ends: bool) -> usize {
    nodes.len()
        + usize::from(ends)
        + nodes
            .iter()
            .map(|n| match n {
                Node::Group(_, _, inner) => places(inner, ends),
                Node::Leaf(_) => 0,
            })
            .sum::<usize>()
}

/// Calls `f(level, i)` at the `n`-th place; false when there are fewer places.
fn at_place(
    level: &mut Vec<Node>,
    n: &mut usize,
    ends: bool,
    f: &mut dyn FnMut(&mut Vec<Node>, usize),
) -> bool {
    let len = level.len();
    for i in 0..len + usize::from(ends) {
        if *n == 0 {
            f(level, i);
            return true;
        }
        *n -= 1;
        if let Some(Node::Group(_, _, inner)) = level.get_mut(i) {
            if at_place(inner, n, ends, f) {
                return true;
            }
        }
    }
    false
}

fn with_place(
    level: &mut Vec<Node>,
    at: &Index,
    ends: bool,
    mut f: impl FnMut(&mut Vec<Node>, usize),
) {
    let count = places(level, ends);
    if count > 0 {
        at_place(level, &mut at.index(count), ends, &mut f);
    }
}

/// A token or group to insert, lexed once from the tables above.
#[derive(Debug, Clone)]
enum Piece {
    Word(Index),
    Punct(Index),
    Literal(Index),
    Group(Index),
    Int(u64),
    Str(String),
}

#[derive(Debug, Clone, Copy)]
enum Delim {
    Paren,
    Bracket,
    Brace,
    None,
}

impl Delim {
    fn delimiter(self) -> Delimiter {
        match self {
            Delim::Paren => Delimiter::Parenthesis,
            Delim::Bracket => Delimiter::Bracket,
            Delim::Brace => Delimiter::Brace,
            Delim::None => Delimiter::None,
        }
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Insert(Index, Piece),
    Replace(Index, Piece),
    Delete(Index),
    Duplicate(Index),
    Swap(Index),
    Wrap(Index, usize, Delim),
    Unwrap(Index),
    /// A run of `len` nodes from the `from`-th place of another seed.
    Splice {
        at: Index,
        seed: Index,
        from: Index,
        len: usize,
    },
}

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        3 => any::<Index>().prop_map(Piece::Word),
        3 => any::<Index>().prop_map(Piece::Punct),
        2 => any::<Index>().prop_map(Piece::Literal),
        1 => any::<Index>().prop_map(Piece::Group),
        1 => any::<u64>().prop_map(Piece::Int),
        1 => proptest::collection::vec(any::<char>(), 0..6)
            .prop_map(|cs| Piece::Str(cs.into_iter().collect())),
    ]
}

fn delim() -> impl Strategy<Value = Delim> {
    prop_oneof![
        Just(Delim::Paren),
        Just(Delim::Bracket),
        Just(Delim::Brace),
        Just(Delim::None),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<Index>(), piece()).prop_map(|(a, p)| Mutation::Insert(a, p)),
        3 => (any::<Index>(), piece()).prop_map(|(a, p)| Mutation::Replace(a, p)),
        3 => any::<Index>().prop_map(Mutation::Delete),
        2 => any::<Index>().prop_map(Mutation::Duplicate),
        2 => any::<Index>().prop_map(Mutation::Swap),
        1 => (any::<Index>(), 1..4usize, delim()).prop_map(|(a, n, d)| Mutation::Wrap(a, n, d)),
        1 => any::<Index>().prop_map(Mutation::Unwrap),
        2 => (any::<Index>(), any::<Index>(), any::<Index>(), 1..6usize)
            .prop_map(|(at, seed, from, len)| Mutation::Splice { at, seed, from, len }),
    ]
}

/// One case: a seed, which of its streams each mutation hits, and the mutations.
#[derive(Debug, Clone)]
struct Case {
    seed: Index,
    mutations: Vec<(bool, Mutation)>,
}

fn case() -> impl Strategy<Value = Case> {
    // Mostly the options (`true`): the items are mutated too, but have to stay items.
    let hit = prop_oneof![3 => Just(true), 1 => Just(false)];
    (
        any::<Index>(),
        proptest::collection::vec((hit, mutation()), 0..6),
    )
        .prop_map(|(seed, mutations)| Case { seed, mutations })
}

struct Lexed {
    /// For new literals in an empty stream.
    span: Span,
    words: Vec<Vec<Node>>,
    puncts: Vec<Vec<Node>>,
    literals: Vec<Vec<Node>>,
    groups: Vec<Vec<Node>>,
}

impl Lexed {
    fn new() -> Self {
        let lex = |table: &[&str]| -> Vec<Vec<Node>> {
            table
                .iter()
                .map(|s| nodes(s.parse().expect("the tables lex")))
                .collect()
        };
        let split = |table: &'static str| table.split_whitespace().collect::<Vec<_>>();
        let words = lex(&split(WORDS));
        let span = first_span(&words[0]).expect("a word");
        assert_ne!(
            format!("{span:?}"),
            format!("{:?}", Span::call_site()),
            "the span checks need proc-macro2's `span-locations`"
        );
        Lexed {
            span,
            words,
            puncts: lex(&split(PUNCTS)),
            literals: lex(&split(LITERALS)),
            groups: lex(GROUPS),
        }
    }

    fn piece(&self, p: &Piece, span: Span) -> Vec<Node> {
        match p {
            Piece::Word(i) => i.get(&self.words).clone(),
            Piece::Punct(i) => i.get(&self.puncts).clone(),
            Piece::Literal(i) => i.get(&self.literals).clone(),
            Piece::Group(i) => i.get(&self.groups).clone(),
            Piece::Int(n) => {
                let mut l = proc_macro2::Literal::u64_unsuffixed(*n);
                l.set_span(span);
                vec![Node::Leaf(l.into())]
            }
            Piece::Str(s) => {
                let mut l = proc_macro2::Literal::string(s);
                l.set_span(span);
                vec![Node::Leaf(l.into())]
            }
        }
    }
}

fn first_span(nodes: &[Node]) -> Option<Span> {
    match nodes.first()? {
        Node::Leaf(t) => Some(t.span()),
        Node::Group(_, span, _) => Some(*span),
    }
}

fn mutate(level: &mut Vec<Node>, m: &Mutation, lexed: &Lexed, others: &[Vec<Node>]) {
    let span = first_span(level).unwrap_or(lexed.span);
    match m {
        Mutation::Insert(at, p) => with_place(level, at, true, |l, i| {
            l.splice(i..i, lexed.piece(p, span));
        }),
        Mutation::Replace(at, p) => with_place(level, at, false, |l, i| {
            l.splice(i..=i, lexed.piece(p, span));
        }),
        Mutation::Delete(at) => with_place(level, at, false, |l, i| {
            l.remove(i);
        }),
        Mutation::Duplicate(at) => with_place(level, at, false, |l, i| {
            let n = l[i].clone();
            l.insert(i, n);
        }),
        Mutation::Swap(at) => with_place(level, at, false, |l, i| {
            if i + 1 < l.len() {
                l.swap(i, i + 1);
            }
        }),
        Mutation::Wrap(at, len, d) => with_place(level, at, false, |l, i| {
            let end = (i + len).min(l.len());
            let inner: Vec<Node> = l.drain(i..end).collect();
            let span = first_span(&inner).unwrap_or(span);
            l.insert(i, Node::Group(d.delimiter(), span, inner));
        }),
        Mutation::Unwrap(at) => with_place(level, at, false, |l, i| {
            if let Node::Group(_, _, inner) = &l[i] {
                let inner = inner.clone();
                l.splice(i..=i, inner);
            }
        }),
        Mutation::Splice {
            at,
            seed,
            from,
            len,
        } => {
            if others.is_empty() {
                return;
            }
            let mut source = seed.get(others).clone();
            let mut run = Vec::new();
            with_place(&mut source, from, false, |l, i| {
                run = l[i..(i + len).min(l.len())].to_vec();
            });
            with_place(level, at, true, |l, i| {
                l.splice(i..i, run.clone());
            });
        }
    }
}

/// Holds the lexer's rules, fixing what a mutation broke: joint punctuation not
/// followed by punctuation becomes alone. False when a `'` starts no lifetime.
fn lexable(level: &mut [Node]) -> bool {
    for i in 0..level.len() {
        let next_is_punct = matches!(level.get(i + 1), Some(Node::Leaf(TokenTree::Punct(_))));
        let next_is_ident = matches!(level.get(i + 1), Some(Node::Leaf(TokenTree::Ident(_))));
        match &mut level[i] {
            Node::Leaf(TokenTree::Punct(p)) if p.as_char() == '\'' => {
                if !next_is_ident || p.spacing() != Spacing::Joint {
                    return false;
                }
            }
            Node::Leaf(TokenTree::Punct(p)) if p.spacing() == Spacing::Joint && !next_is_punct => {
                let mut alone = Punct::new(p.as_char(), Spacing::Alone);
                alone.set_span(p.span());
                *p = alone;
            }
            Node::Group(_, _, inner) => {
                if !lexable(inner) {
                    return false;
                }
            }
            Node::Leaf(_) => {}
        }
    }
    true
}

/// The seeds: each entry point's inputs found in the project's own sources.
#[derive(Default)]
struct Seeds {
    bounded: Vec<(Vec<Node>, Vec<Node>)>,
    gate: Vec<(Vec<Node>, Vec<Node>)>,
    macros: Vec<Vec<Node>>,
}

impl Seeds {
    fn collect() -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut sources = Vec::new();
        for dir in ["../tests/ui/fail", "../tests/ui/pass"] {
            let mut files: Vec<_> = std::fs::read_dir(root.join(dir))
                .expect("the trybuild cases are there")
                .map(|e| e.expect("a directory entry").path())
                .filter(|p| p.extension().is_some_and(|e| e == "rs"))
                .collect();
            files.sort();
            for f in files {
                sources.push(std::fs::read_to_string(f).expect("a readable case"));
            }
        }
        // The snapshots' sources are the raw strings of `tests.rs`.
        let snapshots = include_str!("tests.rs");
        for chunk in snapshots.split("r#\"").skip(1) {
            if let Some((src, _)) = chunk.split_once("\"#") {
                sources.push(src.to_owned());
            }
        }
        let mut seeds = Seeds::default();
        for src in &sources {
            // A case that does not parse as a file (none should) gives no seeds.
            if let Ok(file) = syn::parse_file(src) {
                seeds.visit_file(&file);
            }
        }
        seeds
    }

    fn attribute(&mut self, attrs: &[syn::Attribute], item: TokenStream) {
        for (i, attr) in attrs.iter().enumerate() {
            let which = if attr.path().is_ident("bounded") {
                &mut self.bounded
            } else if attr.path().is_ident("gate") {
                &mut self.gate
            } else {
                continue;
            };
            let args = match &attr.meta {
                syn::Meta::List(l) => l.tokens.clone(),
                _ => TokenStream::new(),
            };
            // The item as the attribute sees it: without this attribute.
            let mut item = nodes(item.clone());
            if strip_attribute(&mut item, i) {
                which.push((nodes(args), item));
            }
        }
    }
}

/// Removes the `n`-th outer attribute (`#` and its `[…]`) from an item's tokens.
fn strip_attribute(item: &mut Vec<Node>, n: usize) -> bool {
    let mut seen = 0;
    let mut i = 0;
    while i + 1 < item.len() {
        let is_attr = matches!(&item[i], Node::Leaf(TokenTree::Punct(p)) if p.as_char() == '#')
            && matches!(&item[i + 1], Node::Group(Delimiter::Bracket, _, _));
        if !is_attr {
            return false;
        }
        if seen == n {
            item.drain(i..i + 2);
            return true;
        }
        seen += 1;
        i += 2;
    }
    false
}

impl<'ast> Visit<'ast> for Seeds {
    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        self.attribute(&f.attrs, f.to_token_stream());
        syn::visit::visit_item_fn(self, f);
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        self.attribute(&f.attrs, f.to_token_stream());
        syn::visit::visit_impl_item_fn(self, f);
    }

    fn visit_item_struct(&mut self, s: &'ast syn::ItemStruct) {
        self.attribute(&s.attrs, s.to_token_stream());
        syn::visit::visit_item_struct(self, s);
    }

    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        if m.path
            .segments
            .last()
            .is_some_and(|s| s.ident == "par_bounded")
        {
            self.macros.push(nodes(m.tokens.clone()));
        }
        syn::visit::visit_macro(self, m);
    }
}

/// What the runs saw, printed at the end.
#[derive(Default)]
struct Tally {
    cases: Cell<u64>,
    unlexable: Cell<u64>,
    not_items: Cell<u64>,
    expanded: Cell<u64>,
    errors: Cell<u64>,
    call_site_errors: Cell<u64>,
    /// Messages at the call site that [`CALL_SITE_OK`] does not cover, with an input.
    unspanned: RefCell<BTreeMap<String, String>>,
}

impl Tally {
    fn bump(c: &Cell<u64>) {
        c.set(c.get() + 1);
    }
}

/// The `compile_error!`s of an expansion: message and span of each.
fn compile_errors(tokens: TokenStream, out: &mut Vec<(String, Span)>) {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    for (i, t) in tokens.iter().enumerate() {
        match t {
            TokenTree::Ident(id) if id == "compile_error" => {
                if let Some(TokenTree::Group(g)) = tokens.get(i + 2) {
                    let msg = syn::parse2::<syn::LitStr>(g.stream())
                        .map(|l| l.value())
                        .unwrap_or_default();
                    out.push((msg, id.span()));
                }
            }
            TokenTree::Group(g) => compile_errors(g.stream(), out),
            _ => {}
        }
    }
}

/// An item list where methods may stand alone (`#[bounded]` on a method).
struct Items;

impl Parse for Items {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        while !input.is_empty() {
            if input.fork().parse::<syn::Item>().is_ok() {
                input.parse::<syn::Item>()?;
            } else {
                input.parse::<syn::ImplItem>()?;
            }
        }
        Ok(Items)
    }
}

/// Checks one expansion; `Err` names what is wrong.
fn check(out: &TokenStream, expr: bool, input: &str, tally: &Tally) -> Result<(), String> {
    let parsed = if expr {
        syn::parse2::<syn::Expr>(out.clone()).map(drop)
    } else {
        syn::parse2::<Items>(out.clone()).map(drop)
    };
    parsed.map_err(|e| format!("the expansion is not Rust: {e}"))?;
    let mut errors = Vec::new();
    compile_errors(out.clone(), &mut errors);
    if errors.is_empty() {
        Tally::bump(&tally.expanded);
        return Ok(());
    }
    Tally::bump(&tally.errors);
    let call_site = format!("{:?}", Span::call_site());
    let mut all_at_call_site = true;
    for (msg, span) in &errors {
        if format!("{span:?}") != call_site {
            all_at_call_site = false;
        } else if !CALL_SITE_OK.iter().any(|ok| msg.starts_with(ok)) {
            let first_line = msg.lines().next().unwrap_or_default().to_owned();
            tally
                .unspanned
                .borrow_mut()
                .entry(first_line)
                .or_insert_with(|| input.to_owned());
        }
    }
    if all_at_call_site {
        Tally::bump(&tally.call_site_errors);
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum Entry {
    Bounded,
    Gate,
    Macro,
}

/// Runs one entry point for the configured cases or seconds.
fn fuzz(entry: Entry) {
    let cases: u32 = std::env::var("BOUNDED_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let secs: Option<u64> = std::env::var("BOUNDED_FUZZ_SECS")
        .ok()
        .and_then(|v| v.parse().ok());
    let seeds = Seeds::collect();
    let lexed = Lexed::new();
    let (pairs, name) = match entry {
        Entry::Bounded => (seeds.bounded, "#[bounded]"),
        Entry::Gate => (seeds.gate, "#[gate]"),
        Entry::Macro => (
            seeds.macros.into_iter().map(|m| (m, Vec::new())).collect(),
            "par_bounded!",
        ),
    };
    assert!(pairs.len() >= 4, "{name}: too few seeds ({})", pairs.len());
    let others: Vec<Vec<Node>> = pairs.iter().map(|(a, _)| a.clone()).collect();
    let items: Vec<Vec<Node>> = pairs
        .iter()
        .map(|(_, i)| i.clone())
        .filter(|i| !i.is_empty())
        .collect();
    let tally = Tally::default();

    let one = |case: Case| -> Result<(), TestCaseError> {
        Tally::bump(&tally.cases);
        let (mut args, mut item) = case.seed.get(&pairs).clone();
        for (on_args, m) in &case.mutations {
            if *on_args || entry == Entry::Macro {
                mutate(&mut args, m, &lexed, &others);
            } else {
                mutate(&mut item, m, &lexed, &items);
            }
        }
        if !lexable(&mut args) || !lexable(&mut item) {
            Tally::bump(&tally.unlexable);
            return Ok(());
        }
        let (args, item) = (stream(&args), stream(&item));
        // The compiler hands an attribute only an item.
        let is_item = syn::parse2::<syn::Item>(item.clone()).is_ok()
            || syn::parse2::<syn::ImplItem>(item.clone()).is_ok();
        if entry != Entry::Macro && !is_item {
            Tally::bump(&tally.not_items);
            return Ok(());
        }
        let run = || match entry {
            Entry::Bounded => bounded_attr(args.clone(), item.clone()),
            Entry::Gate => gate_attr(args.clone(), item.clone()),
            Entry::Macro => par_bounded(args.clone()),
        };
        let input = match entry {
            Entry::Bounded => format!("#[bounded({args})] {item}"),
            Entry::Gate => format!("#[gate({args})] {item}"),
            Entry::Macro => format!("par_bounded!({args})"),
        };
        let out = panic::catch_unwind(AssertUnwindSafe(run))
            .map_err(|_| TestCaseError::fail(format!("{name} panicked on\n{input}")))?;
        check(&out, entry == Entry::Macro, &input, &tally)
            .map_err(|e| TestCaseError::fail(format!("{e}\ninput:\n{input}\noutput:\n{out}")))
    };

    let start = Instant::now();
    let deadline = secs.map(|s| start + Duration::from_secs(s));
    // The short run of `cargo test` is the same every time (a finding stays found, and
    // the test suite does not flake); the long runs draw new cases.
    let fixed = std::env::var_os("BOUNDED_FUZZ_CASES").is_none() && secs.is_none();
    loop {
        let config = Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        };
        let mut runner = if fixed {
            TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha))
        } else {
            TestRunner::new(config)
        };
        if let Err(e) = runner.run(&case(), one) {
            panic!("{name}: {e}");
        }
        if deadline.is_none_or(|d| Instant::now() >= d) {
            break;
        }
    }
    eprintln!(
        "fuzz {name}: {} seeds, {} cases in {:.1?}: {} expanded, {} with errors ({} only at the call site), {} skipped as unlexable, {} as not an item",
        pairs.len(),
        tally.cases.get(),
        start.elapsed(),
        tally.expanded.get(),
        tally.errors.get(),
        tally.call_site_errors.get(),
        tally.unlexable.get(),
        tally.not_items.get(),
    );
    let unspanned = tally.unspanned.borrow();
    for (msg, input) in unspanned.iter() {
        eprintln!("fuzz {name}: at the call site: {msg:?}\n    {input}");
    }
    assert!(
        unspanned.is_empty(),
        "{name}: {} messages point at the call site only",
        unspanned.len()
    );
}

#[test]
fn fuzz_bounded_attr() {
    fuzz(Entry::Bounded);
}

#[test]
fn fuzz_gate_attr() {
    fuzz(Entry::Gate);
}

#[test]
fn fuzz_par_bounded() {
    fuzz(Entry::Macro);
}

/// Inputs the fuzzer found, kept so they stay fixed.
#[test]
fn fuzz_findings() {
    let tally = Tally::default();
    let macros = [
        // An or-pattern with a leading `|` went into a `let` unparenthesised.
        "limit = 16, batch = 1, keep_going, timeout = 30s; for | user in users { mailer.send(&user.email).await?; }",
        "limit = 2; for Ok(x) | Err(x) in xs => x * 2",
    ];
    for input in macros {
        let out = par_bounded(input.parse().expect("lexes"));
        check(&out, true, input, &tally).unwrap_or_else(|e| panic!("{e}\n{input}\n{out}"));
    }
    let attrs = [(
        "backend = pool, limit = 2, key = x",
        "fn f(xs: Vec<Result<u64, u64>>) { for Ok(x) | Err(x) in xs { work(x); } }",
    )];
    for (args, item) in attrs {
        let out = bounded_attr(args.parse().expect("lexes"), item.parse().expect("lexes"));
        check(&out, false, item, &tally).unwrap_or_else(|e| panic!("{e}\n{item}\n{out}"));
    }
    assert_eq!(
        tally.expanded.get(),
        3,
        "each finding expands without errors"
    );
}
