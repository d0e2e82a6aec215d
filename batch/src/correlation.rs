//! Correlation IDs: 1 to 128 printable ASCII characters (`!` to `~`), so one
//! can go into a header, an attribute and a log line as it is.

use crate::attributes::{CORRELATION_ID, MessageAttributes};

/// The longest correlation ID accepted.
pub const MAX_CORRELATION_ID: usize = 128;

/// Whether `b` may appear in a correlation ID: printable ASCII, no space.
pub const fn correlation_id_byte(b: u8) -> bool {
    b.is_ascii_graphic()
}

/// Whether `value` is a correlation ID by the rule.
pub(crate) fn is_correlation_id(value: &str) -> bool {
    (1..=MAX_CORRELATION_ID).contains(&value.len()) && value.bytes().all(correlation_id_byte)
}

/// The correlation ID of a message whose body could not be read: the
/// `CorrelationId` attribute when it keeps the rule, else a new one.
pub fn fallback_correlation_id(attributes: &(impl MessageAttributes + ?Sized)) -> String {
    attributes
        .string_attribute(CORRELATION_ID)
        .filter(|v| is_correlation_id(v))
        .map_or_else(new_correlation_id, str::to_owned)
}

/// A new correlation ID (a UUID), for messages that carry none.
pub fn new_correlation_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlation_ids_are_printable_ascii_of_1_to_128() {
        assert!(is_correlation_id("corr-1"));
        assert!(is_correlation_id(&"!~".repeat(64)));
        for bad in ["", "a\rb", "a\nb", "a\0b", "a\x07b", "a b", "caf\u{e9}", "\x7f"] {
            assert!(!is_correlation_id(bad), "{bad:?}");
        }
        assert!(!is_correlation_id(&"c".repeat(129)));
        assert_eq!(fallback_correlation_id(&()).len(), 36);
    }
}
