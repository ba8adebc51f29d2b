//! Integration tests of `vario-stats`: the worked examples of the
//! statistics spec (`stats.md`), reference cases generated with gbstats,
//! scipy, numpy and statsmodels (`tools/stats-oracle/`), property tests, and
//! the validity simulation in small.

/// Asserts `|actual − expected| ≤ tol·max(1, |expected|)`: an absolute
/// tolerance for values up to 1 in size (p-values, chance to win) and a
/// relative one above (estimates, intervals, df). `tol` defaults to 1e-9.
macro_rules! assert_close {
    ($actual:expr, $expected:expr $(,)?) => {
        assert_close!($actual, $expected, 1e-9)
    };
    ($actual:expr, $expected:expr, $tol:expr $(,)?) => {{
        let (actual, expected, tol): (f64, f64, f64) = ($actual, $expected, $tol);
        let bound = tol * expected.abs().max(1.0);
        assert!(
            (actual - expected).abs() <= bound,
            "{} = {actual:e}, expected {expected:e} (±{bound:e})",
            stringify!($actual),
        );
    }};
}

mod properties;
mod reference_cases;
// The simulation behind the `validity` example (docs/validity.md), shared so
// the test runs exactly the code that produces the published figures.
#[path = "../../examples/validity/simulation.rs"]
mod simulation;
mod spec_examples;
mod validity;
