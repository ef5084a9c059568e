//! Code generation: one parallel loop becomes a block that builds a `Config` and calls
//! `run` once, with the loop body as a batch closure. Everything clever lives in the
//! runtime; what is emitted here is meant to be read (the book shows it).

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{Expr, Ident, Path};

use crate::model::{Context, LoopBody, ParLoop};
use crate::options::{BatchOpt, Duration, LimitOpt, ReduceOp};
use crate::scan::{wrap_last_assignments, ContinueToReturn, ExitRewrite};

/// Names the generated code declares; `mixed_site` keeps them invisible to the user's
/// body (and the user's names invisible to them).
fn hidden(name: &str) -> Ident {
    format_ident!("__bounded_{}", name, span = Span::mixed_site())
}

/// The expression that replaces the loop.
pub fn expand(l: &ParLoop) -> TokenStream {
    let krate: Path = l
        .options
        .krate
        .clone()
        .unwrap_or_else(|| syn::parse_quote!(::bounded));
    let p = quote!(#krate::__private);
    let (site, config, result, reducers, state, batch, item, first_error) = (
        format_ident!("__BOUNDED_SITE"),
        hidden("config"),
        hidden("result"),
        hidden("reducers"),
        hidden("state"),
        hidden("batch"),
        hidden("item"),
        hidden("first_error"),
    );
    let collected = hidden("collected");
    let fallible = !l.facts.tries.is_empty();
    let keep_going = l.options.keep_going.is_some() && fallible;
    // The loop can fail on its own: a full queue under `reject`, a deadline, a token.
    let (rejects, cancels) = (l.options.rejects(), l.options.cancels());
    let stoppable = rejects || cancels;
    let collect = matches!(l.body, LoopBody::Collect(_));
    // `break` and `return` in the body: the run is cut at the first item that leaves.
    let returns = !l.facts.returns.is_empty();
    let exits = returns || !l.facts.breaks.is_empty();
    let (tracker, exit) = (hidden("tracker"), hidden("exit"));

    // --- the site: a static per loop, named and located.
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

    // --- the config: only what the user said.
    let mut calls = TokenStream::new();
    if let Some(limit) = &l.options.limit {
        let value = limit_value(limit, &p);
        calls.extend(quote!(.limit(#value)));
    }
    match &l.options.batch {
        Some(BatchOpt::Expr(e)) => calls.extend(quote!(.batch(#p::BatchSize::fixed(#e)))),
        Some(BatchOpt::Auto) => calls.extend(quote!(.batch(#p::BatchSize::Auto))),
        None => {}
    }
    if let Some(s) = &l.options.schedule {
        let v = format_ident!("{}", capitalize(&s.value.to_string()));
        calls.extend(quote!(.schedule(#p::Schedule::#v)));
    }
    if let Some(b) = &l.options.backend {
        let v = format_ident!("{}", capitalize(&b.value.to_string()));
        calls.extend(quote!(.backend(#p::Backend::#v)));
    } else if l.options.pool.is_some() {
        calls.extend(quote!(.backend(#p::Backend::Pool)));
    }
    match (&l.options.pool, &l.options.backend) {
        // `backend = rayon, pool = PATH`: a rayon `ThreadPool` in a `static`.
        (Some(pool), Some(b)) if b.value == "rayon" => {
            calls.extend(quote_spanned!(pool.span()=> .rayon_pool(&#pool)));
        }
        (Some(pool), _) => calls.extend(quote_spanned!(pool.span()=> .pool(&#pool))),
        (None, _) => {}
    }
    if let Some(q) = &l.options.queue {
        calls.extend(quote!(.queue(#q)));
    }
    if let Some(c) = &l.options.on_full {
        let v = format_ident!("{}", camel(&c.value.to_string()));
        calls.extend(quote!(.on_full(#p::OnFull::#v)));
    }
    if let Some((_, d)) = &l.options.timeout {
        let d = duration(d);
        calls.extend(quote!(.timeout(#d)));
    }
    if let Some(c) = &l.options.cancel {
        // Spanned at the value, so a value that is not a token is reported there.
        calls.extend(quote_spanned!(c.span()=> .cancel(&#c)));
    }
    if let Some(e) = &l.options.parallel_if {
        calls.extend(quote!(.parallel_if(#e)));
    }
    if keep_going {
        calls.extend(quote!(.keep_going(true)));
    }
    if exits {
        calls.extend(quote!(.early_exit(true)));
    }

    // --- reductions: the collect form's vector first, then `reduce(...)` in order.
    let reductions = l.options.reduce.clone().unwrap_or_default();
    let mut typed = Vec::new();
    let mut vars = Vec::new();
    if collect {
        typed.push(quote!(#p::Typed::<_, ::std::vec::Vec<_>>::new(#p::op::Append)));
        vars.push(collected.clone());
    }
    for r in &reductions {
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
    let mut body = l.body.clone();
    let last: Vec<_> = reductions
        .iter()
        .filter(|r| matches!(r.op, ReduceOp::Last))
        .map(|r| r.var.clone())
        .collect();
    wrap_last_assignments(&mut body, &l.pat, last);
    // The batch loop carries the user's label, or one of ours when a `return` must leave
    // it from an inner loop.
    let batch_label: syn::Lifetime = match &l.label {
        Some(label) => label.name.clone(),
        None => syn::Lifetime::new("'__bounded_items", Span::mixed_site()),
    };
    if exits {
        if let LoopBody::Block(block) = &mut body {
            let on_break: Expr = if returns {
                syn::parse_quote!(#exit.broke(#tracker))
            } else {
                syn::parse_quote!(#tracker.broke())
            };
            let leave: Expr = if keep_going {
                syn::parse_quote!(return ::core::result::Result::Ok(()))
            } else {
                syn::parse_quote!(break #batch_label)
            };
            ExitRewrite {
                own_label: l.label.as_ref().map(|l| l.name.ident.to_string()),
                loop_depth: 0,
                inner_labels: Vec::new(),
                on_break,
                exit: returns.then(|| (syn::parse_quote!(#exit), syn::parse_quote!(#tracker))),
                leave,
            }
            .visit_block_mut(block);
        }
    }

    // --- per-worker state.
    let with = l.options.with.clone().unwrap_or_default();
    let with_names: Vec<_> = with.iter().map(|w| &w.name).collect();
    let with_inits: Vec<_> = with.iter().map(|w| &w.init).collect();
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

    // --- the batch body.
    let label = &l.label;
    let pat = &l.pat;
    let err_ty = if fallible || stoppable {
        quote!(_)
    } else {
        quote!(::core::convert::Infallible)
    };
    let is_async = l.is_async();
    // An async lane owns its batch; the body iterates the batch's items.
    let whole = if is_async {
        quote!(#batch.items())
    } else {
        quote!(#batch)
    };
    // A fallible body iterates `checked()`: no item starts once the run stops, and an
    // error is placed at its item. (Async batches are contiguous and place errors by
    // batch; under `keep_going` they run every item.)
    let items = if exits || ((fallible || stoppable) && !(keep_going && is_async)) {
        quote!(#whole.checked())
    } else {
        quote!(#whole)
    };
    let permits = hidden("permits");
    let take_weight = match &l.options.weight {
        Some(w) => {
            let permit = hidden("permit");
            let wait = if is_async {
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
    let (body, take_snapshots) = if is_async {
        (body, quote!())
    } else {
        crate::snapshot::snapshot(l, &body, &p)
    };
    let per_item = match &body {
        LoopBody::Block(block) if l.options.weight.is_some() => quote!({ #take_weight #block }),
        LoopBody::Block(block) => quote!(#block),
        LoopBody::Collect(e) => quote!({ #take_weight #collected.push(#e); }),
    };
    let make_permits = if l.options.weight.is_some() {
        quote!(let #permits = #p::LoopPermits::new(&#config);)
    } else {
        quote!()
    };
    // The lane's tracker: where an error (under `keep_going`) or a `break` happened.
    let tracker_decl = if exits || (keep_going && !is_async) {
        quote!(let #tracker = #batch.tracker();)
    } else {
        quote!()
    };
    let batch_loop = if keep_going {
        // Each item in a closure of its own, so an error ends the item, not the batch.
        let mut body: Expr = syn::parse2(per_item).expect("a block is an expression");
        ContinueToReturn {
            own_label: l.label.as_ref().map(|l| l.name.ident.to_string()),
            loop_depth: 0,
            inner_labels: Vec::new(),
            replacement: syn::parse_quote!(return ::core::result::Result::Ok(())),
        }
        .visit_expr_mut(&mut body);
        let after_items = if is_async {
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
        let one = if is_async {
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
        let keep_first = if is_async {
            quote!(#first_error.get_or_insert(e);)
        } else {
            // The batch's first error is placed at its own item, not at the batch.
            quote!(#tracker.keep_first(&mut #first_error, e);)
        };
        let after_item = if exits {
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
    } else if exits {
        quote! {
            #tracker_decl
            #batch_label: for #pat in #items #per_item
        }
    } else {
        quote!(#label for #pat in #items #per_item)
    };
    let init_acc = if vars.is_empty() {
        quote!()
    } else {
        quote! {
            #[allow(unused_mut)]
            let (#(mut #vars,)*) = #p::ReduceSet::identity(&#reducers);
        }
    };

    // --- after the run: propagate the error, fold reductions, produce the value.
    let unwrap = if fallible || stoppable {
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
    for (i, var) in vars.iter().enumerate() {
        let part = format_ident!("__bounded_{}", var, span = Span::mixed_site());
        let index = syn::Index::from(i);
        if !(collect && i == 0) {
            folds.extend(quote!(#reducers.#index.fold_into(&mut #var, #part);));
        }
        parts.push(part);
    }
    let bind_parts = if parts.is_empty() {
        quote!(let () = #unwrap;)
    } else {
        quote!(let (#(#parts,)*) = #unwrap;)
    };
    let (exit_decl, exit_take) = if returns {
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
    let tail = if collect {
        let first = &parts[0];
        quote!(::core::iter::FromIterator::from_iter(#first))
    } else {
        quote!()
    };
    let input = match &l.options.key {
        // Keyed dispatch regroups items, so it pulls them whatever the input's type.
        Some(_) => {
            let input = &l.input;
            quote!(#p::Pulled::of(#input))
        }
        None => source(&l.input, &p, l.is_async()),
    };
    let (entry, stops) = if stoppable {
        let stop = hidden("stop");
        // Spanned at the option, so a missing `From` impl is reported there.
        let rejected = match &l.options.on_full {
            Some(c) if rejects => {
                quote_spanned!(c.value.span()=> #[allow(clippy::useless_conversion)] #p::Stop::Rejected(r) => ::core::convert::From::from(r),)
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
        let rest = if rejects && cancels {
            quote!()
        } else {
            quote!(#stop => #p::Stop::unexpected(#stop),)
        };
        (
            quote!(run_stoppable),
            quote!(|#stop| match #stop { #rejected #cancelled #rest }),
        )
    } else {
        (quote!(run), quote!())
    };
    let (entry, stops) = match &l.options.key {
        Some(k) => {
            let mut key_pat = l.pat.clone();
            if let syn::Pat::Ident(pi) = &mut key_pat {
                pi.mutability = None;
            }
            let stops = if stoppable {
                stops
            } else {
                quote!(#p::Stop::unexpected)
            };
            (
                quote!(run_keyed),
                quote_spanned!(k.span()=> #stops, |#key_pat: &_| #p::hash_key(&(#k))),
            )
        }
        None => (entry, stops),
    };

    if is_async {
        let (run, lane, lane_state) = (hidden("run"), hidden("lane"), hidden("lane_state"));
        let backend = if l.options.backend.is_none() {
            quote!(.backend(#p::Backend::Async))
        } else {
            quote!()
        };
        let stops = if stoppable {
            stops
        } else {
            quote!(#p::Stop::unexpected)
        };
        let lane_error = hidden("lane_error");
        let (lane_error_decl, lane_error_return) = if keep_going {
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
        let bind_lane_state = if with.is_empty() {
            quote!()
        } else {
            quote! {
                let mut #lane_state = (#(#with_inits,)*);
                let (#(#with_names,)*) = &mut #lane_state;
            }
        };
        return quote_spanned! {l.for_span=>
            {
                static #site: #p::Site = #p::Site::new(#name, ::core::file!(), #line);
                let #config = #p::Config::new(&#site) #calls #backend;
                #make_permits
                let #reducers = (#(#typed,)*);
                #exit_decl
                let #run = #p::AsyncRun::new(#config, #input, &#reducers);
                let #result = #run.drive(|| async {
                    let #lane = #run.lane();
                    #bind_lane_state
                    #lane_error_decl
                    while let ::core::option::Option::Some(mut #batch) = #lane.next().await {
                        #init_acc
                        #batch_loop
                        #lane.keep((#(#vars,)*));
                    }
                    #lane_error_return
                    ::core::result::Result::<(), #err_ty>::Ok(())
                }, #stops).await;
                #bind_parts
                #exit_take
                #folds
                #tail
            }
        };
    }

    quote_spanned! {l.for_span=>
        {
            static #site: #p::Site = #p::Site::new(#name, ::core::file!(), #line);
            let #config = #p::Config::new(&#site) #calls;
            #make_permits
            let #reducers = (#(#typed,)*);
            #exit_decl
            let #result = #p::#entry(
                #config,
                #input,
                &#reducers,
                || (#(#with_inits,)*),
                |#state_param, #batch| -> ::core::result::Result<_, #err_ty> {
                    #take_snapshots
                    #bind_state
                    #init_acc
                    #batch_loop
                    ::core::result::Result::Ok((#(#vars,)*))
                },
                #stops
            );
            #bind_parts
            #exit_take
            #folds
            #tail
        }
    }
}

/// `tokens`, every one at `span` (so that rustc's error about them lands there), with
/// hygiene kept.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
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

/// The input as a runtime source; `xs.enumerate()` keeps the index split of `xs`. An
/// async loop also takes a `Stream`.
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
        LimitOpt::Adaptive { .. } => unreachable!("rejected by validation"),
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

/// `caller_runs` → `CallerRuns`.
fn camel(s: &str) -> String {
    s.split('_').map(capitalize).collect()
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}
