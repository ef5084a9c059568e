//! Compile-fail cases (one file per message of the macros, with the exact message
//! pinned in its `.stderr`) and compile-pass cases.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
