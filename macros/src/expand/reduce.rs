//! Reductions: each batch's private copies, and the shared end of every shape —
//! propagate the error, return a `return`'s value, fold the partials into the outer
//! variables, produce the collected value.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::Ident;

use super::{respan, Gen};
use crate::options::{ReduceOp, Reduction};

pub(crate) struct Reductions {
    /// `reduce(...)` as written.
    pub list: Vec<Reduction>,
    /// One `Typed` reducer per variable (the collect form's vector first).
    pub typed: Vec<TokenStream>,
    /// The variables a batch keeps a private copy of.
    pub vars: Vec<Ident>,
}

impl Reductions {
    pub fn of(g: &Gen) -> Self {
        let p = &g.p;
        let list = g.l.options.reduce.clone().unwrap_or_default();
        let mut typed = Vec::new();
        let mut vars = Vec::new();
        if g.collect {
            typed.push(quote!(#p::Typed::<_, ::std::vec::Vec<_>>::new(#p::op::Append)));
            vars.push(g.collected.clone());
        }
        for r in &list {
            let var = &r.var;
            let op = match &r.op {
                // A batch's copy is an `Option`: whether one of its items assigned `var`.
                ReduceOp::Last => {
                    typed.push(quote!(#p::Typed::last(&#var)));
                    vars.push(var.clone());
                    continue;
                }
                ReduceOp::Fold(path) => quote!(#p::op::Fold(#path)),
                other => {
                    let name = format_ident!("{}", other.runtime_name());
                    quote!(#p::op::#name)
                }
            };
            // At the operator, so that a type it does not fit is reported there.
            typed.push(respan(quote!(#p::Typed::like(#op, &#var)), r.op_span));
            vars.push(var.clone());
        }
        // Across processes, each partial must be serializable: checked one by one, so
        // that the error names the variable's type, at the variable.
        if g.timely {
            let spans = g
                .collect
                .then_some(g.l.for_span)
                .into_iter()
                .chain(list.iter().map(|r| r.var.span()));
            typed = typed
                .into_iter()
                .zip(spans)
                .map(|(t, span)| {
                    let crosses = respan(quote!(#p::crosses), span);
                    quote_spanned!(span=> #crosses(#t))
                })
                .collect();
        }
        Reductions { list, typed, vars }
    }

    /// `let __bounded_reducers = (…);`
    pub fn declare(&self, g: &Gen) -> TokenStream {
        let (reducers, typed) = (&g.reducers, &self.typed);
        quote!(let #reducers = (#(#typed,)*);)
    }

    /// A batch's private copies, starting from `seed`: the runtime's choice of each
    /// operator's identity or the lane's copies so far (order-free reductions).
    pub fn init(&self, seed: &TokenStream) -> TokenStream {
        let vars = &self.vars;
        if vars.is_empty() {
            quote!()
        } else {
            quote! {
                #[allow(unused_mut)]
                let (#(mut #vars,)*) = #seed;
            }
        }
    }

    /// The batch's partials, as the body returns them.
    pub fn partials(&self) -> TokenStream {
        let vars = &self.vars;
        quote!((#(#vars,)*))
    }

    /// The `last` variables, whose assignments the body wraps.
    pub fn last_vars(&self) -> Vec<Ident> {
        self.list
            .iter()
            .filter(|r| matches!(r.op, ReduceOp::Last))
            .map(|r| r.var.clone())
            .collect()
    }

    /// The shared end: what follows the run in every shape.
    pub fn tail(&self, g: &Gen) -> Tail {
        let (p, result, reducers, exit) = (&g.p, &g.result, &g.reducers, &g.exit);
        let unwrap = if g.fallible || g.stoppable() {
            quote! {
                match #result {
                    ::core::result::Result::Ok(v) => v,
                    ::core::result::Result::Err(e) => return ::core::result::Result::Err(e),
                }
            }
        } else {
            quote! {
                match #result {
                    ::core::result::Result::Ok(v) => v,
                    ::core::result::Result::Err(never) => match never {},
                }
            }
        };
        let mut folds = TokenStream::new();
        let mut parts = Vec::new();
        for (i, var) in self.vars.iter().enumerate() {
            let part = format_ident!("__bounded_{}", var, span = Span::mixed_site());
            let index = syn::Index::from(i);
            if !(g.collect && i == 0) {
                folds.extend(quote!(#reducers.#index.fold_into(&mut #var, #part);));
            }
            parts.push(part);
        }
        let bind_parts = if parts.is_empty() {
            quote!(let () = #unwrap;)
        } else {
            quote!(let (#(#parts,)*) = #unwrap;)
        };
        let (exit_decl, exit_take) = if g.returns {
            (
                quote!(let #exit = #p::Exit::new();),
                quote! {
                    if let ::core::option::Option::Some(value) = #exit.take() {
                        return value;
                    }
                },
            )
        } else {
            (quote!(), quote!())
        };
        let value = if g.collect {
            let first = &parts[0];
            quote!(::core::iter::FromIterator::from_iter(#first))
        } else {
            quote!()
        };
        Tail {
            exit_decl,
            end: quote! {
                #bind_parts
                #exit_take
                #folds
                #value
            },
        }
    }
}

/// The shared end, and the exit slot it reads (declared before the run).
pub(crate) struct Tail {
    pub exit_decl: TokenStream,
    pub end: TokenStream,
}
