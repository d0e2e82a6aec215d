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
use crate::rfc3339;

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

    /// Writes `"name":`; names are the contracts' camelCase literals, which need no escaping.
    fn key(&mut self, name: &'static str) -> &mut String {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        self.out.push('"');
        self.out.push_str(name);
        self.out.push_str("\":");
        self.out
    }

    /// A string field.
    pub(crate) fn string(&mut self, name: &'static str, value: &str) {
        write_json_string(self.key(name), value);
    }

    /// A whole-number field.
    pub(crate) fn unsigned(&mut self, name: &'static str, value: u32) {
        let out = self.key(name);
        out.push_str(itoa::Buffer::new().format(value));
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
        name: &'static str,
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

/// Whether a JSON string literal of `value` needs escapes: a control character,
/// `"` or `\\`.
pub(crate) fn needs_escape(value: &str) -> bool {
    first_special(value.as_bytes()).is_some()
}

/// The position of the first byte a JSON string cannot hold as is (a control
/// character, `"` or `\\`). Eight bytes at a time: every event, log line and
/// message body asks it of every string.
pub(crate) fn first_special(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    /// The high bit of each byte of `word` below `n` (at most 0x80) is set;
    /// bytes above the lowest such byte may be set too, so only that one is exact.
    fn less(word: u64, n: u8) -> u64 {
        word.wrapping_sub(ONES * u64::from(n)) & !word & HIGHS
    }
    fn equal(word: u64, b: u8) -> u64 {
        less(word ^ (ONES * u64::from(b)), 1)
    }
    let first_in = |at: usize| {
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[at..at + 8]);
        let word = u64::from_le_bytes(word);
        let found = less(word, 0x20) | equal(word, b'"') | equal(word, b'\\');
        (found != 0).then(|| at + found.trailing_zeros() as usize / 8)
    };
    let n = bytes.len();
    if n < 8 {
        return bytes.iter().position(|&b| b < 0x20 || b == b'"' || b == b'\\');
    }
    let mut at = 0;
    while at + 8 <= n {
        if let Some(i) = first_in(at) {
            return Some(i);
        }
        at += 8;
    }
    // The last few bytes, as the word that ends the string: the bytes it
    // shares with the words before are clean, so its first find is the first.
    if at < n { first_in(n - 8) } else { None }
}

/// Appends `value` as a JSON string literal, escaped exactly as serde_json
/// escapes it (`\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, else `\u00xx`), so
/// event bodies and log lines read the same as serde's.
pub(crate) fn write_json_string(out: &mut String, value: &str) {
    out.reserve(value.len() + 2);
    out.push('"');
    if !needs_escape(value) {
        // IDs, codes and timestamps, the usual case: nothing to escape.
        out.push_str(value);
        out.push('"');
        return;
    }
    let mut start = 0;
    for (i, b) in value.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            0x0c => "\\f",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&value[start..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&value[start..]);
    out.push('"');
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
    fn the_first_special_byte_is_found_after_any_other_bytes() {
        for special in (0u8..0x20).chain([b'"', b'\\']) {
            for len in 1..=20 {
                for at in 0..len {
                    // Bytes just above the special ones, and a second special byte later.
                    let mut text: Vec<u8> = (0..len).map(|i| [0x20, b'#', b']', 0xff][i % 4]).collect();
                    text[at] = special;
                    if at + 1 < len {
                        text[len - 1] = b'"';
                    }
                    assert_eq!(first_special(&text), Some(at), "{text:?}");
                }
            }
        }
        assert_eq!(first_special(b""), None);
        assert_eq!(
            first_special("caf\u{e9} ~ \u{7f} 漢字 0123456789".as_bytes()),
            None
        );
    }

    #[test]
    fn strings_that_need_escaping_are_escaped() {
        let controls: Vec<String> = (0u8..0x20).map(|b| format!("a{}b", char::from(b))).collect();
        let values = [
            "plain",
            "",
            "quote \" here",
            "back\\slash",
            "tab\tnew\nline",
            "\u{1}",
            "é ü 漢字 \u{7f} / \u{2028}",
        ];
        for value in values.iter().copied().chain(controls.iter().map(String::as_str)) {
            let mut ours = String::from("prefix");
            write_json_string(&mut ours, value);
            assert_eq!(
                ours,
                format!("prefix{}", serde_json::to_string(value).unwrap()),
                "{value:?}"
            );
        }
    }
}
