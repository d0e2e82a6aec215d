//! JSON text: string literals escaped exactly as serde_json escapes them, and
//! object keys read without a copy. Every event body, log line and decoder
//! of this crate and its users goes through these.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// Whether a JSON string literal of `value` needs escapes: a control character,
/// `"` or `\\`.
fn needs_escape(value: &str) -> bool {
    first_special(value.as_bytes()).is_some()
}

/// The position of the first byte a JSON string cannot hold as is (a control
/// character, `"` or `\\`). Eight bytes at a time: every event, log line and
/// message body asks it of every string.
pub fn first_special(bytes: &[u8]) -> Option<usize> {
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
pub fn write_json_string(out: &mut String, value: &str) {
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

/// An object key, borrowed from the input unless it has escapes.
pub struct Key<'de>(pub Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
