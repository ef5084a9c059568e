//! Finding the loops: the outermost `for` loops of a `#[bounded]` function (consuming
//! the `#[serial]` and `#[bounded(...)]` attributes on loops), and the body facts the
//! rules are checked against.

use std::collections::HashSet;

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::visit::{self, Visit};
use syn::visit_mut::{self, VisitMut};
use syn::{Attribute, Expr, ExprForLoop, Lifetime, Pat};

use crate::model::{Assignment, Call, CallUse, Facts, Rhs};
use crate::options::Options;

/// What a loop's own attributes asked for.
pub enum LoopAttr {
    /// No attribute: the function's options.
    Inherit,
    /// `#[serial]`: leave the loop sequential.
    Serial,
    /// `#[bounded(...)]`: the function's options overridden by these.
    Override(Box<Options>),
}

/// Removes `#[serial]` / `#[bounded(...)]` from a loop's attributes and says which it had.
pub fn take_loop_attr(attrs: &mut Vec<Attribute>, errors: &mut Vec<syn::Error>) -> LoopAttr {
    let mut found = LoopAttr::Inherit;
    let mut first: Option<Span> = None;
    attrs.retain(|attr| {
        let is_serial = attr.path().is_ident("serial");
        let is_bounded = attr.path().is_ident("bounded");
        if !is_serial && !is_bounded {
            return true;
        }
        if let Some(_prev) = first {
            errors.push(syn::Error::new(
                attr.path().span(),
                "a loop takes one `#[serial]` or `#[bounded(...)]` attribute\nhelp: remove one of them",
            ));
            return false;
        }
        first = Some(attr.span());
        if is_serial {
            if !matches!(attr.meta, syn::Meta::Path(_)) {
                errors.push(syn::Error::new(attr.path().span(), "`#[serial]` takes no arguments\nhelp: write `#[serial]` on the loop to keep it sequential"));
            }
            found = LoopAttr::Serial;
        } else {
            let parsed = match &attr.meta {
                syn::Meta::Path(_) => Ok(Options::default()),
                _ => attr.parse_args::<Options>(),
            };
            match parsed {
                Ok(options) => found = LoopAttr::Override(Box::new(options)),
                Err(e) => {
                    errors.push(e);
                    found = LoopAttr::Override(Box::default());
                }
            }
        }
        false
    });
    found
}

/// Visits a function body and hands every outermost `for` loop to `on_loop`, which
/// returns the expression that replaces it.
pub struct OutermostLoops<'a> {
    pub on_loop: &'a mut dyn FnMut(ExprForLoop, LoopAttr) -> Expr,
    pub errors: Vec<syn::Error>,
    pub loops_seen: usize,
}

impl VisitMut for OutermostLoops<'_> {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        match expr {
            Expr::ForLoop(for_loop) => {
                self.loops_seen += 1;
                let attr = take_loop_attr(&mut for_loop.attrs, &mut self.errors);
                let placeholder = Expr::Verbatim(Default::default());
                let Expr::ForLoop(for_loop) = std::mem::replace(expr, placeholder) else {
                    unreachable!()
                };
                *expr = (self.on_loop)(for_loop, attr);
            }
            // Loops inside these are not outermost; only strip attributes there.
            Expr::While(_) | Expr::Loop(_) | Expr::Closure(_) | Expr::Async(_) => {
                let mut inner = NestedLoopAttrs {
                    errors: &mut self.errors,
                };
                inner.visit_expr_mut(expr);
            }
            _ => visit_mut::visit_expr_mut(self, expr),
        }
    }

    // Nested items are their own functions.
    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}

/// Strips `#[serial]` from loops that are sequential anyway and rejects `#[bounded]` on
/// loops that cannot run in parallel from here.
pub struct NestedLoopAttrs<'a> {
    pub errors: &'a mut Vec<syn::Error>,
}

impl VisitMut for NestedLoopAttrs<'_> {
    fn visit_expr_for_loop_mut(&mut self, for_loop: &mut ExprForLoop) {
        let mut local = Vec::new();
        if let LoopAttr::Override(_) = take_loop_attr(&mut for_loop.attrs, &mut local) {
            self.errors.push(syn::Error::new(
                for_loop.for_token.span,
                "`#[bounded(...)]` on a loop that is not outermost\nhelp: only the outermost loops of a `#[bounded]` function run in parallel, and this one is nested in another loop, a closure or an async block; write `par_bounded!(OPTIONS; for … in … { … })` here for a nested parallel loop",
            ));
        }
        self.errors.extend(local);
        visit_mut::visit_expr_for_loop_mut(self, for_loop);
    }

    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}

/// Collects the [`Facts`] of a loop body (`pat` and `with` names count as declared).
pub fn body_facts(
    pat: &Pat,
    own_label: Option<&Lifetime>,
    declared_outside_body: &[syn::Ident],
    body: &dyn Fn(&mut FactsVisitor),
) -> Facts {
    let mut locals = HashSet::new();
    let mut binder = Binders { names: &mut locals };
    binder.visit_pat(pat);
    locals.extend(declared_outside_body.iter().map(|i| i.to_string()));
    // First pass: every name the body binds anywhere (scoping is approximated by the
    // whole body, which only ever makes the rule more permissive).
    let mut v = FactsVisitor {
        facts: Facts::default(),
        locals,
        own_label: own_label.map(|l| l.ident.to_string()),
        inner_labels: Vec::new(),
        loop_depth: 0,
        closure_depth: 0,
        collect_binders: true,
        suppressed: Vec::new(),
    };
    body(&mut v);
    v.collect_binders = false;
    v.facts = Facts::default();
    body(&mut v);
    v.facts
}

struct Binders<'a> {
    names: &'a mut HashSet<String>,
}

impl Visit<'_> for Binders<'_> {
    fn visit_pat_ident(&mut self, p: &syn::PatIdent) {
        self.names.insert(p.ident.to_string());
        visit::visit_pat_ident(self, p);
    }
}

/// The walk behind [`body_facts`].
pub struct FactsVisitor {
    facts: Facts,
    locals: HashSet<String>,
    own_label: Option<String>,
    /// Labels of loops and blocks inside the body, innermost last.
    inner_labels: Vec<String>,
    /// Loops inside the body around the current point.
    loop_depth: usize,
    /// Closures and async blocks around the current point.
    closure_depth: usize,
    collect_binders: bool,
    /// Names whose reads are part of the assignment being visited (`x` in `x = x + 1`).
    suppressed: Vec<String>,
}

impl FactsVisitor {
    fn in_body_scope(&self) -> bool {
        self.closure_depth == 0
    }

    fn record_assignment(
        &mut self,
        place: &Expr,
        span: Span,
        op: Option<&'static str>,
        right: Option<&Expr>,
    ) {
        if self.collect_binders {
            return;
        }
        let mut whole = true;
        let mut indexed = false;
        let mut e = place;
        loop {
            match e {
                Expr::Field(f) => {
                    whole = false;
                    indexed = false;
                    e = &f.base;
                }
                Expr::Index(i) => {
                    whole = false;
                    indexed = true;
                    e = &i.expr;
                }
                Expr::Paren(p) => e = &p.expr,
                Expr::Unary(u) if matches!(u.op, syn::UnOp::Deref(_)) => {
                    whole = false;
                    indexed = false;
                    e = &u.expr;
                }
                _ => break,
            }
        }
        let Expr::Path(p) = e else { return };
        let Some(root) = p.path.get_ident() else {
            return;
        };
        if root == "self" && !whole {
            self.facts.outer_assignments.push(Assignment {
                root: root.clone(),
                span,
                op,
                whole,
                indexed,
                rhs: None,
            });
            return;
        }
        if !self.locals.contains(&root.to_string()) {
            let rhs = match right {
                Some(right) if whole => Some(rhs_of(right, root)),
                _ => None,
            };
            self.facts.outer_assignments.push(Assignment {
                root: root.clone(),
                span,
                op,
                whole,
                indexed,
                rhs,
            });
        }
    }

    /// The outer name `e` is, if it is one (`x`, `(x)`).
    fn outer_name<'e>(&self, e: &'e Expr) -> Option<&'e syn::Ident> {
        let ident = path_ident(e)?;
        (!self.locals.contains(&ident.to_string())).then_some(ident)
    }

    fn record_call(&mut self, m: &syn::ExprMethodCall, span: Span, used: CallUse) -> bool {
        let Some(root) = self.outer_name(&m.receiver) else {
            return false;
        };
        if !self.collect_binders {
            self.facts.outer_calls.push(Call {
                root: root.clone(),
                method: m.method.clone(),
                args: m.args.len(),
                span,
                used,
            });
        }
        true
    }

    /// Visits the place of an assignment: its root is written, not read; a call on the
    /// root leads to the place (`*m.entry(k).or_insert(0) = v`).
    fn visit_place(&mut self, e: &Expr, span: Span, used: CallUse) {
        match e {
            Expr::Field(f) => self.visit_place(&f.base, span, used),
            Expr::Index(i) => {
                self.visit_place(&i.expr, span, used);
                self.visit_expr(&i.index);
            }
            Expr::Paren(p) => self.visit_place(&p.expr, span, used),
            Expr::Unary(u) if matches!(u.op, syn::UnOp::Deref(_)) => {
                self.visit_place(&u.expr, span, used)
            }
            Expr::MethodCall(m) => {
                if !self.record_call(m, span, used) {
                    self.visit_place(&m.receiver, span, used);
                }
                for a in &m.args {
                    self.visit_expr(a);
                }
            }
            Expr::Path(p) if p.path.get_ident().is_some() => {}
            _ => self.visit_expr(e),
        }
    }
}

/// `x` in `x` or `(x)`.
fn path_ident(e: &Expr) -> Option<&syn::Ident> {
    match e {
        Expr::Path(p) if p.qself.is_none() => p.path.get_ident(),
        Expr::Paren(p) => path_ident(&p.expr),
        Expr::Group(g) => path_ident(&g.expr),
        _ => None,
    }
}

/// Whether `e` mentions the name `x` (also among a macro's argument tokens).
fn mentions(e: &Expr, x: &syn::Ident) -> bool {
    struct Finds<'a>(&'a syn::Ident, bool);
    impl Visit<'_> for Finds<'_> {
        fn visit_expr_path(&mut self, p: &syn::ExprPath) {
            self.1 |= p.path.get_ident() == Some(self.0);
        }
        fn visit_macro(&mut self, m: &syn::Macro) {
            self.1 |= macro_idents(m.tokens.clone()).iter().any(|i| i == self.0);
        }
        fn visit_item(&mut self, _: &syn::Item) {}
    }
    let mut f = Finds(x, false);
    f.visit_expr(e);
    f.1
}

/// The identifiers among a macro's argument tokens that can be variables (not after a
/// `.`, which makes them fields or methods).
fn macro_idents(tokens: proc_macro2::TokenStream) -> Vec<syn::Ident> {
    use proc_macro2::TokenTree;
    let mut found = Vec::new();
    let mut after_dot = false;
    for tt in tokens {
        match &tt {
            TokenTree::Ident(i) if !after_dot => found.push(i.clone()),
            TokenTree::Group(g) => found.extend(macro_idents(g.stream())),
            _ => {}
        }
        after_dot = matches!(&tt, TokenTree::Punct(p) if p.as_char() == '.');
    }
    found
}

/// What `e` in `x = e` does with `x`: nothing (a replacement), one step of a
/// reduction (`x + a + b`, `x.max(e)`, `f(x, e)`), or something else.
fn rhs_of(e: &Expr, x: &syn::Ident) -> Rhs {
    if !mentions(e, x) {
        return Rhs::Replaces;
    }
    step_of(e, x).map_or(Rhs::Reads, Rhs::Step)
}

fn step_of(e: &Expr, x: &syn::Ident) -> Option<String> {
    use syn::BinOp::*;
    let is_x = |e: &Expr| path_ident(e) == Some(x);
    let spelled = |s: &str| Some(s.to_owned());
    match e {
        Expr::Paren(p) => step_of(&p.expr, x),
        Expr::Group(g) => step_of(&g.expr, x),
        Expr::Binary(b) => {
            let op = match b.op {
                Add(_) | Sub(_) => "+",
                Mul(_) => "*",
                BitAnd(_) => "&",
                BitOr(_) => "|",
                BitXor(_) => "^",
                And(_) => "&&",
                Or(_) => "||",
                _ => return None,
            };
            // `x OP e`, `x OP a OP b` (left-nested), or `e OP x` for the commutative ones.
            let left_is_step = is_x(&b.left) || step_of(&b.left, x).as_deref() == Some(op);
            if left_is_step && !mentions(&b.right, x) {
                return spelled(op);
            }
            let commutes = !matches!(b.op, Sub(_));
            (commutes && is_x(&b.right) && !mentions(&b.left, x)).then(|| op.to_owned())
        }
        Expr::MethodCall(m) if m.args.len() == 1 => {
            let op = match m.method.to_string().as_str() {
                "max" => "max",
                "min" => "min",
                "wrapping_add" | "wrapping_sub" => "+",
                "wrapping_mul" => "*",
                _ => return None,
            };
            let arg = &m.args[0];
            let x_first = is_x(&m.receiver) && !mentions(arg, x);
            let x_second = matches!(op, "max" | "min") && is_x(arg) && !mentions(&m.receiver, x);
            (x_first || x_second).then(|| op.to_owned())
        }
        Expr::Call(c) if c.args.len() == 2 => {
            let Expr::Path(f) = &*c.func else { return None };
            let (a, b) = (&c.args[0], &c.args[1]);
            let one_is_x = (is_x(a) && !mentions(b, x)) || (is_x(b) && !mentions(a, x));
            if !one_is_x {
                return None;
            }
            let segments: Vec<String> = f
                .path
                .segments
                .iter()
                .map(|s| s.ident.to_string())
                .collect();
            Some(match segments.last().map(String::as_str) {
                Some(m @ ("max" | "min")) => m.to_owned(),
                _ => segments.join("::"),
            })
        }
        _ => None,
    }
}

/// Records the `?` and `.await` among a macro's argument tokens, recursively.
fn macro_tokens(tokens: proc_macro2::TokenStream, facts: &mut Facts) {
    use proc_macro2::TokenTree;
    let mut after_dot = false;
    for tt in tokens {
        match &tt {
            TokenTree::Punct(p) if p.as_char() == '?' => facts.tries.push(p.span()),
            TokenTree::Ident(i) if after_dot && i == "await" => facts.awaits.push(i.span()),
            TokenTree::Group(g) => macro_tokens(g.stream(), facts),
            _ => {}
        }
        after_dot = matches!(&tt, TokenTree::Punct(p) if p.as_char() == '.');
    }
}

fn compound_op(op: &syn::BinOp) -> Option<&'static str> {
    use syn::BinOp::*;
    Some(match op {
        AddAssign(_) => "+",
        SubAssign(_) => "-",
        MulAssign(_) => "*",
        DivAssign(_) => "/",
        RemAssign(_) => "%",
        BitXorAssign(_) => "^",
        BitAndAssign(_) => "&",
        BitOrAssign(_) => "|",
        ShlAssign(_) => "<<",
        ShrAssign(_) => ">>",
        _ => return None,
    })
}

impl<'ast> Visit<'ast> for FactsVisitor {
    fn visit_pat_ident(&mut self, p: &'ast syn::PatIdent) {
        if self.collect_binders {
            self.locals.insert(p.ident.to_string());
        }
        visit::visit_pat_ident(self, p);
    }

    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        // A macro's arguments are opaque tokens to the syntax tree: `format!("{}",
        // x.parse::<u32>()?)`, or a `par_bounded!` nested in this body, can still fail or
        // await. Read its tokens for `?` and `.await` (a `?` inside a closure in the
        // arguments is counted too, which only makes the body fallible).
        if self.in_body_scope() && !self.collect_binders {
            macro_tokens(m.tokens.clone(), &mut self.facts);
        }
        if !self.collect_binders {
            for i in macro_idents(m.tokens.clone()) {
                let name = i.to_string();
                if !self.locals.contains(&name) && !self.suppressed.contains(&name) {
                    self.facts.outer_reads.push((i.clone(), i.span()));
                }
            }
        }
        visit::visit_macro(self, m);
    }

    fn visit_expr_try(&mut self, e: &'ast syn::ExprTry) {
        if self.in_body_scope() && !self.collect_binders {
            self.facts.tries.push(e.question_token.span);
        }
        visit::visit_expr_try(self, e);
    }

    fn visit_expr_await(&mut self, e: &'ast syn::ExprAwait) {
        if self.in_body_scope() && !self.collect_binders {
            self.facts.awaits.push(e.await_token.span);
        }
        visit::visit_expr_await(self, e);
    }

    fn visit_expr_return(&mut self, e: &'ast syn::ExprReturn) {
        if self.in_body_scope() && !self.collect_binders {
            self.facts.returns.push(e.return_token.span);
        }
        visit::visit_expr_return(self, e);
    }

    fn visit_expr_break(&mut self, e: &'ast syn::ExprBreak) {
        if self.in_body_scope() && !self.collect_binders {
            let leaves = match &e.label {
                None => self.loop_depth == 0,
                Some(l) => !self.inner_labels.contains(&l.ident.to_string()),
            };
            if leaves {
                self.facts
                    .breaks
                    .push((e.break_token.span, e.label.clone()));
            }
        }
        visit::visit_expr_break(self, e);
    }

    fn visit_expr_continue(&mut self, e: &'ast syn::ExprContinue) {
        if self.in_body_scope() && !self.collect_binders {
            match &e.label {
                None if self.loop_depth == 0 => self.facts.continues += 1,
                None => {}
                Some(l) if self.inner_labels.contains(&l.ident.to_string()) => {}
                Some(l) if self.own_label.as_deref() == Some(&l.ident.to_string()) => {
                    self.facts.continues += 1
                }
                Some(l) => self
                    .facts
                    .outer_continues
                    .push((e.continue_token.span, l.clone())),
            }
        }
        visit::visit_expr_continue(self, e);
    }

    fn visit_expr_assign(&mut self, e: &'ast syn::ExprAssign) {
        self.record_assignment(&e.left, e.span(), None, Some(&e.right));
        self.visit_place(&e.left, e.span(), CallUse::Overwritten);
        // The reads of `x` in `x = x + 1` are the assignment's own (recorded in its `rhs`).
        let whole = self.outer_name(&e.left).map(|x| x.to_string());
        let pushed = whole.is_some();
        self.suppressed.extend(whole);
        self.visit_expr(&e.right);
        if pushed {
            self.suppressed.pop();
        }
    }

    fn visit_expr_binary(&mut self, e: &'ast syn::ExprBinary) {
        if let Some(op) = compound_op(&e.op) {
            self.record_assignment(&e.left, e.span(), Some(op), None);
            self.visit_place(&e.left, e.span(), CallUse::Other);
            self.visit_expr(&e.right);
            return;
        }
        visit::visit_expr_binary(self, e);
    }

    fn visit_expr_method_call(&mut self, m: &'ast syn::ExprMethodCall) {
        if self.record_call(m, m.span(), CallUse::Other) {
            for a in &m.args {
                self.visit_expr(a);
            }
            return;
        }
        visit::visit_expr_method_call(self, m);
    }

    fn visit_expr_path(&mut self, p: &'ast syn::ExprPath) {
        if let (false, Some(ident)) = (self.collect_binders, p.path.get_ident()) {
            let name = ident.to_string();
            if p.qself.is_none() && !self.locals.contains(&name) && !self.suppressed.contains(&name)
            {
                self.facts.outer_reads.push((ident.clone(), ident.span()));
            }
        }
        visit::visit_expr_path(self, p);
    }

    fn visit_stmt(&mut self, s: &'ast syn::Stmt) {
        // `m.entry(k).or_insert(v);` on its own keeps the value of the first item.
        if let syn::Stmt::Expr(Expr::MethodCall(or), Some(_)) = s {
            let keeps_first = matches!(
                or.method.to_string().as_str(),
                "or_insert" | "or_insert_with" | "or_insert_with_key"
            );
            if let (true, Expr::MethodCall(entry)) = (keeps_first, &*or.receiver) {
                if entry.method == "entry"
                    && self.record_call(entry, or.span(), CallUse::KeepsFirst)
                {
                    for a in entry.args.iter().chain(&or.args) {
                        self.visit_expr(a);
                    }
                    return;
                }
            }
        }
        visit::visit_stmt(self, s);
    }

    fn visit_expr_for_loop(&mut self, e: &'ast syn::ExprForLoop) {
        self.looped(e.label.as_ref(), |v| visit::visit_expr_for_loop(v, e));
    }

    fn visit_expr_while(&mut self, e: &'ast syn::ExprWhile) {
        self.looped(e.label.as_ref(), |v| visit::visit_expr_while(v, e));
    }

    fn visit_expr_loop(&mut self, e: &'ast syn::ExprLoop) {
        self.looped(e.label.as_ref(), |v| visit::visit_expr_loop(v, e));
    }

    fn visit_expr_block(&mut self, e: &'ast syn::ExprBlock) {
        let labelled = e.label.is_some();
        if let Some(l) = &e.label {
            self.inner_labels.push(l.name.ident.to_string());
        }
        visit::visit_expr_block(self, e);
        if labelled {
            self.inner_labels.pop();
        }
    }

    fn visit_expr_closure(&mut self, e: &'ast syn::ExprClosure) {
        self.closure_depth += 1;
        visit::visit_expr_closure(self, e);
        self.closure_depth -= 1;
    }

    fn visit_expr_async(&mut self, e: &'ast syn::ExprAsync) {
        self.closure_depth += 1;
        visit::visit_expr_async(self, e);
        self.closure_depth -= 1;
    }

    // A nested item cannot see the body's locals, nor return from it.
    fn visit_item(&mut self, _: &'ast syn::Item) {}
}

impl FactsVisitor {
    fn looped(&mut self, label: Option<&syn::Label>, walk: impl FnOnce(&mut Self)) {
        if let Some(l) = label {
            self.inner_labels.push(l.name.ident.to_string());
        }
        self.loop_depth += 1;
        walk(self);
        self.loop_depth -= 1;
        if label.is_some() {
            self.inner_labels.pop();
        }
    }
}

/// Where a rewrite of the body stands relative to the parallel loop's own `for`: the
/// loops and labelled blocks of the body around it, so that a `break` or `continue`
/// is known to leave the item or to stay inside the body.
pub struct LoopScope {
    own_label: Option<String>,
    loop_depth: usize,
    inner_labels: Vec<String>,
}

impl LoopScope {
    /// At the top of the body of the loop labelled `own_label`, if it is.
    pub fn of(own_label: Option<&syn::Label>) -> Self {
        LoopScope {
            own_label: own_label.map(|l| l.name.ident.to_string()),
            loop_depth: 0,
            inner_labels: Vec::new(),
        }
    }

    /// Whether a `break` or `continue` with `label` targets the parallel loop.
    fn targets_us(&self, label: Option<&Lifetime>) -> bool {
        match label {
            None => self.loop_depth == 0,
            Some(l) => {
                let l = l.ident.to_string();
                !self.inner_labels.contains(&l) && self.own_label.as_deref() == Some(&l)
            }
        }
    }

    /// Walks `e` with `v` as inside it, if `e` is an inner loop or labelled block of the
    /// body; returns false (and does nothing) for any other expression.
    fn within<V>(v: &mut V, e: &mut Expr, scope: fn(&mut V) -> &mut LoopScope) -> bool
    where
        V: VisitMut,
    {
        let (label, is_loop) = match &*e {
            Expr::ForLoop(l) => (l.label.as_ref(), true),
            Expr::While(l) => (l.label.as_ref(), true),
            Expr::Loop(l) => (l.label.as_ref(), true),
            Expr::Block(b) if b.label.is_some() => (b.label.as_ref(), false),
            _ => return false,
        };
        let label = label.map(|l| l.name.ident.to_string());
        let s = scope(v);
        let pushed = label.is_some();
        s.inner_labels.extend(label);
        s.loop_depth += usize::from(is_loop);
        visit_mut::visit_expr_mut(v, e);
        let s = scope(v);
        s.loop_depth -= usize::from(is_loop);
        if pushed {
            s.inner_labels.pop();
        }
        true
    }
}

/// Rewrites the `continue`s that target the loop into `return Ok(())` for the
/// `keep_going` form, where each item runs in a closure of its own.
pub struct ContinueToReturn {
    pub scope: LoopScope,
    pub replacement: Expr,
}

impl VisitMut for ContinueToReturn {
    fn visit_expr_mut(&mut self, e: &mut Expr) {
        match e {
            Expr::Continue(c) => {
                if self.scope.targets_us(c.label.as_ref()) {
                    *e = self.replacement.clone();
                }
            }
            Expr::Closure(_) | Expr::Async(_) => {}
            _ => {
                if !LoopScope::within(self, e, |v| &mut v.scope) {
                    visit_mut::visit_expr_mut(self, e)
                }
            }
        }
    }

    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}

/// Gives `break` and `return` their sequential meaning inside a batch: each marks the
/// item it leaves at (the runtime then cuts the run there) and leaves the batch.
/// `return EXPR` also hands its value to the run's exit slot, which the generated code
/// returns from the function after the run.
pub struct ExitRewrite {
    pub scope: LoopScope,
    /// What a `break` does first (`tracker.broke()`, or `exit.broke(tracker)` in a loop
    /// that can also return).
    pub on_break: Expr,
    /// `exit.returned(tracker, VALUE)` with `VALUE` to fill in, as a call's receiver
    /// and method: `(exit, tracker)`.
    pub exit: Option<(Expr, Expr)>,
    /// How the batch (or, under `keep_going`, the item) is left: `break 'label` or
    /// `return Ok(())`.
    pub leave: Expr,
}

impl VisitMut for ExitRewrite {
    fn visit_expr_mut(&mut self, e: &mut Expr) {
        match e {
            Expr::Break(b) => {
                if self.scope.targets_us(b.label.as_ref()) {
                    let (on_break, leave) = (&self.on_break, &self.leave);
                    *e = syn::parse_quote!({ #on_break; #leave });
                } else {
                    visit_mut::visit_expr_mut(self, e);
                }
            }
            Expr::Return(r) => {
                if self.exit.is_none() {
                    return;
                }
                let value = match r.expr.take() {
                    Some(mut v) => {
                        self.visit_expr_mut(&mut v);
                        quote::quote!(#v)
                    }
                    None => quote::quote!(()),
                };
                let (exit, tracker) = self.exit.as_ref().expect("checked above");
                let leave = &self.leave;
                *e = syn::parse_quote!({ #exit.returned(#tracker, #value); #leave });
            }
            // A closure's `return` and `break` are its own.
            Expr::Closure(_) | Expr::Async(_) => {}
            _ => {
                if !LoopScope::within(self, e, |v| &mut v.scope) {
                    visit_mut::visit_expr_mut(self, e)
                }
            }
        }
    }

    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}

/// Wraps the value of each plain assignment to a `last` variable, `x = e` becoming
/// `x = Some(e)`: the batch's copy is an `Option` that says whether an item assigned
/// it. A name the body binds itself is the body's own and is left alone.
pub fn wrap_last_assignments(body: &mut crate::model::LoopBody, pat: &Pat, vars: Vec<syn::Ident>) {
    let mut bound = HashSet::new();
    let mut binder = Binders { names: &mut bound };
    binder.visit_pat(pat);
    match &*body {
        crate::model::LoopBody::Block(b) => binder.visit_block(b),
        crate::model::LoopBody::Collect(e) => binder.visit_expr(e),
    }
    let vars: Vec<_> = vars
        .into_iter()
        .filter(|v| !bound.contains(&v.to_string()))
        .collect();
    if vars.is_empty() {
        return;
    }
    let mut wrap = WrapLast { vars };
    match body {
        crate::model::LoopBody::Block(b) => wrap.visit_block_mut(b),
        crate::model::LoopBody::Collect(e) => wrap.visit_expr_mut(e),
    }
}

struct WrapLast {
    vars: Vec<syn::Ident>,
}

impl VisitMut for WrapLast {
    fn visit_expr_assign_mut(&mut self, a: &mut syn::ExprAssign) {
        visit_mut::visit_expr_assign_mut(self, a);
        if path_ident(&a.left).is_some_and(|x| self.vars.contains(x)) {
            let right = &a.right;
            *a.right =
                syn::parse_quote_spanned!(right.span()=> ::core::option::Option::Some(#right));
        }
    }

    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}
