//! Logging: JSON lines in Lambda, readable text locally.
//!
//! In Lambda (`AWS_LAMBDA_FUNCTION_NAME` set) every line is a JSON object with
//! the current span's fields, so each record's lines carry its `messageId` and
//! `correlationId`. The level comes from `AWS_LAMBDA_LOG_LEVEL` (Lambda's
//! advanced logging controls), else `RUST_LOG`, else the given default.
//!
//! The batch processor opens a span for every record, so [`JsonLines`] keeps
//! spans as cheaply as it can: each span's fields are written to JSON text
//! once, into a slot that is reused when the span closes, and entering a span
//! only touches a per-thread list. Filtering is by target and level
//! ([`Targets`]: `info`, `warn,orderflow_batch=debug`).

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_core::span::Current;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::json::write_json_string;
use crate::log_value::bounded;

/// Installs the global subscriber once; later calls do nothing.
pub fn init(default_level: &str) {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| default_level.to_owned())
        .to_ascii_lowercase();
    // Lambda's levels include FATAL, which tracing calls ERROR.
    let level = if level == "fatal" {
        "error".to_owned()
    } else {
        level
    };
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let json =
        in_lambda || std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    // Already initialised (tests, or a host program): keep that subscriber.
    if json {
        let filter = level
            .parse::<Targets>()
            .or_else(|_| default_level.parse())
            .unwrap_or_else(|_| Targets::new().with_default(LevelFilter::INFO));
        // Lambda captures stdout and stderr alike; stdout stays free for EMF metrics lines.
        let _ = tracing::subscriber::set_global_default(json_subscriber(filter, std::io::stderr));
    } else {
        let filter = EnvFilter::try_new(&level).unwrap_or_else(|_| EnvFilter::new(default_level));
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let _ = tracing::subscriber::set_global_default(text_subscriber(filter, std::io::stderr, ansi));
    }
}

/// The readable text subscriber [`init`] installs outside Lambda: compact
/// lines, each value bounded and its control characters escaped
/// ([`crate::log_value::text_fields`]), so a field cannot forge a line.
pub fn text_subscriber<W>(filter: EnvFilter, writer: W, ansi: bool) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_span_events(FmtSpan::NONE)
        .with_ansi(ansi)
        .with_writer(writer)
        .fmt_fields(crate::log_value::text_fields())
        .compact()
        .finish()
}

/// The JSON-lines subscriber [`init`] installs in Lambda, filtered by target
/// and level. Public so benchmarks and tests log exactly as Lambda does.
pub fn json_subscriber<W>(filter: Targets, writer: W) -> JsonLines<W>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let max_level = filter
        .iter()
        .map(|(_, level)| level)
        .chain(filter.default_level())
        .max()
        .unwrap_or(LevelFilter::OFF);
    JsonLines {
        filter,
        max_level,
        writer,
        spans: Mutex::default(),
        instance: NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed),
    }
}

/// A subscriber that writes each event as one flat JSON object a line:
/// `timestamp` (RFC 3339, UTC), `level`, the event's fields (`message` among
/// them), and the current span's fields under `span` with its `name`. The
/// shape of tracing-subscriber's JSON format with `flatten_event(true)` and
/// `with_current_span(true)`.
///
/// It stands alone: layers that look spans up in a registry cannot be stacked on it.
pub struct JsonLines<W> {
    filter: Targets,
    max_level: LevelFilter,
    writer: W,
    spans: Mutex<Spans>,
    /// Tells this subscriber's entries in the per-thread list of entered spans from others'.
    instance: usize,
}

impl<W> fmt::Debug for JsonLines<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonLines")
            .field("filter", &self.filter)
            .finish_non_exhaustive()
    }
}

static NEXT_INSTANCE: AtomicUsize = AtomicUsize::new(0);

/// Open spans, by slot; a span's ID is its slot's index plus one.
#[derive(Default)]
struct Spans {
    slots: Vec<SpanSlot>,
    free: Vec<usize>,
}

struct SpanSlot {
    metadata: &'static Metadata<'static>,
    /// The fields as JSON object members without braces: `"messageId":"m-1","count":3`.
    fields: String,
    /// Handles to the span; at zero the slot is free (its text buffer is kept).
    handles: usize,
}

thread_local! {
    /// Spans entered on this thread, innermost last, with their subscriber's instance.
    static ENTERED: RefCell<Vec<(usize, Id)>> = const { RefCell::new(Vec::new()) };
}

impl<W> JsonLines<W> {
    fn spans(&self) -> std::sync::MutexGuard<'_, Spans> {
        self.spans
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The slot of a span ID this subscriber gave out.
    fn slot(id: &Id) -> usize {
        usize::try_from(id.into_u64() - 1).unwrap_or(usize::MAX)
    }

    /// The innermost span this thread entered under this subscriber.
    fn current(&self) -> Option<Id> {
        ENTERED.with(|entered| {
            entered
                .borrow()
                .iter()
                .rev()
                .find(|(instance, _)| *instance == self.instance)
                .map(|(_, id)| id.clone())
        })
    }
}

impl<W> Subscriber for JsonLines<W>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if self.enabled(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.filter.would_enable(metadata.target(), metadata.level())
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.max_level)
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        // Formatted before the lock: a field's `Debug` may log.
        with_scratch(|fields| {
            let mut visitor = JsonObject::new(fields);
            span.record(&mut visitor);
            let mut spans = self.spans();
            let index = match spans.free.pop() {
                Some(index) => {
                    let slot = &mut spans.slots[index];
                    slot.metadata = span.metadata();
                    slot.handles = 1;
                    slot.fields.clear();
                    slot.fields.push_str(fields);
                    index
                }
                None => {
                    spans.slots.push(SpanSlot {
                        metadata: span.metadata(),
                        fields: fields.clone(),
                        handles: 1,
                    });
                    spans.slots.len() - 1
                }
            };
            Id::from_u64(index as u64 + 1)
        })
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        with_scratch(|fields| {
            let mut visitor = JsonObject::new(fields);
            values.record(&mut visitor);
            if fields.is_empty() {
                return;
            }
            let mut spans = self.spans();
            if let Some(slot) = spans.slots.get_mut(Self::slot(span)) {
                // A later value of a field repeats its key; JSON readers keep the last.
                if !slot.fields.is_empty() {
                    slot.fields.push(',');
                }
                slot.fields.push_str(fields);
            }
        });
    }

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        with_scratch(|line| {
            line.push_str("{\"timestamp\":");
            match crate::rfc3339::write(time::OffsetDateTime::now_utc()) {
                Some(now) => write_json_string(line, now.as_str()),
                None => line.push_str("null"),
            }
            line.push_str(",\"level\":\"");
            line.push_str(event.metadata().level().as_str());
            line.push('"');
            let before_fields = line.len();
            line.push(',');
            event.record(&mut JsonObject::new(line));
            if line.len() == before_fields + 1 {
                line.truncate(before_fields); // no fields: no comma
            }
            if let Some(id) = self.current() {
                let spans = self.spans();
                if let Some(slot) = spans.slots.get(Self::slot(&id)) {
                    // `{"messageId":"m-1","name":"record"}`
                    line.push_str(",\"span\":{");
                    if !slot.fields.is_empty() {
                        line.push_str(&slot.fields);
                        line.push(',');
                    }
                    line.push_str("\"name\":");
                    write_json_string(line, slot.metadata.name());
                    line.push('}');
                }
            }
            line.push_str("}\n");
            // A log line that cannot be written is dropped: logging never fails the work.
            let _ = self
                .writer
                .make_writer_for(event.metadata())
                .write_all(line.as_bytes());
        });
    }

    fn enter(&self, span: &Id) {
        ENTERED.with(|entered| entered.borrow_mut().push((self.instance, span.clone())));
    }

    fn exit(&self, span: &Id) {
        ENTERED.with(|entered| {
            let mut entered = entered.borrow_mut();
            if let Some(at) = entered
                .iter()
                .rposition(|(instance, id)| *instance == self.instance && id == span)
            {
                entered.remove(at);
            }
        });
    }

    fn clone_span(&self, span: &Id) -> Id {
        if let Some(slot) = self.spans().slots.get_mut(Self::slot(span)) {
            slot.handles += 1;
        }
        span.clone()
    }

    fn try_close(&self, span: Id) -> bool {
        let index = Self::slot(&span);
        let mut spans = self.spans();
        let Some(slot) = spans.slots.get_mut(index) else {
            return false;
        };
        if slot.handles == 0 {
            return false; // closed already: never free a slot twice
        }
        slot.handles -= 1;
        if slot.handles > 0 {
            return false;
        }
        spans.free.push(index);
        true
    }

    fn current_span(&self) -> Current {
        let current = self.current();
        let spans = self.spans();
        match current.and_then(|id| Some((spans.slots.get(Self::slot(&id))?.metadata, id))) {
            Some((metadata, id)) => Current::new(id, metadata),
            None => Current::none(),
        }
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

thread_local! {
    /// Where fields and lines are written before they are copied.
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
        write_json_string(self.out, &bounded(value));
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
        write_json_string(self.out, &bounded(&format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_format_escapes_control_characters_in_every_field() {
        let lines = MemoryWriter::default();
        let writer = lines.clone();
        let subscriber = text_subscriber(EnvFilter::new("info"), move || writer.clone(), false);
        tracing::subscriber::with_default(subscriber, || {
            let forged = "c-1\r\n2026-12-05T00:00:00Z  INFO forged: everything is fine";
            let forged = forged.replace("\\r", "\r").replace("\\n", "\n");
            let span = tracing::info_span!("record", correlationId = %forged, messageId = "m\u{7}1");
            span.in_scope(|| tracing::warn!(error = %"bad\nvalue", "record\rfailed"));
        });
        let text = lines.contents();
        assert_eq!(text.lines().count(), 1, "{text:?}");
        assert!(!text.contains('\r') && !text.contains('\u{7}'), "{text:?}");
        assert!(text.contains("c-1\\r\\n2026"), "{text:?}");
        assert!(text.contains("bad\\nvalue"), "{text:?}");
    }

    #[test]
    fn every_logged_value_is_bounded_in_both_formats() {
        let huge = "E".repeat(300 * 1024);
        let json = MemoryWriter::default();
        let writer = json.clone();
        tracing::subscriber::with_default(
            json_subscriber("info".parse().unwrap(), move || writer.clone()),
            || {
                tracing::info_span!("record", eventType = %huge)
                    .in_scope(|| tracing::warn!(value = %huge, debug = ?huge, "{huge}"));
            },
        );
        let text = MemoryWriter::default();
        let writer = text.clone();
        tracing::subscriber::with_default(
            text_subscriber(EnvFilter::new("info"), move || writer.clone(), false),
            || {
                tracing::info_span!("record", eventType = %huge)
                    .in_scope(|| tracing::warn!(value = %huge, "{huge}"));
            },
        );
        for (format, out) in [("json", json.contents()), ("text", text.contents())] {
            assert_eq!(out.lines().count(), 1, "{format}");
            assert!(
                out.len() < 5 * crate::log_value::MAX_LOGGED_BYTES,
                "{format}: {} bytes",
                out.len()
            );
            assert!(out.contains("bytes cut)"), "{format}");
        }
    }

    #[test]
    fn lambda_lines_are_flat_with_the_span_and_the_level_filter() {
        let lines = MemoryWriter::default();
        let writer = lines.clone();
        let subscriber = json_subscriber("info".parse().unwrap(), move || writer.clone());
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

    /// The lines written while `f` runs under a JSON subscriber with `filter`, parsed.
    fn lines_of(filter: &str, f: impl FnOnce()) -> Vec<serde_json::Value> {
        let lines = MemoryWriter::default();
        let writer = lines.clone();
        let subscriber = json_subscriber(filter.parse().unwrap(), move || writer.clone());
        tracing::subscriber::with_default(subscriber, f);
        let text = lines.contents();
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    #[test]
    fn span_fields_reach_lines_intact_and_later_values_are_added() {
        let lines = lines_of("info", || {
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
        let span = &lines[0]["span"];
        assert_eq!(span["messageId"], "m-1");
        assert_eq!(span["correlationId"], "quote \" back\\slash \n tab\t \u{1}");
        assert_eq!(span["count"], 3);
        assert_eq!(span["late"], "filled");
        assert_eq!(lines[0]["code"], "X");
    }

    #[test]
    fn the_innermost_entered_span_is_the_current_one() {
        let lines = lines_of("info", || {
            let outer = tracing::info_span!("invocation", requestId = "r-1");
            let _outer = outer.enter();
            tracing::info_span!("record", messageId = "m-1").in_scope(|| tracing::info!("in the record"));
            tracing::info!("between records");
            assert_eq!(
                tracing::Span::current().metadata().map(|m| m.name()),
                Some("invocation")
            );
        });
        assert_eq!(lines[0]["span"]["messageId"], "m-1");
        assert_eq!(lines[0]["span"]["name"], "record");
        assert_eq!(
            lines[1]["span"],
            serde_json::json!({"requestId": "r-1", "name": "invocation"})
        );
    }

    #[test]
    fn a_closed_span_leaves_nothing_behind_for_the_next_one() {
        let lines = lines_of("info", || {
            for id in ["m-1", "m-2"] {
                let span = tracing::info_span!("record", messageId = id);
                let clone = span.clone();
                drop(span);
                clone.in_scope(|| tracing::info!("kept open by its clone"));
            }
            tracing::info_span!("record").in_scope(|| tracing::info!("no fields"));
        });
        assert_eq!(lines[0]["span"]["messageId"], "m-1");
        assert_eq!(lines[1]["span"]["messageId"], "m-2");
        assert_eq!(lines[2]["span"], serde_json::json!({"name": "record"}));
    }

    #[test]
    fn targets_set_their_own_levels() {
        let lines = lines_of("warn,chatty=debug", || {
            tracing::debug!(target: "chatty", "kept");
            tracing::debug!(target: "quiet", "dropped");
            tracing::info!("dropped too");
            tracing::warn!("kept too");
        });
        let messages: Vec<&str> = lines.iter().map(|l| l["message"].as_str().unwrap()).collect();
        assert_eq!(messages, ["kept", "kept too"]);
    }
}
