//! The loop's input as a runtime source, and how the run's own stops become the
//! function's error.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::Expr;

use super::{hidden, respan, Gen};

/// The input as a runtime source; keyed dispatch pulls it whatever its type.
pub(crate) fn of(g: &Gen) -> TokenStream {
    let (l, p) = (g.l, &g.p);
    match &l.options.key {
        // Keyed dispatch regroups items, so it pulls them whatever the input's type.
        Some(_) => {
            let input = &l.input;
            quote!(#p::Pulled::of(#input))
        }
        None => source(&l.input, p, g.is_async),
    }
}

/// `xs.enumerate()` keeps the index split of `xs`. An async loop also takes a `Stream`.
fn source(input: &Expr, p: &TokenStream, is_async: bool) -> TokenStream {
    if let Expr::MethodCall(m) = input {
        if m.method == "enumerate" && m.args.is_empty() && m.turbofish.is_none() {
            let inner = source(&m.receiver, p, is_async);
            return quote!(#p::Enumerated(#inner));
        }
    }
    let via = if is_async {
        quote!(#p::{ViaIndexed as _, ViaPulled as _, ViaStream as _})
    } else {
        quote!(#p::{ViaIndexed as _, ViaPulled as _})
    };
    // At the input, so that items that cannot cross threads are reported there.
    let span = input.span();
    let check = respan(quote!(#p::input), span);
    let wrap = respan(quote!(#p::Input::new), span);
    quote_spanned! {span=> {
        use #via;
        #check((&#wrap(#input)).to_source())
    }}
}

/// The closure that turns the run's own stop (`Rejected`, `Cancelled`) into the
/// function's error, spanned at the option so a missing `From` impl is reported there;
/// `None` when nothing can stop the loop.
pub(crate) fn stops(g: &Gen) -> Option<TokenStream> {
    if !g.stoppable() {
        return None;
    }
    let (l, p) = (g.l, &g.p);
    let stop = hidden("stop");
    let rejected = match &l.options.on_full {
        Some(c) if g.rejects => {
            quote_spanned!(c.span=> #[allow(clippy::useless_conversion)] #p::Stop::Rejected(r) => ::core::convert::From::from(r),)
        }
        _ => quote!(),
    };
    let cancel_span = l
        .options
        .timeout
        .as_ref()
        .map(|(s, _)| *s)
        .or_else(|| l.options.cancel.as_ref().map(Spanned::span));
    let cancelled = match cancel_span {
        Some(span) => {
            quote_spanned!(span=> #[allow(clippy::useless_conversion)] #p::Stop::Cancelled(c) => ::core::convert::From::from(c),)
        }
        None => quote!(),
    };
    let rest = if g.rejects && g.cancels {
        quote!()
    } else {
        quote!(#stop => #p::Stop::unexpected(#stop),)
    };
    Some(quote!(|#stop| match #stop { #rejected #cancelled #rest }))
}
