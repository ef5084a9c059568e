//! The synchronous shape: one call of `run` (or `run_stoppable`, `run_keyed`) with the
//! batch closure.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::body::BatchBody;
use super::config::Head;
use super::reduce::{Reductions, Tail};
use super::{input, Gen};

pub(crate) fn generate(
    g: &Gen,
    head: &Head,
    reductions: &Reductions,
    body: &BatchBody,
    tail: &Tail,
) -> TokenStream {
    let (l, p) = (g.l, &g.p);
    let (site_name, config, result, reducers, batch) =
        (&g.site, &g.config, &g.result, &g.reducers, &g.batch);
    let (entry, stops) = match (&l.options.key, input::stops(g)) {
        // Across processes: the feature's check first, at the option.
        _ if g.timely => (quote!(run_timely), quote!()),
        (Some(k), stops) => {
            let mut key_pat = l.pat.clone();
            if let syn::Pat::Ident(pi) = &mut key_pat {
                pi.mutability = None;
            }
            let stops = stops.unwrap_or_else(|| quote!(#p::Stop::unexpected));
            (
                quote!(run_keyed),
                quote_spanned!(k.span()=> #stops, |#key_pat: &_| #p::hash_key(&(#k))),
            )
        }
        (None, stops) if g.classifies => {
            let stops = stops.unwrap_or_else(|| quote!(#p::Stop::unexpected));
            let classify = super::hidden("overloaded");
            (quote!(run_adaptive), quote!(#stops, #classify))
        }
        (None, Some(stops)) => (quote!(run_stoppable), stops),
        (None, None) => (quote!(run), quote!()),
    };
    let classifier = g.classifier();
    // `backend = timely` is checked against the facade's feature first, at the option.
    let feature = if g.timely {
        let at = l.options.backend.as_ref().map_or(l.for_span, |b| b.span);
        let check = super::respan(quote!(#p::Timely), at);
        quote!(#check,)
    } else {
        quote!()
    };
    let input = input::of(g);
    let err_ty = g.err_ty();
    let Head {
        site,
        calls,
        make_permits,
    } = head;
    let declare = reductions.declare(g);
    let seed = super::hidden("seed");
    let init = reductions.init(&quote!(#seed));
    let partials = reductions.partials();
    let BatchBody {
        take_snapshots,
        state_param,
        bind_state,
        with_inits,
        batch_loop,
        ..
    } = body;
    let Tail { exit_decl, end } = tail;
    quote_spanned! {l.for_span=>
        {
            #site
            let #config = #p::Config::new(&#site_name) #calls;
            #make_permits
            #declare
            #exit_decl
            #classifier
            let #result = #p::#entry(
                #feature
                #config,
                #input,
                &#reducers,
                || (#(#with_inits,)*),
                |#state_param, #seed, #batch| -> ::core::result::Result<_, #err_ty> {
                    #take_snapshots
                    #bind_state
                    #init
                    #batch_loop
                    ::core::result::Result::Ok(#partials)
                },
                #stops
            );
            #end
        }
    }
}
