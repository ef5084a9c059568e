//! Code generation: one parallel loop becomes a block that builds a `Config` and calls
//! the runtime once, with the loop body as a batch closure (or, for a body that awaits,
//! as lane futures). Everything clever lives in the runtime; what is emitted here is
//! meant to be read (the book shows it).
//!
//! The phases share one [`Gen`] (the loop, the names the code declares, and what the
//! body does) and are written once each: [`config`] (the site and the `Config`),
//! [`reduce`] (the partials, and the shared end: the error, the exit value, the folds),
//! [`body`] (the batch loop). Each output shape assembles them: [`sync`] (one `run`
//! call) and [`lanes`] (an `AsyncRun` driving lane futures).

mod body;
mod config;
mod input;
mod lanes;
mod reduce;
mod sync;

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::{Ident, Path};

use crate::model::{LoopBody, ParLoop};

pub use config::limit_value;

/// Names the generated code declares; `mixed_site` keeps them invisible to the user's
/// body (and the user's names invisible to them).
pub(crate) fn hidden(name: &str) -> Ident {
    format_ident!("__bounded_{}", name, span = Span::mixed_site())
}

/// One loop being generated: the loop, the runtime's path, the names the code
/// declares, and the facts every phase asks about.
pub(crate) struct Gen<'l> {
    pub l: &'l ParLoop,
    /// `::bounded::__private` (or `crate = PATH`'s).
    pub p: TokenStream,
    pub site: Ident,
    pub config: Ident,
    pub result: Ident,
    pub reducers: Ident,
    pub state: Ident,
    pub batch: Ident,
    pub item: Ident,
    pub first_error: Ident,
    pub collected: Ident,
    pub tracker: Ident,
    pub exit: Ident,
    /// The body has a `?`.
    pub fallible: bool,
    /// `keep_going` on a fallible body.
    pub keep_going: bool,
    /// `on_full = reject`: the loop can fail with `Rejected`.
    pub rejects: bool,
    /// `timeout` or `cancel`: the loop can fail with `Cancelled`.
    pub cancels: bool,
    /// The collect form.
    pub collect: bool,
    /// The body has a `return` that leaves the loop.
    pub returns: bool,
    /// The body has a `break` or `return` that leaves the loop.
    pub exits: bool,
    /// The body awaits.
    pub is_async: bool,
    /// `rate`: items start with a token.
    pub paced: bool,
    /// `limit = adaptive(...)` on a fallible body: its errors are asked whether they
    /// are overload signals.
    pub classifies: bool,
    /// `backend = timely`: across processes.
    pub timely: bool,
}

impl<'l> Gen<'l> {
    fn new(l: &'l ParLoop) -> Self {
        let krate: Path = l
            .options
            .krate
            .clone()
            .unwrap_or_else(|| syn::parse_quote!(::bounded));
        let fallible = !l.facts.tries.is_empty();
        let returns = !l.facts.returns.is_empty();
        Gen {
            l,
            p: quote!(#krate::__private),
            site: format_ident!("__BOUNDED_SITE"),
            config: hidden("config"),
            result: hidden("result"),
            reducers: hidden("reducers"),
            state: hidden("state"),
            batch: hidden("batch"),
            item: hidden("item"),
            first_error: hidden("first_error"),
            collected: hidden("collected"),
            tracker: hidden("tracker"),
            exit: hidden("exit"),
            fallible,
            keep_going: l.options.keep_going.is_some() && fallible,
            rejects: l.options.rejects(),
            cancels: l.options.cancels(),
            collect: matches!(l.body, LoopBody::Collect(_)),
            returns,
            exits: returns || !l.facts.breaks.is_empty(),
            is_async: l.is_async(),
            paced: l.options.rate.is_some(),
            classifies: fallible
                && matches!(
                    l.options.limit,
                    Some(crate::options::LimitOpt::Adaptive { .. })
                ),
            timely: l.options.backend() == crate::words::Backend::Timely,
        }
    }

    /// `limit = adaptive(...)` on a fallible body: the classifier of its errors, found
    /// through `IsOverloaded` by autoref specialisation. The unreachable `return` names
    /// the error type (the enclosing function's, which the loop's `?` returns) before
    /// the lookup, which needs it known.
    pub fn classifier(&self) -> TokenStream {
        if !self.classifies {
            return TokenStream::new();
        }
        let (p, name) = (&self.p, hidden("overloaded"));
        let probe = hidden("probe");
        quote! {
            let #name = {
                use #p::{ViaIsOverloaded as _, ViaNotOverloaded as _};
                let #probe = #p::OverloadProbe::new();
                if false {
                    return ::core::result::Result::Err(#probe.never());
                }
                (&#probe).classifier()
            };
        }
    }

    /// The loop can fail on its own: a full queue under `reject`, a deadline, a token.
    pub fn stoppable(&self) -> bool {
        self.rejects || self.cancels
    }

    /// The body's error type: inferred when something can fail, else `Infallible` (on
    /// `backend = timely`, the runtime's serializable `Never`).
    pub fn err_ty(&self) -> TokenStream {
        if self.fallible || self.stoppable() {
            quote!(_)
        } else if self.timely {
            let p = &self.p;
            quote!(#p::Never)
        } else {
            quote!(::core::convert::Infallible)
        }
    }
}

/// The expression that replaces the loop.
pub fn expand(l: &ParLoop) -> TokenStream {
    let g = Gen::new(l);
    let head = config::head(&g);
    let reductions = reduce::Reductions::of(&g);
    let body = body::BatchBody::of(&g, &reductions);
    let tail = reductions.tail(&g);
    if g.is_async {
        lanes::generate(&g, &head, &reductions, &body, &tail)
    } else {
        sync::generate(&g, &head, &reductions, &body, &tail)
    }
}

/// `tokens`, every one at `span` (so that rustc's error about them lands there), with
/// hygiene kept.
pub(crate) fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    use proc_macro2::{Group, TokenTree};
    tokens
        .into_iter()
        .map(|t| match t {
            TokenTree::Group(g) => {
                let mut out = Group::new(g.delimiter(), respan(g.stream(), span));
                out.set_span(g.span().located_at(span));
                TokenTree::Group(out)
            }
            mut other => {
                other.set_span(other.span().located_at(span));
                other
            }
        })
        .collect()
}
