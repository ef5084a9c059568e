//! Compile-fail cases (one file per message of the macros, with the exact message
//! pinned in its `.stderr`) and compile-pass cases.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
    // `backend = timely` without its feature: with the feature on (`--all-features`),
    // the same file compiles and runs, and the message is not there to check.
    if !cfg!(feature = "timely") {
        t.compile_fail("tests/ui/without-timely/*.rs");
    }
}
