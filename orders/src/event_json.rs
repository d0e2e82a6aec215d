//! Writing event bodies: every outgoing message is one JSON object.
//!
//! [`EventBody::write_json`] defaults to serde. The pipeline's own contract
//! events write themselves field by field instead: the same text as serde
//! (a test holds them to it), without the per-field dispatch and the
//! character-by-character escaping of identifiers that need none. It is the
//! largest single cost of sending an event.

use serde::Serialize;
use time::OffsetDateTime;

use crate::money::Money;
use orderflow_batch::error::{PortError, PortErrorKind, RecordError};
use orderflow_batch::json::write_json_string;
use orderflow_batch::rfc3339;

/// An event a step sends: a JSON body.
///
/// Implement it with an empty block (`impl EventBody for MyEvent {}`) to use
/// serde; override [`write_json`](EventBody::write_json) only with a writer
/// that produces the same text.
pub trait EventBody: Serialize {
    /// Appends the event's JSON text to `out`.
    fn write_json(&self, out: &mut String) -> serde_json::Result<()> {
        let text = serde_json::to_string(self)?;
        if out.is_empty() {
            *out = text;
        } else {
            out.push_str(&text);
        }
        Ok(())
    }
}

/// An event's JSON body, for an [`EventMessage`](orderflow_batch::processor::EventMessage).
pub fn encode<T: EventBody>(event: &T) -> Result<String, RecordError> {
    // Our events are a few hundred bytes: one allocation instead of a doubling series.
    let mut body = String::with_capacity(512);
    event
        .write_json(&mut body)
        .map_err(|e| PortError::new(PortErrorKind::Other, "EncodeEvent", e.to_string()))?;
    Ok(body)
}

/// A field's name as the object writer takes it: `field!("orderId")` is
/// `"orderId":` with its quotes, written in one piece.
macro_rules! field {
    ($name:literal) => {
        $crate::event_json::Field(concat!("\"", $name, "\":"))
    };
}
pub(crate) use field;

/// A field name, quoted and followed by its colon (made by [`field!`]):
/// names are the contracts' camelCase literals, which need no escaping.
#[derive(Clone, Copy)]
pub(crate) struct Field(pub(crate) &'static str);

/// Writes one JSON object's fields, in the order they are given.
pub(crate) struct ObjectWriter<'a> {
    out: &'a mut String,
    empty: bool,
}

impl<'a> ObjectWriter<'a> {
    /// Opens an object.
    pub(crate) fn new(out: &'a mut String) -> Self {
        out.push('{');
        ObjectWriter { out, empty: true }
    }

    /// Writes `"name":`, after a comma unless it is the first field.
    fn key(&mut self, name: Field) -> &mut String {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        self.out.push_str(name.0);
        self.out
    }

    /// A string field.
    pub(crate) fn string(&mut self, name: Field, value: &str) {
        write_json_string(self.key(name), value);
    }

    /// A whole-number field.
    pub(crate) fn unsigned(&mut self, name: Field, value: u32) {
        let out = self.key(name);
        out.push_str(itoa::Buffer::new().format(value));
    }

    /// An amount, as serde writes it (a JSON number: `19.99`, `10.0`).
    pub(crate) fn money(&mut self, name: Field, value: Money) {
        write_money(self.key(name), value);
    }

    /// An RFC 3339 timestamp; an error for years RFC 3339 cannot express.
    pub(crate) fn timestamp(&mut self, name: Field, value: OffsetDateTime) -> serde_json::Result<()> {
        let text = rfc3339::write(value).ok_or_else(|| {
            <serde_json::Error as serde::ser::Error>::custom("a timestamp outside years 0 to 9999")
        })?;
        // Digits and punctuation only: nothing to escape.
        let out = self.key(name);
        out.push('"');
        out.push_str(text.as_str());
        out.push('"');
        Ok(())
    }

    /// An array of objects, each written by `write`.
    pub(crate) fn objects<T>(
        &mut self,
        name: Field,
        items: &[T],
        mut write: impl FnMut(&mut ObjectWriter<'_>, &T),
    ) {
        let out = self.key(name);
        out.push('[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let mut object = ObjectWriter::new(out);
            write(&mut object, item);
            object.finish();
        }
        out.push(']');
    }

    /// Closes the object.
    pub(crate) fn finish(self) {
        self.out.push('}');
    }
}

/// `cents / 100` as serde writes that `f64`: its shortest round-trip decimal,
/// which for amounts of at most ten digits is the amount itself with trailing
/// zeros dropped, keeping one decimal (`1999` -> `19.99`, `110` -> `1.1`, `1000` -> `10.0`).
fn write_money(out: &mut String, value: Money) {
    let cents = value.cents();
    if !(0..=Money::MAX.cents()).contains(&cents) {
        // Never for a parsed amount; serde's own text for anything else.
        if let Ok(text) = serde_json::to_string(&value) {
            out.push_str(&text);
        }
        return;
    }
    out.push_str(itoa::Buffer::new().format(cents / 100));
    out.push('.');
    let (tens, ones) = ((cents % 100 / 10) as u8, (cents % 10) as u8);
    out.push(char::from(b'0' + tens));
    if ones != 0 {
        out.push(char::from(b'0' + ones));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_written_as_serde_writes_them() {
        let mut cents: Vec<i64> = (0..=2_000).collect();
        cents.extend([
            99_999,
            100_000,
            100_001,
            12_345_678,
            99_999_999,
            Money::MAX.cents(),
        ]);
        cents.extend((0..2_000).map(|i| i * 49_999 % Money::MAX.cents()));
        for c in cents {
            let money = Money::from_cents(c);
            let mut ours = String::new();
            write_money(&mut ours, money);
            assert_eq!(ours, serde_json::to_string(&money).unwrap(), "{c} cents");
        }
    }
}
