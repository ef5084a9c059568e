//! The book's error catalogue lists every compile-fail case, with the message pinned in
//! its `.stderr`, so a new message cannot go undocumented
//! (regenerate the table with `scripts/error-catalogue`); the cases of `tests/ui/timely`
//! need the `timely` feature to fail as pinned.

use std::path::Path;

#[test]
fn every_compile_fail_case_is_in_the_error_catalogue() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let reference = std::fs::read_to_string(root.join("book/src/reference.md")).unwrap();
    let catalogue = &reference[reference
        .find("## Error catalogue")
        .expect("the reference has an error catalogue")..];
    let mut cases = 0;
    // `tests/default-build/ui` holds the cases compiled against the default features,
    // `tests/ui/timely` those that need the `timely` feature.
    let dirs = ["tests/ui/fail", "tests/default-build/ui", "tests/ui/timely"];
    let entries = dirs
        .iter()
        .flat_map(|d| std::fs::read_dir(root.join(d)).unwrap());
    for entry in entries {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            cases += 1;
            let name = path.file_stem().unwrap().to_str().unwrap();
            let row = catalogue
                .lines()
                .find(|l| l.ends_with(&format!("| `{name}` |")))
                .unwrap_or_else(|| panic!("`{name}` is missing from the error catalogue"));
            // The row quotes the first line of the pinned message.
            let stderr = std::fs::read_to_string(path.with_extension("stderr")).unwrap();
            let first = stderr.lines().find(|l| l.starts_with("error")).unwrap();
            let message = first.split_once(": ").map_or(first, |(_, m)| m);
            assert!(
                row.contains(&message.replace('|', "\\|")),
                "the catalogue row of `{name}` does not quote its message: {message}"
            );
        }
    }
    assert!(cases >= 20, "only {cases} compile-fail cases");
}
