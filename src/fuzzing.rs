//! What the property tests named `fuzz_*` share (tests only): their configuration. `cargo test`
//! runs each for a few dozen cases so the suite stays quick; `scripts/fuzz` runs them for as
//! long as it is told with `PROPTEST_CASES` set large. A failing case is shrunk and its seed
//! appended to `proptest-regressions/<the test's source path>.txt`, which is committed: every
//! later run replays it first, so a crash once found stays a regression test.

use proptest::test_runner::Config;

/// Cases per `fuzz_*` target in a plain `cargo test` (when `PROPTEST_CASES` is not set).
const QUICK_CASES: u32 = 48;

/// proptest's configuration from the environment (`PROPTEST_CASES`, `PROPTEST_RNG_SEED`, …),
/// with few cases unless `PROPTEST_CASES` asks for more.
pub fn config() -> Config {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = QUICK_CASES;
    }
    config
}
