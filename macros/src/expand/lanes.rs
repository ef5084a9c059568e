//! The async shape: an `AsyncRun` whose lane futures run the batch loop, polled by the
//! caller's own task.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};

use super::body::BatchBody;
use super::config::Head;
use super::reduce::{Reductions, Tail};
use super::{hidden, input, Gen};

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
    let (run, lane, lane_state) = (hidden("run"), hidden("lane"), hidden("lane_state"));
    let backend = if l.options.backend.is_none() {
        quote!(.backend(#p::Backend::Async))
    } else {
        quote!()
    };
    let stops = input::stops(g).unwrap_or_else(|| quote!(#p::Stop::unexpected));
    let lane_error = hidden("lane_error");
    let (lane_error_decl, lane_error_return) = if g.keep_going {
        (
            quote!(let mut #lane_error = ::core::option::Option::None;),
            quote! {
                if let ::core::option::Option::Some((start, e)) = #lane_error {
                    #lane.failed_at(start);
                    return ::core::result::Result::Err(e);
                }
            },
        )
    } else {
        (quote!(), quote!())
    };
    let BatchBody {
        with_names,
        with_inits,
        batch_loop,
        ..
    } = body;
    let bind_lane_state = if with_names.is_empty() {
        quote!()
    } else {
        quote! {
            let mut #lane_state = (#(#with_inits,)*);
            let (#(#with_names,)*) = &mut #lane_state;
        }
    };
    let input = input::of(g);
    let err_ty = g.err_ty();
    let Head {
        site,
        calls,
        make_permits,
    } = head;
    let declare = reductions.declare(g);
    let init = reductions.init(&quote!(#lane.seed()));
    let partials = reductions.partials();
    let Tail { exit_decl, end } = tail;
    let classifier = g.classifier();
    let classify = if g.classifies {
        let name = hidden("overloaded");
        quote!(.overloaded_by(#name))
    } else {
        quote!()
    };
    quote_spanned! {l.for_span=>
        {
            #site
            let #config = #p::Config::new(&#site_name) #calls #backend;
            #make_permits
            #declare
            #exit_decl
            #classifier
            let #run = #p::AsyncRun::new(#config, #input, &#reducers) #classify;
            let #result = #run.drive(|| async {
                let #lane = #run.lane();
                #bind_lane_state
                #lane_error_decl
                while let ::core::option::Option::Some(mut #batch) = #lane.next().await {
                    #init
                    #batch_loop
                    #lane.keep(#partials);
                }
                #lane_error_return
                ::core::result::Result::<(), #err_ty>::Ok(())
            }, #stops).await;
            #end
        }
    }
}
