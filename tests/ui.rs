//! Compile-fail tests for `#[differentiable]`: one misuse per file in `tests/ui/`, each with the
//! exact compiler output it must produce in the `.stderr` beside it. Regenerate the expected
//! output with `TRYBUILD=overwrite cargo test --test ui` and review the diff like code.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
