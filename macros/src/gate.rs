//! `#[gate(...)]`: caps concurrent calls of a function, process-wide, and optionally
//! coalesces concurrent calls with equal arguments (singleflight). Its own small
//! pipeline: options → the function's facts → checks → the wrapped function.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{Expr, FnArg, Ident, ItemFn, LitStr, Pat, Path, ReturnType, Token, Type};

use crate::expand::limit_value;
use crate::options::{choice, eq, parse_limit, Choice, LimitOpt};
use crate::words::OnFull;

const KEYS: &str = "`limit`, `on_full`, `weight`, `coalesce`, `name`, `crate`";

/// What `#[gate(...)]` said.
#[derive(Default)]
struct GateOptions {
    limit: Option<(Span, LimitOpt)>,
    on_full: Option<Choice<OnFull>>,
    weight: Option<Expr>,
    coalesce: Option<Span>,
    name: Option<LitStr>,
    krate: Option<Path>,
}

impl Parse for GateOptions {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut o = GateOptions::default();
        let mut seen: Vec<String> = Vec::new();
        while !input.is_empty() {
            let key = Ident::parse_any(input)?;
            let name = key.to_string();
            if seen.contains(&name) {
                return Err(syn::Error::new(
                    key.span(),
                    format!("duplicate option `{name}`\nhelp: give each option once"),
                ));
            }
            seen.push(name.clone());
            match name.as_str() {
                "limit" => {
                    eq(input, &key)?;
                    let limit = parse_limit(input)?;
                    if let LimitOpt::Adaptive { span, .. } = limit {
                        return Err(syn::Error::new(
                            span,
                            "`limit = adaptive(...)` is not available for `#[gate]`\nhelp: write a fixed bound, `limit = cpus`, or `limit = little(rate = …, latency = …)`",
                        ));
                    }
                    o.limit = Some((key.span(), limit));
                }
                "on_full" => {
                    eq(input, &key)?;
                    o.on_full = Some(choice(input, &[("block", OnFull::Block), ("reject", OnFull::Reject)]).map_err(
                        |e| {
                            syn::Error::new(
                                e.span(),
                                format!("{e}\nnote: a gate has no queue to drop from or caller to hand to: calls wait (`block`) or fail (`reject`)"),
                            )
                        },
                    )?);
                }
                "weight" => {
                    eq(input, &key)?;
                    o.weight = Some(input.parse()?);
                }
                "coalesce" => {
                    if input.peek(Token![=]) {
                        return Err(syn::Error::new(
                            input.span(),
                            "`coalesce` takes no value\nhelp: write `coalesce` to share one execution among concurrent calls with equal arguments",
                        ));
                    }
                    o.coalesce = Some(key.span());
                }
                "name" => {
                    eq(input, &key)?;
                    o.name = Some(input.parse()?);
                }
                "crate" => {
                    eq(input, &key)?;
                    o.krate = Some(Path::parse_mod_style(input)?);
                }
                _ => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!(
                            "unknown option `{key}` for `#[gate]`\nhelp: the options are {KEYS}"
                        ),
                    ))
                }
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(o)
    }
}

/// One element of the coalescing key: how to make it and its type.
struct KeyPart {
    expr: TokenStream,
    ty: TokenStream,
    span: Span,
}

/// Finds `Self` and lifetimes, which a `static` cannot name.
#[derive(Default)]
struct Unnameable {
    self_type: Option<Span>,
    lifetime: Option<Span>,
    impl_trait: Option<Span>,
}

impl<'a> Visit<'a> for Unnameable {
    fn visit_path(&mut self, p: &'a syn::Path) {
        if p.segments.first().is_some_and(|s| s.ident == "Self") {
            self.self_type.get_or_insert(p.span());
        }
        syn::visit::visit_path(self, p);
    }
    fn visit_lifetime(&mut self, l: &'a syn::Lifetime) {
        if l.ident != "static" {
            self.lifetime.get_or_insert(l.span());
        }
    }
    fn visit_type_impl_trait(&mut self, t: &'a syn::TypeImplTrait) {
        self.impl_trait.get_or_insert(t.span());
    }
    fn visit_type_reference(&mut self, r: &'a syn::TypeReference) {
        // A reference's own lifetime does not reach the key (it is made owned).
        self.visit_type(&r.elem);
    }
}

fn key_parts(func: &ItemFn, errors: &mut Vec<syn::Error>) -> Vec<KeyPart> {
    let mut parts = Vec::new();
    for arg in &func.sig.inputs {
        match arg {
            FnArg::Receiver(r) if matches!(r.kind, syn::ReceiverKind::Reference(..)) => parts.push(KeyPart {
                // Calls on the same value coalesce; calls on different values do not.
                expr: quote_spanned!(r.span()=> (self as *const Self).cast::<()>() as usize),
                ty: quote!(usize),
                span: r.span(),
            }),
            FnArg::Receiver(r) => errors.push(syn::Error::new(
                r.span(),
                "`coalesce` cannot share a call that takes `self` by value: each call consumes its own receiver\nhelp: take `&self`, or remove `coalesce`",
            )),
            FnArg::Typed(t) => {
                let Pat::Ident(pi) = &*t.pat else {
                    errors.push(syn::Error::new(
                        t.pat.span(),
                        "`coalesce` keys calls by their arguments, so each needs a name\nhelp: bind the argument to a name and destructure it in the body",
                    ));
                    continue;
                };
                let name = &pi.ident;
                let mut un = Unnameable::default();
                un.visit_type(&t.ty);
                if let Some(span) = un.self_type.or(un.lifetime).or(un.impl_trait) {
                    errors.push(syn::Error::new(
                        span,
                        format!("`coalesce` keeps the arguments of running calls in a `static`, which cannot name this type of `{name}`\nhelp: pass an owned value or a plain reference, or remove `coalesce`"),
                    ));
                    continue;
                }
                let span = t.ty.span();
                match &*t.ty {
                    Type::Reference(r) => {
                        let elem = &r.elem;
                        parts.push(KeyPart {
                            expr: quote_spanned!(span=> ::std::borrow::ToOwned::to_owned(&*#name)),
                            ty: quote_spanned!(span=> <#elem as ::std::borrow::ToOwned>::Owned),
                            span,
                        });
                    }
                    ty => parts.push(KeyPart {
                        expr: quote_spanned!(span=> ::core::clone::Clone::clone(&#name)),
                        ty: ty.to_token_stream(),
                        span,
                    }),
                }
            }
        }
    }
    parts
}

/// `#[gate(ARGS)] ITEM`
pub fn gate_attr(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Vec::new();
    let options = syn::parse2::<GateOptions>(args).unwrap_or_else(|e| {
        errors.push(e);
        GateOptions::default()
    });
    let mut func: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(_) => {
            let e = syn::Error::new(
                Span::call_site(),
                "`#[gate]` goes on a function or method, to cap how many of its calls run at once",
            );
            let e = e.to_compile_error();
            return quote!(#item #e);
        }
    };
    let e = |errors: &mut Vec<syn::Error>, span: Span, msg: String| {
        errors.push(syn::Error::new(span, msg));
    };
    let fname = func.sig.ident.clone();
    let is_async = func.sig.asyncness.is_some();
    if errors.is_empty() && options.limit.is_none() && options.coalesce.is_none() {
        e(
            &mut errors,
            fname.span(),
            format!("`#[gate]` on `{fname}` needs `limit = N` (how many calls may run at once), `coalesce`, or both"),
        );
    }
    let returns_nothing = match &func.sig.output {
        ReturnType::Default => true,
        ReturnType::Type(_, ty) => matches!(&**ty, Type::Tuple(t) if t.elems.is_empty()),
    };
    let rejects = options
        .on_full
        .as_ref()
        .is_some_and(|c| c.value == OnFull::Reject);
    if rejects && returns_nothing {
        let c = options.on_full.as_ref().unwrap();
        e(
            &mut errors,
            c.span,
            format!("`on_full = reject` makes a refused call return `Err(bounded::Rejected)`, but `{fname}` returns nothing\nhelp: return a `Result` whose error type converts from `bounded::Rejected` (`impl From<bounded::Rejected> for MyError`), or use `on_full = block`"),
        );
    }
    if let (Some(w), None) = (&options.weight, &options.limit) {
        e(
            &mut errors,
            w.span(),
            "`weight` counts against `limit`, but the gate has no `limit`\nhelp: add `limit = N`"
                .to_owned(),
        );
    }
    let mut key = Vec::new();
    let mut result_ty = quote!(());
    if options.coalesce.is_some() {
        if let Some(g) = func
            .sig
            .generics
            .params
            .iter()
            .find(|p| !matches!(p, syn::GenericParam::Lifetime(_)))
        {
            e(
                &mut errors,
                g.span(),
                "`coalesce` cannot be used on a generic function: the calls in flight are kept in a `static`, which cannot depend on a type parameter\nhelp: wrap a call of the generic function in a non-generic one and coalesce that".to_owned(),
            );
        }
        key = key_parts(&func, &mut errors);
        if let ReturnType::Type(_, ty) = &func.sig.output {
            let mut un = Unnameable::default();
            un.visit_type(ty);
            if let Some(s) = un.self_type.or(un.lifetime).or(un.impl_trait) {
                e(
                    &mut errors,
                    s,
                    format!("`coalesce` hands every waiting call a clone of the result, kept in a `static`, which cannot name the return type of `{fname}`\nhelp: return an owned, nameable type"),
                );
            }
            result_ty = quote!(#ty);
        }
    }
    if !errors.is_empty() {
        let errors = errors.into_iter().map(|e| e.to_compile_error());
        return quote!(#func #(#errors)*);
    }

    // --- expansion
    let krate = options
        .krate
        .clone()
        .unwrap_or_else(|| syn::parse_quote!(::bounded));
    let p = quote!(#krate::__private);
    let gate = format_ident!("__BOUNDED_GATE");
    let permit = format_ident!("__bounded_permit", span = Span::mixed_site());
    let name = match &options.name {
        Some(n) => quote!(#n),
        None => {
            let f = fname.to_string();
            quote!(::core::concat!(::core::module_path!(), "::", #f))
        }
    };
    let limit = match &options.limit {
        Some((_, l)) => {
            let v = limit_value(l, &p);
            quote!(|| #v.resolve())
        }
        None => quote!(|| usize::MAX),
    };
    let weight = match &options.weight {
        Some(w) => quote_spanned!(w.span()=> #p::weight(#w)),
        None => quote!(1),
    };
    let acquire = if rejects {
        let span = options.on_full.as_ref().unwrap().span;
        let ret = quote_spanned!(span=> return ::core::result::Result::Err(::core::convert::From::from(r)));
        quote! {
            let #permit = match #gate.try_acquire(#limit, #weight) {
                ::core::result::Result::Ok(p) => p,
                ::core::result::Result::Err(r) => #ret,
            };
        }
    } else if is_async {
        quote!(let #permit = #gate.acquire_async(#limit, #weight).await;)
    } else {
        quote!(let #permit = #gate.acquire(#limit, #weight);)
    };
    let block = &func.block;
    let line = quote_spanned!(fname.span()=> ::core::line!());
    let statics = quote! {
        static #gate: #p::Gate = #p::Gate::new(#name, ::core::file!(), #line);
    };
    let body = if options.coalesce.is_some() {
        let flights = format_ident!("__BOUNDED_FLIGHTS");
        let key_tys = key.iter().map(|k| &k.ty);
        let key_exprs = key.iter().map(|k| &k.expr);
        let checks = key.iter().map(|k| {
            let ty = &k.ty;
            quote_spanned!(k.span=> #p::assert_coalesce_key::<#ty>();)
        });
        let result_check =
            quote_spanned!(func.sig.output.span()=> #p::assert_coalesce_result::<#result_ty>(););
        let joined = quote!(|| #gate.count_coalesced());
        let run = if is_async {
            quote!(#flights.run_async((#(#key_exprs,)*), #joined, || async move {
                #acquire
                #block
            }).await)
        } else {
            quote!(#flights.run((#(#key_exprs,)*), #joined, || {
                #acquire
                #block
            }))
        };
        quote! {{
            #statics
            static #flights: #p::Flights<(#(#key_tys,)*), #result_ty> = #p::Flights::new();
            #(#checks)*
            #result_check
            #gate.count_call();
            #run
        }}
    } else {
        quote! {{
            #statics
            #gate.count_call();
            #acquire
            #block
        }}
    };
    func.block = Box::new(syn::parse2(body).expect("the wrapped body is a block"));
    func.into_token_stream()
}
