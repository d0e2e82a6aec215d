//! Writing event bodies: every outgoing message is one JSON object.
//!
//! [`EventBody::write_json`] defaults to serde. The pipeline's own contract
//! events write themselves field by field instead: the same text as serde
//! (a test holds them to it), without the per-field dispatch and the
//! character-by-character escaping of identifiers that need none. It is the
//! largest single cost of sending an event.

use serde::Serialize;
use time::OffsetDateTime;

use crate::contracts::rfc3339;
use crate::money::Money;

/// An event a step sends: a JSON body.
///
/// Implement it with an empty block (`impl EventBody for MyEvent {}`) to use
/// serde; override [`write_json`](EventBody::write_json) only with a writer
/// that produces the same text.
pub trait EventBody: Serialize {
    /// Appends the event's JSON text to `out`.
    fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        serde_json::to_writer(out, self)
    }
}

/// Writes one JSON object's fields, in the order they are given.
pub(crate) struct ObjectWriter<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> ObjectWriter<'a> {
    /// Opens an object.
    pub(crate) fn new(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        ObjectWriter { out, empty: true }
    }

    /// Writes `"name":`; names are the contracts' camelCase literals, which need no escaping.
    fn key(&mut self, name: &'static str) -> &mut Vec<u8> {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    /// A string field.
    pub(crate) fn string(&mut self, name: &'static str, value: &str) -> serde_json::Result<()> {
        write_string(self.key(name), value)
    }

    /// A whole-number field.
    pub(crate) fn unsigned(&mut self, name: &'static str, value: u32) {
        let out = self.key(name);
        out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
    }

    /// An amount, as serde writes it (a JSON number: `19.99`, `10.0`).
    pub(crate) fn money(&mut self, name: &'static str, value: Money) {
        write_money(self.key(name), value);
    }

    /// An RFC 3339 timestamp; an error for years RFC 3339 cannot express.
    pub(crate) fn timestamp(&mut self, name: &'static str, value: OffsetDateTime) -> serde_json::Result<()> {
        let text = rfc3339::write(value).ok_or_else(|| {
            <serde_json::Error as serde::ser::Error>::custom("a timestamp outside years 0 to 9999")
        })?;
        write_plain(self.key(name), text.as_str());
        Ok(())
    }

    /// An array of objects, each written by `write`.
    pub(crate) fn objects<T>(
        &mut self,
        name: &'static str,
        items: &[T],
        mut write: impl FnMut(&mut ObjectWriter<'_>, &T) -> serde_json::Result<()>,
    ) -> serde_json::Result<()> {
        let out = self.key(name);
        out.push(b'[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let mut object = ObjectWriter::new(out);
            write(&mut object, item)?;
            object.finish();
        }
        out.push(b']');
        Ok(())
    }

    /// Closes the object.
    pub(crate) fn finish(self) {
        self.out.push(b'}');
    }
}

/// Whether a JSON string literal of `value` needs escapes: a control character,
/// `"` or `\\`. Eight bytes at a time, since every event and log line asks it
/// of every identifier.
pub(crate) fn needs_escape(value: &str) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    /// Whether some byte of `word` is below `n` (at most 0x80).
    fn has_less(word: u64, n: u8) -> bool {
        word.wrapping_sub(ONES * u64::from(n)) & !word & HIGHS != 0
    }
    fn has_byte(word: u64, b: u8) -> bool {
        has_less(word ^ (ONES * u64::from(b)), 1)
    }
    let bytes = value.as_bytes();
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_ne_bytes(word);
        if has_less(word, 0x20) || has_byte(word, b'"') || has_byte(word, b'\\') {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

/// A JSON string: copied as is when nothing in it needs escaping, else escaped by serde.
fn write_string(out: &mut Vec<u8>, value: &str) -> serde_json::Result<()> {
    if !needs_escape(value) {
        write_plain(out, value);
        Ok(())
    } else {
        serde_json::to_writer(out, value)
    }
}

/// A JSON string known to need no escaping.
fn write_plain(out: &mut Vec<u8>, value: &str) {
    out.reserve(value.len() + 2);
    out.push(b'"');
    out.extend_from_slice(value.as_bytes());
    out.push(b'"');
}

/// `cents / 100` as serde writes that `f64`: its shortest round-trip decimal,
/// which for amounts of at most ten digits is the amount itself with trailing
/// zeros dropped, keeping one decimal (`1999` -> `19.99`, `110` -> `1.1`, `1000` -> `10.0`).
fn write_money(out: &mut Vec<u8>, value: Money) {
    let cents = value.cents();
    if !(0..=Money::MAX.cents()).contains(&cents) {
        // Never for a parsed amount; serde's own text for anything else.
        let _ = serde_json::to_writer(&mut *out, &value);
        return;
    }
    out.extend_from_slice(itoa::Buffer::new().format(cents / 100).as_bytes());
    out.push(b'.');
    let (tens, ones) = ((cents % 100 / 10) as u8, (cents % 10) as u8);
    out.push(b'0' + tens);
    if ones != 0 {
        out.push(b'0' + ones);
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
            let mut ours = Vec::new();
            write_money(&mut ours, money);
            let serde = serde_json::to_vec(&money).unwrap();
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                String::from_utf8(serde).unwrap(),
                "{c} cents"
            );
        }
    }

    #[test]
    fn every_character_that_needs_escaping_is_found_at_every_position() {
        for needs in (0u8..0x20).chain([b'"', b'\\']) {
            for len in 1..=20 {
                for at in 0..len {
                    let mut text = vec![b'a'; len];
                    text[at] = needs;
                    let text = String::from_utf8(text).unwrap();
                    assert!(needs_escape(&text), "{text:?}");
                }
            }
        }
        for clean in [
            "",
            "ord-00000042",
            "caf\u{e9} \u{7f} \u{ff} \u{2028} 漢字 ~!#$%&'()*+,-./:;<=>?@[]^_`{|}",
            "corr-1fb17c23-90c1-42cf-93ac-94af0f21ddb6",
        ] {
            assert!(!needs_escape(clean), "{clean:?}");
        }
    }

    #[test]
    fn strings_that_need_escaping_are_escaped() {
        for value in [
            "plain",
            "",
            "quote \" here",
            "back\\slash",
            "tab\tnew\nline",
            "\u{1}",
            "é ü 漢字",
        ] {
            let mut ours = Vec::new();
            write_string(&mut ours, value).unwrap();
            assert_eq!(ours, serde_json::to_vec(value).unwrap(), "{value:?}");
        }
    }
}
