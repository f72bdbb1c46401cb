//! Reliability and security checks that span crates. The property tests are in
//! `tests/`; `src/bin/ext_core_churn.rs` drives the extension core for valgrind.
//! Case counts come from `PROPTEST_CASES` (thousands in `cargo test`, millions in
//! `rake reliability`).

/// Cases per property: `PROPTEST_CASES` when set, else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
