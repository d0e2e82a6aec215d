//! An event's fields, written straight into its line as JSON object members.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};

use crate::json::write_json_string;
use crate::log_value::bounded;

/// Appends `"name":value` pairs, comma-separated, to a string.
pub(super) struct JsonObject<'a> {
    out: &'a mut String,
    start: usize,
    result: fmt::Result,
}

impl<'a> JsonObject<'a> {
    pub(super) fn new(out: &'a mut String) -> Self {
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
