//! [`JsonLines`]: the layer that writes each event as one flat JSON line.

use std::cell::RefCell;
use std::fmt;
use std::io::Write as _;
use std::sync::{Mutex, MutexGuard, PoisonError};

use rustc_hash::FxHashMap;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use super::event_fields::JsonObject;
use super::span_fields::SpanFields;
use crate::json::write_json_string;

/// Closed spans' field buffers kept for new spans, so a busy batch's record
/// spans allocate nothing once warm.
const SPARE_SPANS: usize = 64;

/// A layer that writes each event as one flat JSON object a line, in the
/// keys Powertools' users query: `timestamp` (RFC 3339, UTC), `level`, the
/// process's constant fields (`service`, `function_name`), the fields of
/// every span the event is in, outermost first (the invocation's
/// `function_request_id`, `cold_start`, `xray_trace_id`; the record's
/// `message_id`, `correlation_id`), then the event's own (`message` among
/// them). A key repeated by an inner span or the event is written again,
/// and JSON readers keep the last.
///
/// It runs on any subscriber with a span registry
/// ([`tracing_subscriber::registry()`]), so other layers (OpenTelemetry,
/// X-Ray) can stack beside it; [`super::json_subscriber`] is the usual stack.
pub struct JsonLines<W> {
    writer: W,
    spans: Mutex<OpenSpans>,
    /// The constant fields as JSON members, each after a comma.
    constant: String,
}

/// The fields of every open span, by span ID.
#[derive(Default)]
struct OpenSpans {
    fields: FxHashMap<u64, SpanFields>,
    spare: Vec<SpanFields>,
}

impl<W> JsonLines<W> {
    /// A layer writing its lines to `writer` (stderr in Lambda).
    pub fn new(writer: W) -> Self {
        JsonLines {
            writer,
            spans: Mutex::default(),
            constant: String::new(),
        }
    }

    /// The layer with `fields` (name, value) on every line, e.g. `service`.
    pub fn with_constant_fields(mut self, fields: &[(&str, &str)]) -> Self {
        for (name, value) in fields {
            self.constant.push(',');
            write_json_string(&mut self.constant, name);
            self.constant.push(':');
            write_json_string(&mut self.constant, value);
        }
        self
    }

    fn spans(&self) -> MutexGuard<'_, OpenSpans> {
        self.spans.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<W> fmt::Debug for JsonLines<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonLines").finish_non_exhaustive()
    }
}

impl<S, W> Layer<S> for JsonLines<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _ctx: Context<'_, S>) {
        let mut fields = self.spans().spare.pop().unwrap_or_default();
        // Recorded outside the lock: a field's `Debug` may log.
        attrs.record(&mut fields);
        self.spans().fields.insert(id.into_u64(), fields);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        let mut later = SpanFields::default();
        values.record(&mut later);
        if later.is_empty() {
            return;
        }
        if let Some(fields) = self.spans().fields.get_mut(&id.into_u64()) {
            fields.append(&later);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        with_scratch(|line| {
            line.push_str("{\"timestamp\":");
            match crate::rfc3339::write(time::OffsetDateTime::now_utc()) {
                Some(now) => write_json_string(line, now.as_str()),
                None => line.push_str("null"),
            }
            line.push_str(",\"level\":\"");
            line.push_str(event.metadata().level().as_str());
            line.push('"');
            line.push_str(&self.constant);
            if let Some(scope) = ctx.event_scope(event) {
                let spans = self.spans();
                for span in scope.from_root() {
                    if let Some(fields) = spans.fields.get(&span.id().into_u64())
                        && !fields.is_empty()
                    {
                        line.push(',');
                        fields.write_members(line);
                    }
                }
            }
            let before_fields = line.len();
            line.push(',');
            event.record(&mut JsonObject::new(line));
            if line.len() == before_fields + 1 {
                line.truncate(before_fields); // no fields: no comma
            }
            line.push_str("}\n");
            // A log line that cannot be written is dropped: logging never fails the work.
            let _ = self
                .writer
                .make_writer_for(event.metadata())
                .write_all(line.as_bytes());
        });
    }

    fn on_close(&self, id: Id, _ctx: Context<'_, S>) {
        let mut spans = self.spans();
        if let Some(mut fields) = spans.fields.remove(&id.into_u64())
            && spans.spare.len() < SPARE_SPANS
        {
            fields.clear();
            spans.spare.push(fields);
        }
    }
}

thread_local! {
    /// Where lines are written before they are copied out.
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
