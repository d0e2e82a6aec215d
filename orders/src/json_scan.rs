//! A strict, borrowing JSON reader for the fast path of decoding message bodies.
//!
//! [`Cursor`] reads the shape valid messages have: objects, arrays, plain
//! strings, numbers and literals, borrowing every string from the input. It
//! gives up (`None`) on anything it does not read exactly as JSON would, and
//! on some valid JSON it leaves to the precise decoder: strings with escapes,
//! nesting deeper than [`MAX_DEPTH`]. A `Some` is always a correct reading of
//! valid JSON; a `None` only means "decode this the careful way".

use orderflow_batch::json::first_special;

/// Deepest nesting of arrays and objects skipped as unknown values.
pub(crate) const MAX_DEPTH: usize = 64;

/// A position in a JSON text.
pub(crate) struct Cursor<'a> {
    text: &'a str,
    pos: usize,
    /// Set when it gave up on valid JSON it leaves to the precise decoder.
    deferred: bool,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `text`.
    pub(crate) fn new(text: &'a str) -> Self {
        Cursor {
            text,
            pos: 0,
            deferred: false,
        }
    }

    /// Whether it gave up on an escaped string or deep nesting (valid JSON
    /// it does not read) rather than on something that is not JSON.
    pub(crate) fn deferred(&self) -> bool {
        self.deferred
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// The next byte after whitespace, not consumed.
    fn peek(&mut self) -> Option<u8> {
        let bytes = self.bytes();
        while let Some(&b) = bytes.get(self.pos) {
            if !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                return Some(b);
            }
            self.pos += 1;
        }
        None
    }

    /// Consumes `expected` after whitespace.
    fn eat(&mut self, expected: u8) -> Option<()> {
        (self.peek()? == expected).then(|| self.pos += 1)
    }

    /// Reads an object: `member` is called with each key and must read its value.
    pub(crate) fn object(&mut self, mut member: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        let mut more = self.open(b'{', b'}')?;
        while more {
            let key = self.string()?;
            self.eat(b':')?;
            member(self, key)?;
            more = self.after_entry(b'}')?;
        }
        Some(())
    }

    /// Reads an array: `element` is called for each entry and must read it.
    pub(crate) fn array(&mut self, mut element: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        let mut more = self.open(b'[', b']')?;
        while more {
            element(self)?;
            more = self.after_entry(b']')?;
        }
        Some(())
    }

    /// Consumes `open`; whether an entry follows (else `close` was consumed too).
    fn open(&mut self, open: u8, close: u8) -> Option<bool> {
        self.eat(open)?;
        if self.peek()? == close {
            self.pos += 1;
            return Some(false);
        }
        Some(true)
    }

    /// After an entry: `true` past a comma (another entry follows), `false` past `close`.
    fn after_entry(&mut self, close: u8) -> Option<bool> {
        let b = self.peek()?;
        self.pos += 1;
        match b {
            b',' => Some(true),
            _ if b == close => Some(false),
            _ => None,
        }
    }

    /// A string without escapes, borrowed; `None` for anything else.
    pub(crate) fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.pos;
        let rest = &self.bytes()[start..];
        let len = first_special(rest)?;
        match rest[len] {
            b'"' => {}
            b'\\' => {
                self.deferred = true;
                return None;
            }
            _ => return None, // a raw control character
        }
        self.pos = start + len + 1;
        // Both ends sit next to ASCII quotes, so they are character boundaries.
        self.text.get(start..start + len)
    }

    /// A plain string as `Some`, `null` as `None`; `None` for anything else.
    pub(crate) fn string_or_null(&mut self) -> Option<Option<&'a str>> {
        if self.peek()? == b'n' {
            self.literal("null")?;
            return Some(None);
        }
        self.string().map(Some)
    }

    /// A number's text, checked against JSON's grammar
    /// (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`).
    pub(crate) fn number(&mut self) -> Option<&'a str> {
        self.peek()?;
        let bytes = self.bytes();
        let start = self.pos;
        let mut i = start;
        let digits = |i: &mut usize| {
            let from = *i;
            while bytes.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            *i - from
        };
        if bytes.get(i) == Some(&b'-') {
            i += 1;
        }
        match bytes.get(i)? {
            b'0' => i += 1,
            b'1'..=b'9' => {
                digits(&mut i);
            }
            _ => return None,
        }
        if bytes.get(i) == Some(&b'.') {
            i += 1;
            if digits(&mut i) == 0 {
                return None;
            }
        }
        if matches!(bytes.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(bytes.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if digits(&mut i) == 0 {
                return None;
            }
        }
        // A number ends at a delimiter: `01` or `1x` is not a number.
        if bytes
            .get(i)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'.')
        {
            return None;
        }
        self.pos = i;
        self.text.get(start..i)
    }

    /// Reads and discards one value of any kind.
    pub(crate) fn skip_value(&mut self) -> Option<()> {
        self.skip_nested(0)
    }

    fn skip_nested(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' | b'[' if depth >= MAX_DEPTH => {
                self.deferred = true;
                None
            }
            b'{' => self.object(|c, _| c.skip_nested(depth + 1)),
            b'[' => self.array(|c| c.skip_nested(depth + 1)),
            b't' => self.literal("true"),
            b'f' => self.literal("false"),
            b'n' => self.literal("null"),
            _ => self.number().map(drop),
        }
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        let end = self.pos + word.len();
        if self.bytes().get(self.pos..end)? != word.as_bytes() {
            return None;
        }
        if self.bytes().get(end).is_some_and(u8::is_ascii_alphanumeric) {
            return None;
        }
        self.pos = end;
        Some(())
    }

    /// Succeeds when only whitespace is left.
    pub(crate) fn end(&mut self) -> Option<()> {
        self.peek().is_none().then_some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Skips one value and checks nothing follows: what the cursor accepts.
    fn accepts(text: &str) -> bool {
        let mut c = Cursor::new(text);
        c.skip_value().and_then(|()| c.end()).is_some()
    }

    #[test]
    fn whatever_the_cursor_accepts_is_valid_json() {
        let texts = [
            r#"{"a": [1, -2.5e+3, 0, true, false, null, {"b": "c"}], "d": {}}"#,
            " [ ] ",
            r#""ünïcödé""#,
            "0",
            "-0.0E-0",
            r#"{"a":1,}"#,
            r#"{"a":1 "b":2}"#,
            "[1,]",
            "01",
            "1.",
            ".5",
            "-",
            "1e",
            "1x",
            "tru",
            "truex",
            "nul",
            r#"{"a":"b"#,
            "{\"a\":\"tab\there\"}",
            r#"{"a":1} x"#,
            r#"{1:2}"#,
            "+1",
            "",
            "  ",
        ];
        for text in texts {
            let json_valid = serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok();
            if accepts(text) {
                assert!(json_valid, "accepted invalid JSON: {text:?}");
            }
            if json_valid {
                assert!(accepts(text), "refused plain valid JSON: {text:?}");
            }
        }
    }

    #[test]
    fn strings_with_escapes_are_left_to_the_precise_decoder() {
        assert_eq!(Cursor::new(r#""plain""#).string(), Some("plain"));
        assert_eq!(Cursor::new(r#""a\"b""#).string(), None);
        assert_eq!(Cursor::new(r#""a\u0041""#).string(), None);
        assert!(!accepts(r#"{"a":"\n"}"#));
    }

    #[test]
    fn nesting_beyond_the_limit_is_left_to_the_precise_decoder() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(accepts(&deep(MAX_DEPTH)));
        assert!(!accepts(&deep(MAX_DEPTH + 1)));
    }

    #[test]
    fn numbers_are_read_as_written() {
        for (text, number) in [("12.50,", "12.50"), ("0]", "0"), ("-1e3}", "-1e3"), ("7 ", "7")] {
            assert_eq!(Cursor::new(text).number(), Some(number), "{text}");
        }
        for text in ["00", "1.e5", "-", "", "\"1\""] {
            assert_eq!(Cursor::new(text).number(), None, "{text}");
        }
    }
}
