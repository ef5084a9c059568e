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
        /// Whether the function is `async` (so a loop body may await).
        is_async: bool,
    },
    /// A `par_bounded!` expression.
    Macro,
}

/// The body facts the rules of SPEC §5 are checked against. Constructs inside a
/// closure, an async block or a nested item belong to that inner scope and are not
/// recorded (assignments are: a closure in the body still cannot write an outer
/// variable).
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
}
