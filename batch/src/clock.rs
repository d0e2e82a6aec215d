//! Wall-clock time that follows tokio's clock.
//!
//! Normally this is the system time. When tokio's clock is paused (tests, and
//! the local pipeline, where timeouts elapse without waiting), it moves with
//! tokio's virtual time, so expiry times written as Unix seconds (idempotency
//! claims) agree with the timers that drive the run.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch, on tokio's clock.
fn unix_nanos() -> i128 {
    let system = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let tokio_now = tokio::time::Instant::now().into_std();
    let std_now = std::time::Instant::now();
    // Zero unless tokio's clock is paused: then the virtual time it is ahead (or behind).
    let skew_nanos: i128 = if tokio_now >= std_now {
        (tokio_now - std_now).as_nanos() as i128
    } else {
        -((std_now - tokio_now).as_nanos() as i128)
    };
    (system.as_nanos() as i128 + skew_nanos).max(0)
}

/// Milliseconds since the Unix epoch, on tokio's clock.
pub fn unix_millis() -> u64 {
    u64::try_from(unix_nanos() / 1_000_000).unwrap_or(u64::MAX)
}

/// The current time, UTC, on tokio's clock.
pub fn now_utc() -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(unix_nanos()).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// Seconds since the Unix epoch, on tokio's clock.
pub fn unix_seconds() -> u64 {
    unix_millis() / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn paused_time_moves_the_unix_clock_with_it() {
        let before = unix_seconds();
        tokio::time::sleep(Duration::from_secs(3600)).await;
        let after = unix_seconds();
        assert!((3599..=3601).contains(&(after - before)), "{}", after - before);
    }

    #[test]
    fn outside_a_runtime_it_is_the_system_time() {
        let system = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        assert!(unix_seconds().abs_diff(system) <= 1);
    }
}
