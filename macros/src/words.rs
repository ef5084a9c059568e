//! The words an option chooses from (`backend = pool`, `schedule = steal`,
//! `on_full = caller_runs`) as typed values, resolved once when the options are parsed:
//! no later phase compares strings or spells a runtime variant from an identifier.

use std::fmt;

use proc_macro2::TokenStream;
use quote::quote;

/// A word of a fixed list: how it is spelled in the attribute, and the runtime value it
/// becomes.
pub trait Word: Copy + PartialEq + fmt::Display + Sized + 'static {
    /// The option it belongs to.
    const KEY: &'static str;
    /// Every word, with its spelling.
    const ALL: &'static [(&'static str, Self)];
    /// The runtime value, under the facade's `__private` path `p`.
    fn runtime(self, p: &TokenStream) -> TokenStream;

    /// How the word is spelled.
    fn spelling(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, v)| *v == self)
            .map(|(w, _)| *w)
            .expect("every word has a spelling")
    }
}

macro_rules! words {
    ($(#[$doc:meta])* $name:ident, $key:literal, $runtime:ident { $($word:literal => $variant:ident,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($variant,)*
        }

        impl Word for $name {
            const KEY: &'static str = $key;
            const ALL: &'static [(&'static str, Self)] = &[$(($word, $name::$variant),)*];

            fn runtime(self, p: &TokenStream) -> TokenStream {
                match self {
                    $($name::$variant => quote!(#p::$runtime::$variant),)*
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.spelling())
            }
        }
    };
}

words! {
    /// `backend = …`
    Backend, "backend", Backend {
        "rayon" => Rayon,
        "pool" => Pool,
        "async" => Async,
        "serial" => Serial,
        "timely" => Timely,
    }
}

words! {
    /// `schedule = …`
    Schedule, "schedule", Schedule {
        "dynamic" => Dynamic,
        "static" => Static,
        "guided" => Guided,
        "steal" => Steal,
    }
}

words! {
    /// `on_full = …`
    OnFull, "on_full", OnFull {
        "block" => Block,
        "drop" => Drop,
        "reject" => Reject,
        "caller_runs" => CallerRuns,
    }
}
