//! Values as log lines carry them: bounded in length, and in the text format
//! with control characters escaped, so no field can forge a line or flood one.
//!
//! The JSON format escapes control characters as JSON does; both formats cut
//! every value at [`MAX_LOGGED_BYTES`].

use std::borrow::Cow;
use std::fmt::Write as _;

use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::Writer;

/// The most bytes of one value a log line carries; the rest is cut, and the cut said.
pub const MAX_LOGGED_BYTES: usize = 2048;

/// `value`, cut to [`MAX_LOGGED_BYTES`] at a character boundary with
/// `…(N bytes cut)` after it; borrowed when it fits.
pub fn bounded(value: &str) -> Cow<'_, str> {
    if value.len() <= MAX_LOGGED_BYTES {
        return Cow::Borrowed(value);
    }
    let mut cut = MAX_LOGGED_BYTES;
    while !value.is_char_boundary(cut) {
        cut -= 1;
    }
    Cow::Owned(format!("{}…({} bytes cut)", &value[..cut], value.len() - cut))
}

/// `value` with every control character (and DEL) written as an escape
/// (`\r`, `\n`, `\t`, `\u{7}`): one value, one line.
fn escape_controls(value: &str) -> Cow<'_, str> {
    if !value.chars().any(char::is_control) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// How the text format writes fields: `name=value` (the message bare), each
/// value bounded and its control characters escaped.
pub fn text_fields() -> impl for<'w> FormatFields<'w> + Send + Sync + 'static {
    tracing_subscriber::fmt::format::debug_fn(|writer: &mut Writer<'_>, field, value| {
        let text = format!("{value:?}");
        let text = escape_controls(&bounded(&text)).into_owned();
        if field.name() == "message" {
            writer.write_str(&text)
        } else {
            write!(writer, "{field}={text}")
        }
    })
    .delimited(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_cut_at_a_character_boundary_and_say_so() {
        assert_eq!(bounded("short"), "short");
        let long = "é".repeat(MAX_LOGGED_BYTES);
        let cut = bounded(&long);
        assert!(cut.len() < MAX_LOGGED_BYTES + 32, "{}", cut.len());
        assert!(cut.ends_with(&format!("…({} bytes cut)", long.len() - MAX_LOGGED_BYTES)));
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape_controls("plain id-1"), "plain id-1");
        assert_eq!(
            escape_controls("a\r\nINFO forged\u{7}\u{0}\u{7f}"),
            "a\\r\\nINFO forged\\u{7}\\u{0}\\u{7f}"
        );
    }
}
