//! The batch loop: the user's own `for` loop, iterating one batch instead of the whole
//! input, with its exits, `keep_going`, `weight`, `with` state and captured variables
//! handled here once for every shape.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::Expr;

use super::reduce::Reductions;
use super::{hidden, Gen};
use crate::model::LoopBody;
use crate::scan::{wrap_last_assignments, ContinueToReturn, ExitRewrite, LoopScope};

pub(crate) struct BatchBody {
    /// The per-batch snapshots of captured variables.
    pub take_snapshots: TokenStream,
    /// The batch closure's state parameter, and how it binds the `with` names.
    pub state_param: TokenStream,
    pub bind_state: TokenStream,
    /// `with(...)`: names and initialisers.
    pub with_names: Vec<syn::Ident>,
    pub with_inits: Vec<Expr>,
    /// The loop over the batch.
    pub batch_loop: TokenStream,
}

impl BatchBody {
    pub fn of(g: &Gen, reductions: &Reductions) -> Self {
        let l = g.l;
        let (p, state, batch, tracker, exit) = (&g.p, &g.state, &g.batch, &g.tracker, &g.exit);
        let mut body = l.body.clone();
        wrap_last_assignments(&mut body, &l.pat, reductions.last_vars());
        // The batch loop carries the user's label, or one of ours when a `return` must
        // leave it from an inner loop.
        let batch_label: syn::Lifetime = match &l.label {
            Some(label) => label.name.clone(),
            None => syn::Lifetime::new("'__bounded_items", Span::mixed_site()),
        };
        if g.exits {
            if let LoopBody::Block(block) = &mut body {
                let on_break: Expr = if g.returns {
                    syn::parse_quote!(#exit.broke(#tracker))
                } else {
                    syn::parse_quote!(#tracker.broke())
                };
                let leave: Expr = if g.keep_going {
                    syn::parse_quote!(return ::core::result::Result::Ok(()))
                } else {
                    syn::parse_quote!(break #batch_label)
                };
                ExitRewrite {
                    scope: LoopScope::of(l.label.as_ref()),
                    on_break,
                    exit: g
                        .returns
                        .then(|| (syn::parse_quote!(#exit), syn::parse_quote!(#tracker))),
                    leave,
                }
                .visit_block_mut(block);
            }
        }

        // --- per-lane state.
        let with = l.options.with.clone().unwrap_or_default();
        let with_names: Vec<_> = with.iter().map(|w| w.name.clone()).collect();
        let with_inits: Vec<_> = with.iter().map(|w| w.init.clone()).collect();
        let state_param = if with.is_empty() {
            quote!(_)
        } else {
            quote!(#state)
        };
        let bind_state = if with.is_empty() {
            quote!()
        } else {
            quote!(let (#(#with_names,)*) = #state;)
        };

        // An async lane owns its batch; the body iterates the batch's items.
        let whole = if g.is_async {
            quote!(#batch.items())
        } else {
            quote!(#batch)
        };
        // A fallible body iterates `checked()`: no item starts once the run stops, and an
        // error is placed at its item. (Async batches are contiguous and place errors by
        // batch; under `keep_going` they run every item.) A synchronous `rate` loop
        // iterates it too: each item waits there for its token (async lanes wait for
        // theirs in `next`).
        let paced = g.paced && !g.is_async;
        let items =
            if paced || g.exits || ((g.fallible || g.stoppable()) && !(g.keep_going && g.is_async))
            {
                quote!(#whole.checked())
            } else {
                quote!(#whole)
            };
        let take_weight = match &l.options.weight {
            Some(w) => {
                let (permit, permits) = (hidden("permit"), hidden("permits"));
                let wait = if g.is_async {
                    quote_spanned!(w.span()=> #permits.acquire_async(#p::weight(#w)).await)
                } else {
                    quote_spanned!(w.span()=> #permits.acquire(#p::weight(#w)))
                };
                quote!(let #permit = #wait;)
            }
            None => quote!(),
        };
        // Captured variables are read once per batch (not on the async path, whose lanes
        // own their batches across awaits).
        let (body, take_snapshots) = if g.is_async {
            (body, quote!())
        } else {
            crate::snapshot::snapshot(l, &body, p)
        };
        let collected = &g.collected;
        let per_item = match &body {
            LoopBody::Block(block) if l.options.weight.is_some() => {
                quote!({ #take_weight #block })
            }
            LoopBody::Block(block) => quote!(#block),
            LoopBody::Collect(e) => quote!({ #take_weight #collected.push(#e); }),
        };
        // The lane's tracker: where an error (under `keep_going`) or a `break` happened.
        let tracker_decl = if g.exits || (g.keep_going && !g.is_async) {
            quote!(let #tracker = #batch.tracker();)
        } else {
            quote!()
        };
        // The collect form pushes one value per item: room for the batch's items up
        // front, as a sequential loop's `Vec::with_capacity(xs.len())` would (growing
        // from empty costs a reallocation per doubling, the most of a small loop).
        let reserve = match &body {
            LoopBody::Collect(_) if !g.is_async => {
                quote!(#collected.reserve(::core::iter::Iterator::size_hint(&#batch).0);)
            }
            _ => quote!(),
        };
        let batch_loop = if g.keep_going {
            keep_going_loop(g, per_item, &items, &tracker_decl)
        } else if g.exits {
            let pat = &l.pat;
            quote! {
                #tracker_decl
                #batch_label: for #pat in #items #per_item
            }
        } else {
            let (label, pat) = (&l.label, &l.pat);
            quote!(#label for #pat in #items #per_item)
        };
        let batch_loop = quote!(#reserve #batch_loop);
        BatchBody {
            take_snapshots,
            state_param,
            bind_state,
            with_names,
            with_inits,
            batch_loop,
        }
    }
}

/// `keep_going`: each item in a closure of its own, so an error ends the item, not the
/// batch; the batch fails with its first error once every item has run.
fn keep_going_loop(
    g: &Gen,
    per_item: TokenStream,
    items: &TokenStream,
    tracker_decl: &TokenStream,
) -> TokenStream {
    let l = g.l;
    let (pat, batch, item, result, first_error, tracker) = (
        &l.pat,
        &g.batch,
        &g.item,
        &g.result,
        &g.first_error,
        &g.tracker,
    );
    let mut body: Expr = syn::parse2(per_item).expect("a block is an expression");
    ContinueToReturn {
        scope: LoopScope::of(l.label.as_ref()),
        replacement: syn::parse_quote!(return ::core::result::Result::Ok(())),
    }
    .visit_expr_mut(&mut body);
    let after_items = if g.is_async {
        // A lane runs on after a failing batch; it fails with its first error.
        let lane_error = hidden("lane_error");
        quote! {
            if let ::core::option::Option::Some(e) = #first_error {
                #lane_error.get_or_insert((#batch.start(), e));
            }
        }
    } else {
        quote! {
            if let ::core::option::Option::Some(e) = #first_error {
                return ::core::result::Result::Err(e);
            }
        }
    };
    let one = if g.is_async {
        quote!(async {
            let #pat = #item;
            #body
            ::core::result::Result::Ok(())
        }.await)
    } else {
        quote!((|| {
            let #pat = #item;
            #body
            ::core::result::Result::Ok(())
        })())
    };
    let keep_first = if g.is_async && g.classifies {
        // The adaptive limiter hears of each error as it happens, not at the lane's end.
        let lane = hidden("lane");
        quote! {
            #lane.item_failed(&e);
            #first_error.get_or_insert(e);
        }
    } else if g.is_async {
        quote!(#first_error.get_or_insert(e);)
    } else {
        // The batch's first error is placed at its own item, not at the batch.
        quote!(#tracker.keep_first(&mut #first_error, e);)
    };
    let after_item = if g.exits {
        quote!(if #tracker.has_broken() { break; })
    } else {
        quote!()
    };
    quote! {
        let mut #first_error = ::core::option::Option::None;
        #tracker_decl
        for #item in #items {
            let #result: ::core::result::Result<(), _> = #one;
            if let ::core::result::Result::Err(e) = #result {
                #keep_first
            }
            #after_item
        }
        #after_items
    }
}
