//! Compile-fail cases of options that need a feature of `bounded`, compiled against its
//! default features (one file per message, the exact message pinned in its `.stderr`,
//! listed in the book's error catalogue like the facade's own cases).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/*.rs");
}
