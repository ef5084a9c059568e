//! Reading the variables a body captures once per batch (the runtime's `capture`
//! module says why): every use of such a variable in the body becomes `(*snapshot)`,
//! and the batch closure starts by taking the snapshots.

use std::collections::{BTreeMap, HashSet};

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::visit::{self, Visit};
use syn::visit_mut::{self, VisitMut};
use syn::{Expr, ExprPath, Ident};

use crate::model::{LoopBody, ParLoop};

/// The body with captured variables read through snapshots, and the statements that
/// take them.
pub fn snapshot(l: &ParLoop, body: &LoopBody, p: &TokenStream) -> (LoopBody, TokenStream) {
    let mut bound = Bound(HashSet::new());
    bound.visit_pat(&l.pat);
    match body {
        LoopBody::Block(b) => bound.visit_block(b),
        LoopBody::Collect(e) => bound.visit_expr(e),
    }
    for r in l.options.reduce.iter().flatten() {
        bound.0.insert(r.var.to_string());
    }
    for w in l.options.with.iter().flatten() {
        bound.0.insert(w.name.to_string());
    }
    let mut rewrite = Rewrite {
        bound: &bound.0,
        found: BTreeMap::new(),
    };
    let body = match body {
        LoopBody::Block(b) => {
            let mut b = b.clone();
            rewrite.visit_block_mut(&mut b);
            LoopBody::Block(b)
        }
        LoopBody::Collect(e) => {
            let mut e = e.clone();
            rewrite.visit_expr_mut(&mut e);
            LoopBody::Collect(e)
        }
    };
    if rewrite.found.is_empty() {
        return (body, quote!());
    }
    let names: Vec<Ident> = rewrite.found.keys().map(|n| cap_ident(n)).collect();
    let vars: Vec<&Ident> = rewrite.found.values().collect();
    let take = quote! {
        let (#(#names,)*) = {
            #[allow(unused_imports)]
            use #p::{CapCopy as _, CapRef as _};
            (#((&&#p::Cap(&#vars)).cap(),)*)
        };
    };
    (body, take)
}

fn cap_ident(name: &str) -> Ident {
    format_ident!("__bounded_cap_{}", name, span = Span::mixed_site())
}

/// Every name a pattern in the body binds: such a name is left alone wherever it
/// appears, since a use may refer to the body's own binding.
struct Bound(HashSet<String>);

impl<'a> Visit<'a> for Bound {
    fn visit_pat_ident(&mut self, p: &'a syn::PatIdent) {
        self.0.insert(p.ident.to_string());
        visit::visit_pat_ident(self, p);
    }

    fn visit_item(&mut self, _: &'a syn::Item) {}
}

struct Rewrite<'a> {
    bound: &'a HashSet<String>,
    found: BTreeMap<String, Ident>,
}

impl Rewrite<'_> {
    /// A plain lower-case name the body does not bind: a captured local (constants,
    /// statics and unit structs are upper case by convention and stay as written).
    fn captured(&self, e: &ExprPath) -> Option<Ident> {
        if e.qself.is_some() || e.path.leading_colon.is_some() || e.path.segments.len() != 1 {
            return None;
        }
        let seg = &e.path.segments[0];
        if !seg.arguments.is_none() {
            return None;
        }
        let name = seg.ident.to_string();
        let lower = name.starts_with(|c: char| c.is_lowercase() || c == '_');
        if !lower || name == "self" || name.starts_with("__bounded") || self.bound.contains(&name) {
            return None;
        }
        Some(seg.ident.clone())
    }
}

impl VisitMut for Rewrite<'_> {
    fn visit_expr_mut(&mut self, e: &mut Expr) {
        match e {
            Expr::Path(path) => {
                if let Some(ident) = self.captured(path) {
                    let cap = cap_ident(&ident.to_string());
                    self.found.insert(ident.to_string(), ident);
                    *e = syn::parse_quote!((*#cap));
                }
                return;
            }
            // A called name is usually a function item: left as written.
            Expr::Call(call) => {
                if !matches!(&*call.func, Expr::Path(_)) {
                    self.visit_expr_mut(&mut call.func);
                }
                for arg in call.args.iter_mut() {
                    self.visit_expr_mut(arg);
                }
                return;
            }
            Expr::Reference(r) if r.mutability.is_some() && matches!(&*r.expr, Expr::Path(_)) => {
                return;
            }
            Expr::Struct(s) => {
                for field in s.fields.iter_mut() {
                    if field.colon_token.is_none() {
                        if let Expr::Path(path) = &field.expr {
                            if self.captured(path).is_some() {
                                field.colon_token = Some(Default::default());
                            }
                        }
                    }
                }
            }
            _ => {}
        }
        visit_mut::visit_expr_mut(self, e);
    }

    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}
