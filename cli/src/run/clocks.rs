//! When the run started, on its two clocks.

use std::time::Duration;

/// The run's start on the wall clock (for throughput) and on the run's clock
/// (for the time limit), which is paused on the embedded broker, so that
/// visibility timeouts and backoffs elapse at once.
#[derive(Clone, Copy, Debug)]
pub(super) struct Clocks {
    wall: std::time::Instant,
    run: tokio::time::Instant,
}

impl Clocks {
    /// Starts both clocks now.
    pub(super) fn start() -> Self {
        Clocks {
            wall: std::time::Instant::now(),
            run: tokio::time::Instant::now(),
        }
    }

    /// Wall-clock seconds since the start.
    pub(super) fn wall_seconds(&self) -> f64 {
        self.wall.elapsed().as_secs_f64()
    }

    /// Time on the run's clock since the start.
    pub(super) fn run_elapsed(&self) -> Duration {
        self.run.elapsed()
    }
}
