//! Each invocation's span: the keys Powertools' users query on every line
//! an invocation logs (`function_request_id`, `cold_start`, `xray_trace_id`),
//! and the invocation's turn at sampled debug logging (`LOG_SAMPLE_RATE`).

use std::sync::atomic::{AtomicBool, Ordering};

use tracing::Span;

use super::sampling;

/// Whether the next invocation is the process's first.
static COLD: AtomicBool = AtomicBool::new(true);

/// The span one Lambda invocation runs in: its request ID, whether it is the
/// process's first (a cold start), and the root ID of its X-Ray trace (from
/// `Root=...` of the trace header, when there is one). Also decides whether
/// this invocation logs at debug level, at `LOG_SAMPLE_RATE`.
pub fn invocation_span(request_id: &str, xray_trace_header: Option<&str>) -> Span {
    let cold_start = COLD.swap(false, Ordering::Relaxed);
    sampling::sample_invocation();
    let span = tracing::info_span!(
        "invocation",
        function_request_id = request_id,
        cold_start,
        xray_trace_id = tracing::field::Empty
    );
    if let Some(root) = xray_trace_header.and_then(trace_root) {
        span.record("xray_trace_id", root);
    }
    span
}

/// The root trace ID of an X-Ray trace header
/// (`Root=1-5759e988-bd862e3fe1be46a994272793;Parent=...;Sampled=1`), as
/// Powertools logs it.
pub fn trace_root(header: &str) -> Option<&str> {
    header
        .split(';')
        .find_map(|part| part.trim().strip_prefix("Root="))
        .filter(|root| {
            !root.is_empty()
                && root.len() <= 64
                && root.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_is_read_from_a_trace_header_and_nothing_else_is() {
        assert_eq!(
            trace_root("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"),
            Some("1-5759e988-bd862e3fe1be46a994272793")
        );
        assert_eq!(trace_root("Parent=1;Root=1-a-b"), Some("1-a-b"));
        for header in ["", "Parent=1", "Root=", "Root=1-a\nforged", "Root=\"x\""] {
            assert_eq!(trace_root(header), None, "{header:?}");
        }
    }
}
