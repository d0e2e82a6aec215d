//! Logging: JSON lines in Lambda, readable text locally.
//!
//! In Lambda (`AWS_LAMBDA_FUNCTION_NAME` set) every line is a JSON object with
//! the current span's fields, so each record's lines carry its `messageId` and
//! `correlationId`. The level comes from `AWS_LAMBDA_LOG_LEVEL` (Lambda's
//! advanced logging controls), else `RUST_LOG`, else the given default.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

/// Installs the global subscriber once; later calls do nothing.
pub fn init(default_level: &str) {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| default_level.to_owned())
        .to_ascii_lowercase();
    let filter = EnvFilter::try_new(&level).unwrap_or_else(|_| EnvFilter::new(default_level));
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let json =
        in_lambda || std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_span_events(FmtSpan::NONE)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let result = if json {
        // Lambda captures stdout and stderr alike; stdout stays free for EMF metrics lines.
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.compact().try_init()
    };
    // Already initialised (tests, or a host program): keep that subscriber.
    drop(result);
}
