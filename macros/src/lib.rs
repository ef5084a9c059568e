//! Procedural macros of [`bounded`](https://docs.rs/bounded): `#[bounded]`,
//! `par_bounded!` and `#[gate]`. Each is a small compiler — `options` parses, `scan` finds the loops
//! and the body facts, `model` holds the loop, `validate` checks the rules, `expand`
//! generates one runtime call — wired together in `pipeline`.
#![deny(missing_docs)]

use proc_macro::TokenStream;

mod expand;
mod gate;
mod model;
mod options;
mod pipeline;
mod scan;
mod snapshot;
mod validate;
mod words;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;

/// Runs the outermost `for` loops of a function in parallel, bounded and batched.
/// See the `bounded` crate for the options.
#[proc_macro_attribute]
pub fn bounded(args: TokenStream, item: TokenStream) -> TokenStream {
    pipeline::bounded_attr(args.into(), item.into()).into()
}

/// One parallel loop as an expression: `par_bounded!(OPTIONS; for x in xs { … })`, or
/// `par_bounded!(OPTIONS; for x in xs => EXPR)` to collect one value per item in input
/// order. See the `bounded` crate for the options.
#[proc_macro]
pub fn par_bounded(input: TokenStream) -> TokenStream {
    pipeline::par_bounded(input.into()).into()
}

/// Caps how many calls of a function run at once, process-wide: `#[gate(limit = N)]`,
/// with `on_full = block | reject`, `weight = EXPR` and `coalesce` (singleflight).
/// See the `bounded` crate for the options.
#[proc_macro_attribute]
pub fn gate(args: TokenStream, item: TokenStream) -> TokenStream {
    gate::gate_attr(args.into(), item.into()).into()
}
