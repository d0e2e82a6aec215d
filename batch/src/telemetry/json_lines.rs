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

/// A layer that writes each event as one flat JSON object a line:
/// `timestamp` (RFC 3339, UTC), `level`, the event's fields (`message` among
/// them), and the current span's fields under `span` with its `name`. The
/// shape of tracing-subscriber's JSON format with `flatten_event(true)` and
/// `with_current_span(true)`.
///
/// It runs on any subscriber with a span registry
/// ([`tracing_subscriber::registry()`]), so other layers (OpenTelemetry,
/// X-Ray) can stack beside it; [`super::json_subscriber`] is the usual stack.
pub struct JsonLines<W> {
    writer: W,
    spans: Mutex<OpenSpans>,
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
        }
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
            let before_fields = line.len();
            line.push(',');
            event.record(&mut JsonObject::new(line));
            if line.len() == before_fields + 1 {
                line.truncate(before_fields); // no fields: no comma
            }
            if let Some(span) = ctx.event_span(event) {
                // `"span":{"messageId":"m-1","name":"record"}`
                line.push_str(",\"span\":{");
                if let Some(fields) = self.spans().fields.get(&span.id().into_u64())
                    && !fields.is_empty()
                {
                    fields.write_members(line);
                    line.push(',');
                }
                line.push_str("\"name\":");
                write_json_string(line, span.name());
                line.push('}');
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
