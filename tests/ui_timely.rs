//! Compile-fail cases of `backend = timely` that need its feature: the values that
//! cross processes must be serializable, and each error says which.

#[test]
fn ui_timely() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/timely/*.rs");
}
