//! The two pipelines, parse → model → validate → expand, as library functions on
//! `proc_macro2` streams (so the whole expansion is testable). A failed expansion still
//! emits the user's item (without the attributes it consumed) next to the errors, so
//! the rest of the crate keeps type-checking and the IDE keeps working.

use proc_macro2::{TokenStream, TokenTree};
use quote::{quote, ToTokens};
use syn::parse::{Parse, ParseStream};
use syn::visit_mut::VisitMut;
use syn::{Block, Expr, ExprForLoop, ItemFn, Label, Pat, Token};

use crate::expand::expand;
use crate::model::{Context, LoopBody, ParLoop};
use crate::options::Options;
use crate::scan::{body_facts, LoopAttr, NestedLoopAttrs, OutermostLoops};
use crate::validate;

fn with_errors(tokens: TokenStream, errors: Vec<syn::Error>) -> TokenStream {
    let errors = errors.into_iter().map(|e| e.to_compile_error());
    quote!(#tokens #(#errors)*)
}

/// `par_bounded!`'s value when it cannot expand: the errors, and an expression of any
/// type, so the errors are not followed by a type mismatch. It is a call of a generic
/// function rather than a diverging expression, so the code after the loop does not
/// draw `unreachable statement` warnings on top of the errors.
fn expr_with_errors(errors: Vec<syn::Error>) -> TokenStream {
    let errors = errors.into_iter().map(|e| e.to_compile_error());
    quote!({
        #(#errors;)*
        fn __bounded_unexpanded<T>() -> T {
            ::core::unreachable!()
        }
        __bounded_unexpanded()
    })
}

/// `#[bounded(ARGS)] ITEM`
pub fn bounded_attr(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Vec::new();
    let options = syn::parse2::<Options>(args).unwrap_or_else(|e| {
        errors.push(e);
        Options::default()
    });
    let mut func: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(_) => {
            let e = syn::Error::new(
                proc_macro2::Span::call_site(),
                "`#[bounded]` goes on a function or method whose `for` loops should run in parallel\nhelp: for a single loop anywhere, write `par_bounded!(OPTIONS; for … in … { … })`",
            );
            return with_errors(item, vec![e]);
        }
    };
    let name = func.sig.ident.clone();
    errors.extend(second_attribute(&mut func));
    let returns_option = match &func.sig.output {
        syn::ReturnType::Type(_, ty) => match &**ty {
            syn::Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "Option"),
            _ => false,
        },
        syn::ReturnType::Default => false,
    };
    let is_async = func.sig.asyncness.is_some();
    let error_not_send = match &func.sig.output {
        syn::ReturnType::Type(_, ty) => boxed_error_not_send(ty),
        syn::ReturnType::Default => None,
    };
    let returns_nothing = match &func.sig.output {
        syn::ReturnType::Default => true,
        syn::ReturnType::Type(_, ty) => matches!(&**ty, syn::Type::Tuple(t) if t.elems.is_empty()),
    };

    let mut parallel_loops = 0;
    let mut loop_errors = Vec::new();
    let mut on_loop = |mut for_loop: ExprForLoop, attr: LoopAttr| -> Expr {
        NestedLoopAttrs {
            errors: &mut loop_errors,
        }
        .visit_block_mut(&mut for_loop.body);
        let own = match attr {
            LoopAttr::Serial => return Expr::ForLoop(for_loop),
            LoopAttr::Inherit => None,
            LoopAttr::Override(o) => Some(*o),
        };
        parallel_loops += 1;
        let options = match &own {
            Some(o) => options.overridden_by(o),
            None => options.clone(),
        };
        let context = Context::Function {
            name: name.clone(),
            returns_option,
            returns_nothing,
            error_not_send,
            is_async,
        };
        match build(
            for_loop.clone(),
            LoopBody::Block(for_loop.body.clone()),
            options,
            context,
        ) {
            Ok(tokens) => Expr::Verbatim(tokens),
            Err(mut es) => {
                loop_errors.append(&mut es);
                Expr::ForLoop(for_loop)
            }
        }
    };
    let mut scan = OutermostLoops {
        on_loop: &mut on_loop,
        errors: Vec::new(),
        loops_seen: 0,
    };
    scan.visit_block_mut(&mut func.block);
    let (loops_seen, scan_errors) = (scan.loops_seen, scan.errors);
    errors.extend(scan_errors);
    errors.extend(loop_errors);
    if parallel_loops == 0 && errors.is_empty() {
        let what = if loops_seen == 0 {
            format!("`{name}` has no `for` loop outside other loops and closures for `#[bounded]` to run in parallel")
        } else {
            format!("every outermost `for` loop of `{name}` is `#[serial]`, so `#[bounded]` has nothing to run in parallel")
        };
        errors.push(syn::Error::new(
            name.span(),
            format!("{what}\nhelp: to cap how many calls of `{name}` run at once, use `#[gate(limit = N)]` on it instead"),
        ));
    }
    with_errors(func.into_token_stream(), errors)
}

/// A second `#[bounded(...)]` on the same function: it would run on this one's output,
/// whose loops are already parallel. Reported once, here, and removed.
fn second_attribute(func: &mut ItemFn) -> Option<syn::Error> {
    let at = func.attrs.iter().position(|a| {
        a.path()
            .segments
            .last()
            .is_some_and(|s| s.ident == "bounded")
    })?;
    let attr = func.attrs.remove(at);
    let name = &func.sig.ident;
    Some(syn::Error::new_spanned(
        attr.path(),
        format!("`{name}` has two `#[bounded]` attributes\nhelp: merge their options into one `#[bounded(...)]`; to give one loop its own options, put `#[bounded(...)]` on that loop"),
    ))
}

fn build(
    for_loop: ExprForLoop,
    body: LoopBody,
    options: Options,
    context: Context,
) -> Result<TokenStream, Vec<syn::Error>> {
    let declared: Vec<_> = options
        .with
        .iter()
        .flatten()
        .map(|w| w.name.clone())
        .collect();
    let own_label = for_loop.label.as_ref().map(|l| &l.name);
    let facts = body_facts(&for_loop.pat, own_label, &declared, &|v| match &body {
        LoopBody::Block(b) => syn::visit::Visit::visit_block(v, b),
        LoopBody::Collect(e) => syn::visit::Visit::visit_expr(v, e),
    });
    let model = ParLoop {
        label: for_loop.label,
        for_span: for_loop.for_token.span,
        pat: without_top_alt(*for_loop.pat),
        input: *for_loop.expr,
        body,
        options,
        facts,
        context,
    };
    let mut errors = Vec::new();
    validate::check(&model, &mut errors);
    if errors.is_empty() {
        Ok(expand(&model))
    } else {
        Err(errors)
    }
}

/// The loop's pattern as `let` and closure parameters take it: an or-pattern (`A | B`,
/// or `| A`) loses its leading `|` and goes in parentheses, which `for` accepts too.
fn without_top_alt(pat: Pat) -> Pat {
    match pat {
        Pat::Or(mut or) => {
            or.leading_vert = None;
            if or.cases.len() == 1 && or.attrs.is_empty() {
                return or.cases.into_iter().next().expect("one case");
            }
            // The parentheses are the macro's (no user span), so `unused_parens` does
            // not fire on the `for` the expansion keeps.
            Pat::Paren(syn::PatParen {
                attrs: Vec::new(),
                paren_token: syn::token::Paren::default(),
                pat: Box::new(Pat::Or(or)),
            })
        }
        pat => pat,
    }
}

/// `par_bounded!(OPTIONS; for PAT in EXPR BLOCK)` or `… => EXPR`.
pub fn par_bounded(input: TokenStream) -> TokenStream {
    let (options_tokens, rest) = split_options(input);
    let mut errors = Vec::new();
    let options = match options_tokens {
        Some(tokens) => syn::parse2::<Options>(tokens).unwrap_or_else(|e| {
            errors.push(e);
            Options::default()
        }),
        None => Options::default(),
    };
    let mut par: MacroLoop = match syn::parse2(rest) {
        Ok(p) => p,
        Err(e) => {
            errors.push(e);
            return expr_with_errors(errors);
        }
    };
    let mut nested = Vec::new();
    match &mut par.body {
        LoopBody::Block(b) => NestedLoopAttrs {
            errors: &mut nested,
        }
        .visit_block_mut(b),
        LoopBody::Collect(e) => NestedLoopAttrs {
            errors: &mut nested,
        }
        .visit_expr_mut(e),
    }
    errors.extend(nested);
    let for_loop = ExprForLoop {
        attrs: Vec::new(),
        label: par.label,
        for_token: par.for_token,
        pat: Box::new(par.pat),
        in_token: Default::default(),
        expr: Box::new(par.input),
        body: Block {
            brace_token: Default::default(),
            stmts: Vec::new(),
        },
    };
    if !errors.is_empty() {
        return expr_with_errors(errors);
    }
    match build(for_loop, par.body, options, Context::Macro) {
        Ok(tokens) => tokens,
        Err(es) => expr_with_errors(es),
    }
}

/// Splits `OPTIONS ; LOOP` at the first top-level `;`; no `;` means no options.
fn split_options(input: TokenStream) -> (Option<TokenStream>, TokenStream) {
    let tokens: Vec<TokenTree> = input.clone().into_iter().collect();
    let starts_with_loop = match tokens.first() {
        Some(TokenTree::Ident(i)) => i == "for",
        Some(TokenTree::Punct(p)) => p.as_char() == '\'',
        _ => false,
    };
    if starts_with_loop {
        return (None, input);
    }
    match tokens
        .iter()
        .position(|t| matches!(t, TokenTree::Punct(p) if p.as_char() == ';'))
    {
        Some(i) => (
            Some(tokens[..i].iter().cloned().collect()),
            tokens[i + 1..].iter().cloned().collect(),
        ),
        None => (None, input),
    }
}

struct MacroLoop {
    label: Option<Label>,
    for_token: Token![for],
    pat: Pat,
    input: Expr,
    body: LoopBody,
}

impl Parse for MacroLoop {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let label: Option<Label> = if input.peek(syn::Lifetime) {
            Some(input.parse()?)
        } else {
            None
        };
        if !input.peek(Token![for]) {
            return Err(input.error(
                "expected a `for` loop\nhelp: write `par_bounded!(limit = 4; for x in xs { … })`, or `… for x in xs => EXPR` to collect one value per item",
            ));
        }
        let for_token = input.parse()?;
        let pat = Pat::parse_multi_with_leading_vert(input)?;
        input.parse::<Token![in]>()?;
        let expr = Expr::parse_without_eager_brace(input)?;
        let body = if input.peek(Token![=>]) {
            input.parse::<Token![=>]>()?;
            let e: Expr = input.parse()?;
            if let Some(label) = &label {
                return Err(syn::Error::new(
                    label.name.ident.span(),
                    "the collect form `=> EXPR` takes no label",
                ));
            }
            LoopBody::Collect(e)
        } else {
            LoopBody::Block(input.parse()?)
        };
        if !input.is_empty() {
            return Err(input
                .error("unexpected tokens after the loop\nhelp: `par_bounded!` takes one loop"));
        }
        Ok(MacroLoop {
            label,
            for_token,
            pat,
            input: expr,
            body,
        })
    }
}

/// The error type of a `…Result<T, Box<dyn Error>>` return type whose trait object is
/// not `Send` (`Box<dyn Error>`, `Box<dyn std::error::Error + Sync>`): found by its
/// spelling, the commonest case in binaries.
fn boxed_error_not_send(ty: &syn::Type) -> Option<proc_macro2::Span> {
    use syn::spanned::Spanned;
    let syn::Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if !last.ident.to_string().ends_with("Result") {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    let err = args.args.iter().rev().find_map(|a| match a {
        syn::GenericArgument::Type(t) => Some(t),
        _ => None,
    })?;
    let syn::Type::Path(boxed) = err else {
        return None;
    };
    let b = boxed.path.segments.last()?;
    if b.ident != "Box" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(inner) = &b.arguments else {
        return None;
    };
    let Some(syn::GenericArgument::Type(syn::Type::TraitObject(object))) = inner.args.first()
    else {
        return None;
    };
    let names: Vec<String> = object
        .bounds
        .iter()
        .filter_map(|bound| match bound {
            syn::TypeParamBound::Trait(t) => t.path.segments.last().map(|s| s.ident.to_string()),
            _ => None,
        })
        .collect();
    (names.iter().any(|n| n == "Error") && !names.iter().any(|n| n == "Send")).then(|| err.span())
}
