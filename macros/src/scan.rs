//! Finding the loops: the outermost `for` loops of a `#[bounded]` function (consuming
//! the `#[serial]` and `#[bounded(...)]` attributes on loops), and the body facts the
//! rules are checked against.

use std::collections::HashSet;

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::visit::{self, Visit};
use syn::visit_mut::{self, VisitMut};
use syn::{Attribute, Expr, ExprForLoop, Lifetime, Pat};

use crate::model::{Assignment, Facts};
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
}

impl FactsVisitor {
    fn in_body_scope(&self) -> bool {
        self.closure_depth == 0
    }

    fn record_assignment(&mut self, place: &Expr, span: Span, op: Option<&'static str>) {
        if self.collect_binders {
            return;
        }
        let mut whole = true;
        let mut e = place;
        loop {
            match e {
                Expr::Field(f) => {
                    whole = false;
                    e = &f.base;
                }
                Expr::Index(i) => {
                    whole = false;
                    e = &i.expr;
                }
                Expr::Paren(p) => e = &p.expr,
                Expr::Unary(u) if matches!(u.op, syn::UnOp::Deref(_)) => {
                    whole = false;
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
            });
            return;
        }
        if !self.locals.contains(&root.to_string()) {
            self.facts.outer_assignments.push(Assignment {
                root: root.clone(),
                span,
                op,
                whole,
            });
        }
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
        self.record_assignment(&e.left, e.span(), None);
        visit::visit_expr_assign(self, e);
    }

    fn visit_expr_binary(&mut self, e: &'ast syn::ExprBinary) {
        if let Some(op) = compound_op(&e.op) {
            self.record_assignment(&e.left, e.span(), Some(op));
        }
        visit::visit_expr_binary(self, e);
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

/// Rewrites the `continue`s that target the loop into `return Ok(())` for the
/// `keep_going` form, where each item runs in a closure of its own.
pub struct ContinueToReturn {
    pub own_label: Option<String>,
    pub loop_depth: usize,
    pub inner_labels: Vec<String>,
    pub replacement: Expr,
}

impl VisitMut for ContinueToReturn {
    fn visit_expr_mut(&mut self, e: &mut Expr) {
        match e {
            Expr::Continue(c) => {
                let targets_us = match &c.label {
                    None => self.loop_depth == 0,
                    Some(l) => {
                        !self.inner_labels.contains(&l.ident.to_string())
                            && self.own_label.as_deref() == Some(&l.ident.to_string())
                    }
                };
                if targets_us {
                    *e = self.replacement.clone();
                }
            }
            Expr::ForLoop(_) | Expr::While(_) | Expr::Loop(_) => {
                let label = match e {
                    Expr::ForLoop(l) => l.label.as_ref(),
                    Expr::While(l) => l.label.as_ref(),
                    Expr::Loop(l) => l.label.as_ref(),
                    _ => None,
                }
                .map(|l| l.name.ident.to_string());
                if let Some(l) = &label {
                    self.inner_labels.push(l.clone());
                }
                self.loop_depth += 1;
                visit_mut::visit_expr_mut(self, e);
                self.loop_depth -= 1;
                if label.is_some() {
                    self.inner_labels.pop();
                }
            }
            Expr::Closure(_) | Expr::Async(_) => {}
            _ => visit_mut::visit_expr_mut(self, e),
        }
    }

    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}
