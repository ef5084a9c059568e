//! The shared beginning: the loop's `static` site, its `Config` (only what the user
//! said), and the permits of `weight`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::{hidden, Gen};
use crate::model::Context;
use crate::options::{BatchOpt, Duration, LimitOpt, RateOpt};
use crate::words::{Backend, Word};

/// What every shape starts with.
pub(crate) struct Head {
    /// `static __BOUNDED_SITE: Site = …;`
    pub site: TokenStream,
    /// The builder calls after `Config::new(&site)`.
    pub calls: TokenStream,
    /// `weight`: the loop's permits, made from the config.
    pub make_permits: TokenStream,
}

pub(crate) fn head(g: &Gen) -> Head {
    let (l, p) = (g.l, &g.p);
    let site = &g.site;
    let name = match (&l.options.name, &l.context) {
        (Some(n), _) => quote!(#n),
        (None, Context::Function { name, .. }) => {
            let f = name.to_string();
            quote_spanned!(l.for_span=> ::core::concat!(::core::module_path!(), "::", #f, ":", ::core::line!()))
        }
        (None, Context::Macro) => {
            quote_spanned!(l.for_span=> ::core::concat!(::core::module_path!(), ":", ::core::line!()))
        }
    };
    let line = quote_spanned!(l.for_span=> ::core::line!());
    let permits = hidden("permits");
    let config = &g.config;
    Head {
        site: quote!(static #site: #p::Site = #p::Site::new(#name, ::core::file!(), #line);),
        calls: calls(g),
        make_permits: if l.options.weight.is_some() {
            quote!(let #permits = #p::LoopPermits::new(&#config);)
        } else {
            quote!()
        },
    }
}

fn calls(g: &Gen) -> TokenStream {
    let (o, p) = (&g.l.options, &g.p);
    let mut calls = TokenStream::new();
    if let Some(limit) = &o.limit {
        let value = limit_value(limit, p);
        calls.extend(quote!(.limit(#value)));
    }
    match &o.batch {
        Some(BatchOpt::Expr(e)) => calls.extend(quote!(.batch(#p::BatchSize::fixed(#e)))),
        Some(BatchOpt::Auto) => calls.extend(quote!(.batch(#p::BatchSize::Auto))),
        None => {}
    }
    if let Some(s) = &o.schedule {
        let v = s.value.runtime(p);
        calls.extend(quote!(.schedule(#v)));
    }
    if o.backend.is_some() || o.pool.is_some() {
        let v = o.backend().runtime(p);
        calls.extend(quote!(.backend(#v)));
    }
    match (&o.pool, &o.backend) {
        // `backend = rayon, pool = PATH`: a rayon `ThreadPool` in a `static`.
        (Some(pool), Some(b)) if b.value == Backend::Rayon => {
            calls.extend(quote_spanned!(pool.span()=> .rayon_pool(&#pool)));
        }
        (Some(pool), _) => calls.extend(quote_spanned!(pool.span()=> .pool(&#pool))),
        (None, _) => {}
    }
    if let Some(q) = &o.queue {
        calls.extend(quote!(.queue(#q)));
    }
    if let Some(c) = &o.on_full {
        let v = c.value.runtime(p);
        calls.extend(quote!(.on_full(#v)));
    }
    if let Some((_, d)) = &o.timeout {
        let d = duration(d);
        calls.extend(quote!(.timeout(#d)));
    }
    if let Some(c) = &o.cancel {
        // Spanned at the value, so a value that is not a token is reported there.
        calls.extend(quote_spanned!(c.span()=> .cancel(&#c)));
    }
    match &o.rate {
        Some((_, RateOpt::PerUnit { items, unit })) => {
            let make = syn::Ident::new(unit.constructor(), proc_macro2::Span::call_site());
            calls.extend(quote_spanned!(items.span()=> .rate(#p::Rate::#make(#items))));
        }
        // Spanned at the value, so a value that is not a `Rate` is reported there.
        Some((_, RateOpt::Expr(e))) => calls.extend(quote_spanned!(e.span()=> .rate(#e))),
        None => {}
    }
    if let Some((_, b)) = &o.burst {
        calls.extend(quote_spanned!(b.span()=> .burst(#b)));
    }
    if let Some(e) = &o.parallel_if {
        calls.extend(quote!(.parallel_if(#e)));
    }
    if let Some((span, label)) = &o.progress {
        // A check of the facade: without its `progress` feature, one compile error here.
        let label = match label {
            Some(l) => quote!(::core::option::Option::Some(#l)),
            None => quote!(::core::option::Option::None),
        };
        // The whole argument at the option, so that the error points there.
        let check = respanned(quote!(#p::progress_label(#p::Progress, #label)), *span);
        calls.extend(quote_spanned!(*span=> .progress(#check)));
    }
    if g.keep_going {
        calls.extend(quote!(.keep_going(true)));
    }
    if g.exits {
        calls.extend(quote!(.early_exit(true)));
    }
    calls
}

/// `tokens` with every span set to `span`.
fn respanned(tokens: TokenStream, span: proc_macro2::Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut t| {
            if let proc_macro2::TokenTree::Group(g) = &t {
                let mut inner = proc_macro2::Group::new(g.delimiter(), respanned(g.stream(), span));
                inner.set_span(span);
                t = inner.into();
            } else {
                t.set_span(span);
            }
            t
        })
        .collect()
}

/// A `limit` option as a runtime `Limit` value.
pub fn limit_value(limit: &LimitOpt, p: &TokenStream) -> TokenStream {
    match limit {
        LimitOpt::Expr(e) => quote!(#p::Limit::fixed(#e)),
        LimitOpt::Cpus { factor: None } => quote!(#p::Limit::cpus(1)),
        LimitOpt::Cpus { factor: Some(k) } => quote!(#p::Limit::cpus(#k)),
        LimitOpt::Little { rate, latency } => {
            let latency = duration(latency);
            quote!(#p::Limit::little((#rate) as f64, #latency))
        }
        LimitOpt::Adaptive {
            max, min, initial, ..
        } => {
            let min = min.as_ref().map(|m| quote!(.min(#m)));
            let initial = initial.as_ref().map(|i| quote!(.initial(#i)));
            quote!(#p::Limit::adaptive(#p::Adaptive::new(#max) #min #initial))
        }
    }
}

fn duration(d: &Duration) -> TokenStream {
    match d {
        Duration::Literal { nanos } => {
            let secs = (nanos / 1_000_000_000) as u64;
            let sub = (nanos % 1_000_000_000) as u32;
            quote!(::core::time::Duration::new(#secs, #sub))
        }
        Duration::Expr(e) => quote!(#e),
    }
}
