//! Logging: JSON lines in Lambda, readable text locally.
//!
//! In Lambda (`AWS_LAMBDA_FUNCTION_NAME` set) every line is a JSON object with
//! the current span's fields, so each record's lines carry its `messageId` and
//! `correlationId`. The level comes from `AWS_LAMBDA_LOG_LEVEL` (Lambda's
//! advanced logging controls), else `RUST_LOG`, else the given default.
//!
//! A span is opened per record, so its fields are formatted by
//! [`JsonSpanFields`], which writes them straight to JSON text instead of
//! going through a map of JSON values, and lines by [`JsonLines`], which copies
//! that text instead of parsing it again.

use std::cell::RefCell;
use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::{FmtSpan, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

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
    // Already initialised (tests, or a host program): keep that subscriber.
    if json {
        // Lambda captures stdout and stderr alike; stdout stays free for EMF metrics lines.
        let _ = tracing::subscriber::set_global_default(json_subscriber(filter, std::io::stderr));
    } else {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_target(false)
            .with_span_events(FmtSpan::NONE)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(std::io::stderr)
            .compact()
            .try_init();
    }
}

/// The JSON-lines subscriber [`init`] installs in Lambda: one flat object a
/// line (the event's fields at the top level) with the current span's fields
/// under `span`. Public so benchmarks and tests log exactly as Lambda does.
pub fn json_subscriber<W>(filter: EnvFilter, writer: W) -> JsonSubscriber<W>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_span_events(FmtSpan::NONE)
        .with_ansi(false)
        .with_writer(writer)
        .fmt_fields(JsonSpanFields)
        .event_format(JsonLines)
        .finish()
}

/// What [`json_subscriber`] returns.
pub type JsonSubscriber<W> = tracing_subscriber::fmt::Subscriber<JsonSpanFields, JsonLines, EnvFilter, W>;

/// Formats each event as one flat JSON object: `timestamp` (RFC 3339, UTC),
/// `level`, the event's fields (`message` among them), and the current span's
/// fields under `span` with its `name`. The shape of tracing-subscriber's JSON
/// format with `flatten_event(true)` and `with_current_span(true)`, written
/// straight to text: that format parses the span's stored fields again for
/// every line.
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonLines;

impl<S> FormatEvent<S, JsonSpanFields> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonSpanFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = String::with_capacity(256);
        line.push_str("{\"timestamp\":");
        match crate::contracts::rfc3339::write(time::OffsetDateTime::now_utc()) {
            Some(now) => write_json_string(&mut line, now.as_str()),
            None => line.push_str("null"),
        }
        line.push_str(",\"level\":\"");
        line.push_str(event.metadata().level().as_str());
        line.push('"');
        let before_fields = line.len();
        line.push(',');
        let mut fields = JsonObject::new(&mut line);
        event.record(&mut fields);
        fields.result?;
        if line.len() == before_fields + 1 {
            line.truncate(before_fields); // no fields: no comma
        }
        if let Some(span) = ctx.lookup_current() {
            line.push_str(",\"span\":");
            let extensions = span.extensions();
            // `{"messageId":"m-1"}` becomes `{"messageId":"m-1","name":"record"}`.
            match extensions.get::<FormattedFields<JsonSpanFields>>() {
                Some(stored) if stored.fields.len() > 2 => {
                    line.push_str(&stored.fields[..stored.fields.len() - 1]);
                    line.push(',');
                }
                _ => line.push('{'),
            }
            line.push_str("\"name\":");
            write_json_string(&mut line, span.name());
            line.push('}');
        }
        line.push_str("}\n");
        writer.write_str(&line)
    }
}

/// A writer that keeps what is written, shared by its clones: give a clone to
/// a subscriber (`with_writer(move || w.clone())`) or a metrics sink, then read
/// the lines back (tests, and tools that inspect their own output).
#[derive(Clone, Debug, Default)]
pub struct MemoryWriter(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl MemoryWriter {
    /// Everything written so far, as text (invalid UTF-8 replaced).
    pub fn contents(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl std::io::Write for MemoryWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Formats span fields as a JSON object, written directly (for the JSON log format).
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonSpanFields;

impl<'writer> FormatFields<'writer> for JsonSpanFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'writer>, fields: R) -> fmt::Result {
        with_scratch(|out| {
            out.push('{');
            let mut visitor = JsonObject::new(out);
            fields.record(&mut visitor);
            visitor.result?;
            out.push('}');
            // One write: the span's field string is allocated once, at its size.
            writer.write_str(out)
        })
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        with_scratch(|out| {
            let mut visitor = JsonObject::new(out);
            fields.record(&mut visitor);
            visitor.result?;
            if out.is_empty() {
                return Ok(());
            }
            // `{...}` becomes `{..., new}`. A later value of a field repeats its key;
            // JSON readers keep the last.
            match current.fields.pop() {
                Some('}') if current.fields.len() > 1 => current.fields.push(','),
                Some('}') => {}
                _ => current.fields.push('{'),
            }
            current.fields.push_str(out);
            current.fields.push('}');
            Ok(())
        })
    }
}

thread_local! {
    /// Where span fields are formatted before they are copied to the span.
    static SCRATCH: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Runs `f` on an empty string reused across calls on this thread (a fresh one
/// if `f` is already running on it, from a `Debug` value that logs).
fn with_scratch<T>(f: impl FnOnce(&mut String) -> T) -> T {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => {
            scratch.clear();
            f(&mut scratch)
        }
        Err(_) => f(&mut String::new()),
    })
}

/// Appends `"name":value` pairs, comma-separated, to a string.
struct JsonObject<'a> {
    out: &'a mut String,
    start: usize,
    result: fmt::Result,
}

impl<'a> JsonObject<'a> {
    fn new(out: &'a mut String) -> Self {
        let start = out.len();
        JsonObject {
            out,
            start,
            result: Ok(()),
        }
    }

    fn key(&mut self, field: &Field) {
        if self.out.len() > self.start {
            self.out.push(',');
        }
        write_json_string(self.out, field.name());
        self.out.push(':');
    }
}

impl Visit for JsonObject<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.key(field);
        write_json_string(self.out, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field);
        self.result = self.result.and(write!(self.out, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field);
        self.result = self.result.and(write!(self.out, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field);
        self.out.push_str(if value { "true" } else { "false" });
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.key(field);
        if value.is_finite() {
            self.result = self.result.and(write!(self.out, "{value}"));
        } else {
            self.out.push_str("null");
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.key(field);
        write_json_string(self.out, &format!("{value:?}"));
    }
}

/// Appends `value` as a JSON string literal.
fn write_json_string(out: &mut String, value: &str) {
    out.push('"');
    if !crate::event_json::needs_escape(value) {
        // IDs and codes, the usual case: nothing to escape.
        out.push_str(value);
        out.push('"');
        return;
    }
    let mut start = 0;
    for (i, b) in value.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&value[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&value[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_lines_are_flat_with_the_span_and_the_level_filter() {
        let lines = MemoryWriter::default();
        let writer = lines.clone();
        let subscriber = json_subscriber(EnvFilter::new("info"), move || writer.clone());
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("record", messageId = "m-1", correlationId = "c-1");
            span.in_scope(|| {
                tracing::debug!("filtered out");
                tracing::warn!(code = "X", error = %"a \"quoted\"\nreason", "inside");
            });
            tracing::info!(count = 2u64, "outside");
            tracing::info_span!("empty").in_scope(|| tracing::error!(failed = true));
        });
        let text = lines.contents();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 3, "{text}");
        let line = &lines[0];
        assert!(
            time::OffsetDateTime::parse(
                line["timestamp"].as_str().unwrap(),
                &time::format_description::well_known::Rfc3339
            )
            .is_ok(),
            "{line}"
        );
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["message"], "inside");
        assert_eq!(line["code"], "X");
        assert_eq!(line["error"], "a \"quoted\"\nreason");
        assert_eq!(line["span"]["messageId"], "m-1");
        assert_eq!(line["span"]["correlationId"], "c-1");
        assert_eq!(line["span"]["name"], "record");
        assert_eq!(
            (lines[1]["message"].as_str(), lines[1]["count"].as_u64()),
            (Some("outside"), Some(2))
        );
        assert!(lines[1].get("span").is_none(), "{}", lines[1]);
        assert_eq!(lines[2]["level"], "ERROR");
        assert_eq!(lines[2]["failed"], true);
        assert_eq!(lines[2]["span"], serde_json::json!({"name": "empty"}));
        assert!(
            line.get("fields").is_none() && line.get("spans").is_none(),
            "{line}"
        );
    }

    #[test]
    fn span_fields_reach_json_lines_intact() {
        let lines = MemoryWriter::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .fmt_fields(JsonSpanFields)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "record",
                messageId = "m-1",
                correlationId = "quote \" back\\slash \n tab\t \u{1}",
                count = 3u64,
                late = tracing::field::Empty
            );
            span.record("late", "filled");
            span.in_scope(|| tracing::warn!(code = "X", "inside"));
        });
        let text = lines.contents();
        let line: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(line["span"]["messageId"], "m-1");
        assert_eq!(
            line["span"]["correlationId"],
            "quote \" back\\slash \n tab\t \u{1}"
        );
        assert_eq!(line["span"]["count"], 3);
        assert_eq!(line["span"]["late"], "filled");
        assert_eq!(line["fields"]["code"], "X");
    }
}
