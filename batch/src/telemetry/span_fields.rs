//! A span's fields as they were recorded, written as JSON only when a line
//! needs them: most record spans never log, so most fields are never escaped.

use std::fmt::{self, Write as _};
use std::ops::Range;

use tracing::field::{Field, Visit};

use crate::json::write_json_string;
use crate::log_value::{MAX_LOGGED_BYTES, bounded};

/// One field: its name, whether its text is a string (escaped and quoted when
/// written) or a JSON literal, and where its text is.
struct Member {
    name: &'static str,
    quoted: bool,
    text: Range<usize>,
}

/// The fields of one span, their text bounded and kept as recorded.
#[derive(Default)]
pub(super) struct SpanFields {
    text: String,
    members: Vec<Member>,
}

impl SpanFields {
    /// Forgets every field, keeping the buffers for the next span.
    pub(super) fn clear(&mut self) {
        self.text.clear();
        self.members.clear();
    }

    pub(super) fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Adds the fields of a later record; a field recorded again repeats its
    /// key, and JSON readers keep the last value.
    pub(super) fn append(&mut self, later: &SpanFields) {
        let base = self.text.len();
        self.text.push_str(&later.text);
        self.members.extend(later.members.iter().map(|member| Member {
            name: member.name,
            quoted: member.quoted,
            text: member.text.start + base..member.text.end + base,
        }));
    }

    /// Writes the fields as JSON object members without braces:
    /// `"messageId":"m-1","count":3`.
    pub(super) fn write_members(&self, out: &mut String) {
        for (i, member) in self.members.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_json_string(out, member.name);
            out.push(':');
            let text = self.text.get(member.text.clone()).unwrap_or_default();
            if member.quoted {
                write_json_string(out, text);
            } else {
                out.push_str(text);
            }
        }
    }

    fn push(&mut self, field: &Field, quoted: bool, write: impl FnOnce(&mut String)) {
        let start = self.text.len();
        write(&mut self.text);
        self.members.push(Member {
            name: field.name(),
            quoted,
            text: start..self.text.len(),
        });
    }
}

impl Visit for SpanFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, true, |text| text.push_str(&bounded(value)));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, false, |text| {
            let _ = write!(text, "{value}"); // writing to a String cannot fail
        });
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, false, |text| {
            let _ = write!(text, "{value}");
        });
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, false, |text| {
            text.push_str(if value { "true" } else { "false" })
        });
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, false, |text| {
            if value.is_finite() {
                let _ = write!(text, "{value}");
            } else {
                text.push_str("null"); // JSON has no NaN or infinity
            }
        });
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field, true, |text| {
            let start = text.len();
            let _ = write!(text, "{value:?}");
            if text.len() - start > MAX_LOGGED_BYTES {
                let cut = bounded(&text[start..]).into_owned();
                text.truncate(start);
                text.push_str(&cut);
            }
        });
    }
}
