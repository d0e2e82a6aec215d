//! Sampled debug logging: with `LOG_SAMPLE_RATE` (0 to 1), that fraction of
//! invocations logs at debug level as well as at the configured level, so a
//! problem that shows rarely can be seen without turning debug on for all.
//!
//! [`SampledTargets`] is the filter: the configured [`Targets`], and debug
//! lines while the current invocation is sampled. Lambda runs one invocation
//! at a time in a process, so "sampled" is one flag for the process, set by
//! [`sample_invocation`] as each invocation's span is made.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tracing::level_filters::LevelFilter;
use tracing::subscriber::Interest;
use tracing::{Level, Metadata, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::{Context, Layer};

/// The sample rate's bits (an `f64`); 0 by default.
static RATE: AtomicU64 = AtomicU64::new(0);
/// Whether the current invocation logs at debug level.
static SAMPLED: AtomicBool = AtomicBool::new(false);

/// Sets the fraction of invocations that log at debug level (clamped to 0..=1).
pub fn set_sample_rate(rate: f64) {
    let rate = if rate.is_finite() {
        rate.clamp(0.0, 1.0)
    } else {
        0.0
    };
    RATE.store(rate.to_bits(), Ordering::Relaxed);
}

fn rate() -> f64 {
    f64::from_bits(RATE.load(Ordering::Relaxed))
}

/// Decides whether the invocation starting now logs at debug level.
pub fn sample_invocation() {
    let rate = rate();
    SAMPLED.store(rate > 0.0 && fastrand::f64() < rate, Ordering::Relaxed);
}

/// Whether the current invocation logs at debug level.
pub fn is_sampled() -> bool {
    SAMPLED.load(Ordering::Relaxed)
}

/// The configured targets, and debug lines of sampled invocations.
#[derive(Clone, Debug)]
pub struct SampledTargets {
    base: Targets,
    sampling: bool,
}

impl SampledTargets {
    /// `base`, with sampled debug logging when `sampling` (a sample rate above 0).
    pub fn new(base: Targets, sampling: bool) -> Self {
        SampledTargets { base, sampling }
    }

    fn base_enables(&self, metadata: &Metadata<'_>) -> bool {
        self.base.would_enable(metadata.target(), metadata.level())
    }

    fn sampled_level(&self, metadata: &Metadata<'_>) -> bool {
        self.sampling && *metadata.level() <= Level::DEBUG
    }
}

impl<S: Subscriber> Layer<S> for SampledTargets {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if self.base_enables(metadata) {
            Interest::always()
        } else if self.sampled_level(metadata) {
            // Decided per line: it depends on the invocation.
            Interest::sometimes()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>, _: Context<'_, S>) -> bool {
        self.base_enables(metadata) || (self.sampled_level(metadata) && is_sampled())
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        let base = <Targets as Layer<S>>::max_level_hint(&self.base);
        if self.sampling {
            Some(base.map_or(LevelFilter::DEBUG, |b| b.max(LevelFilter::DEBUG)))
        } else {
            base
        }
    }
}
