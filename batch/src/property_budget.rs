//! The fixed budget of the crate's property tests: a set number of cases
//! from a fixed seed, so CI runs the same cases in the same time
//! (`PROPTEST_RNG_SEED` explores others).

use proptest::test_runner::{Config, RngSeed};

/// `cases` cases from `seed`, unless `PROPTEST_RNG_SEED` chooses another seed.
pub(crate) fn fixed(cases: u32, seed: u64) -> Config {
    let default = Config::default();
    Config {
        cases,
        rng_seed: match default.rng_seed {
            RngSeed::Random => RngSeed::Fixed(seed),
            chosen => chosen,
        },
        ..default
    }
}
