//! The typed model of one parallel loop. It keeps the user's own syntax (and so its
//! spans), so every later error can point at the user's code.

use proc_macro2::Span;
use syn::{Block, Expr, Ident, Label, Lifetime, Pat};

use crate::options::Options;

impl ParLoop {
    /// Whether the body awaits, which makes the loop run as bounded futures.
    pub fn is_async(&self) -> bool {
        !self.facts.awaits.is_empty()
    }
}

/// One loop to run in parallel, from `#[bounded]` or `par_bounded!`.
pub struct ParLoop {
    /// `'outer:` on the loop, kept on the generated batch loop.
    pub label: Option<Label>,
    /// The `for` token: where loop-level errors and the site's line point.
    pub for_span: Span,
    /// `for PAT in …`
    pub pat: Pat,
    /// `for … in INPUT`
    pub input: Expr,
    /// The body: a block, or the expression of the collect form.
    pub body: LoopBody,
    /// The function's options overridden by the loop's own.
    pub options: Options,
    /// What the body does that the rules care about.
    pub facts: Facts,
    /// Where the loop is written.
    pub context: Context,
}

/// The two forms of `par_bounded!` (a `#[bounded]` loop is always a block).
#[derive(Clone)]
pub enum LoopBody {
    /// `for x in xs { … }`: value `()`.
    Block(Block),
    /// `for x in xs => EXPR`: one value per item, collected in input order.
    Collect(Expr),
}

/// Where a loop is written.
pub enum Context {
    /// An outermost loop of a `#[bounded]` function.
    Function {
        /// The function's name, for the default loop name.
        name: Ident,
        /// Whether the function returns `Option` (whose `?` the runtime does not carry).
        returns_option: bool,
        /// Whether the function returns nothing (`()`), so no error can leave it.
        returns_nothing: bool,
        /// The span of a `Box<dyn Error>` error type without `+ Send`: the loop's errors
        /// cross threads, which that type cannot.
        error_not_send: Option<proc_macro2::Span>,
        /// Whether the function is `async` (so a loop body may await).
        is_async: bool,
    },
    /// A `par_bounded!` expression.
    Macro,
}

/// The body facts the body rules are checked against. Constructs inside a closure, an
/// async block or a nested item belong to that inner scope and are not recorded
/// (assignments, calls and reads of outer names are: a closure in the body still works
/// on the body's copy of a reduced variable).
#[derive(Default)]
pub struct Facts {
    /// `?` applied in the body itself.
    pub tries: Vec<Span>,
    /// `.await` in the body itself.
    pub awaits: Vec<Span>,
    /// `return` in the body itself.
    pub returns: Vec<Span>,
    /// `break` or `break 'label` that would leave the loop.
    pub breaks: Vec<(Span, Option<Lifetime>)>,
    /// `continue 'label` naming a loop outside this one.
    pub outer_continues: Vec<(Span, Lifetime)>,
    /// `continue` that targets this loop (rewritten in the `keep_going` form).
    pub continues: usize,
    /// Assignments whose place is rooted in a name the body does not declare.
    pub outer_assignments: Vec<Assignment>,
    /// Method calls on such a name itself (`m.insert(k, v)`, `m.entry(k)`).
    pub outer_calls: Vec<Call>,
    /// Every other read of such a name (`if x > 0`, `f(&x)`, `x` in a macro's arguments).
    pub outer_reads: Vec<(Ident, Span)>,
}

/// `x = …`, `x += …`, `x.field = …`, `*x = …` on a name from outside the body.
pub struct Assignment {
    /// The variable at the root of the place.
    pub root: Ident,
    /// The whole assignment expression.
    pub span: Span,
    /// The compound operator (`+=` → `+`), if any.
    pub op: Option<&'static str>,
    /// Whether the place is the variable itself (not a field, index or deref of it).
    pub whole: bool,
    /// Whether the place indexes the variable itself (`xs[i] = …`, `xs[i].f = …`).
    pub indexed: bool,
    /// For a plain `x = e` on the whole variable: what `e` does with `x`.
    pub rhs: Option<Rhs>,
}

/// What the right-hand side of a plain `x = e` does with `x`.
#[derive(Clone, PartialEq, Eq)]
pub enum Rhs {
    /// `e` does not read `x`: the assignment replaces the value.
    Replaces,
    /// `e` is one step of a reduction of `x`, spelled as its operator: `x + e` and
    /// `x.wrapping_add(e)` are `+`, `x.max(e)` is `max`, `f(x, e)` is `f`.
    Step(String),
    /// `e` reads `x` in some other way.
    Reads,
}

/// `m.method(…)` on a name from outside the body.
pub struct Call {
    /// The variable the method is called on.
    pub root: Ident,
    pub method: Ident,
    /// The number of arguments (`insert(k, v)` on a map, `insert(x)` on a set).
    pub args: usize,
    /// The whole statement or assignment the call is part of.
    pub span: Span,
    pub used: CallUse,
}

/// What the statement around a call does with the place the call leads to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum CallUse {
    /// A plain `=` writes it: `*m.entry(k).or_insert(0) = v`.
    Overwritten,
    /// `m.entry(k).or_insert(v);` on its own: the value stays if the key was there.
    KeepsFirst,
    /// Anything else: a read, an update that reads the old value, another call.
    Other,
}
