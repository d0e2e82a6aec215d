//! Each field rule of the event contracts, once: the fast and the precise
//! `OrderCreated` decoders and the downstream events' decoders all call these,
//! so no two of them can disagree on what a valid field is.

use time::OffsetDateTime;

use super::Rule;
use crate::money::{Money, MoneyError};
use orderflow_batch::correlation::{MAX_CORRELATION_ID, correlation_id_byte};

/// A string rule: a length range and an allowed ASCII character set.
pub struct Chars {
    min: usize,
    max: usize,
    /// Which bytes are allowed, by value (a table: the check runs on every
    /// ID of every record, and a table costs no call a byte).
    allowed: [bool; 256],
    set: &'static str,
}

/// The table of the bytes for which the expression holds, built at compile time.
macro_rules! table {
    (|$b:ident| $allowed:expr) => {{
        let mut table = [false; 256];
        let mut i = 0;
        while i < 256 {
            let $b = i as u8;
            table[i] = $allowed;
            i += 1;
        }
        table
    }};
}

impl Chars {
    /// The rule `value` breaks, if any (the character set first).
    pub fn rule(&self, value: &str) -> Option<Rule> {
        // All allowed characters are ASCII, so bytes count characters once the set is checked.
        if !value.bytes().all(|b| self.allowed[usize::from(b)]) {
            Some(Rule::Charset(self.set))
        } else if value.len() < self.min || value.len() > self.max {
            Some(Rule::Length {
                min: self.min,
                max: self.max,
            })
        } else {
            None
        }
    }

    /// `value` keeps the rule, or the rule it breaks.
    pub fn check(&self, value: &str) -> Result<(), Rule> {
        self.rule(value).map_or(Ok(()), Err)
    }

    /// Whether `value` keeps the rule.
    pub fn accepts(&self, value: &str) -> bool {
        self.rule(value).is_none()
    }
}

/// `orderId`, `customerId` (and a shipment ID): 1 to 64 characters of `[A-Za-z0-9_-]`.
pub const ID: Chars = Chars {
    min: 1,
    max: 64,
    allowed: table!(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
    set: "letters, digits, '_' and '-'",
};

/// A SKU: 1 to 32 characters of `[A-Z0-9-]`.
pub const SKU: Chars = Chars {
    min: 1,
    max: 32,
    allowed: table!(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-'),
    set: "A-Z, 0-9 and '-'",
};

/// A shipping region: 2 to 16 characters of `[A-Z-]`.
pub const REGION: Chars = Chars {
    min: 2,
    max: 16,
    allowed: table!(|b| b.is_ascii_uppercase() || b == b'-'),
    set: "A-Z and '-'",
};

/// A correlation ID: 1 to 128 printable ASCII characters (`!` to `~`), so it
/// can go into a header, an attribute and a log line as it is.
pub const CORRELATION_ID: Chars = Chars {
    min: 1,
    max: MAX_CORRELATION_ID,
    allowed: table!(|b| correlation_id_byte(b)),
    set: "printable ASCII characters ('!' to '~')",
};

/// A carrier's name: 1 to 64 characters of printable ASCII and spaces.
pub const CARRIER: Chars = Chars {
    min: 1,
    max: 64,
    allowed: table!(|b| b == b' ' || b.is_ascii_graphic()),
    set: "printable ASCII characters and spaces",
};

/// The default shipping region when neither the body nor the `Region` attribute gives one.
pub const DEFAULT_REGION: &str = "US";

/// Most lines in an order.
pub const MAX_ITEMS: usize = 100;
/// Most units of one line.
const MAX_QUANTITY: i64 = 1000;

/// An integer from the raw text of a JSON value, within `min..=max`:
/// `Type` for anything but a plain integer (`2.0`, `"2"`, `1e2`), `Range` past the bounds.
pub fn integer(text: &str, min: i64, max: i64) -> Result<i64, Rule> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Rule::Type("an integer"));
    }
    match text.parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(Rule::Range { min, max }),
    }
}

/// An order line's quantity: an integer from 1 to 1000.
pub fn quantity(text: &str) -> Result<u32, Rule> {
    integer(text, 1, MAX_QUANTITY).map(|q| q as u32)
}

/// An array's length within `min..=max`.
pub fn count(len: usize, min: usize, max: usize) -> Result<(), Rule> {
    if (min..=max).contains(&len) {
        Ok(())
    } else {
        Err(Rule::Count { min, max })
    }
}

/// A money amount from the raw text of a JSON number (see [`Money::parse_json_number`]).
pub fn amount(text: &str) -> Result<Money, Rule> {
    Money::parse_json_number(text).map_err(|e| match e {
        MoneyError::NotANumber => Rule::Type("a JSON number"),
        MoneyError::TooManyDecimals => Rule::DecimalPlaces,
        MoneyError::OutOfRange => Rule::Range {
            min: 0,
            max: Money::MAX.cents() / 100,
        },
    })
}

/// A timestamp by the contract's RFC 3339 rule ([`orderflow_batch::rfc3339`]).
pub fn timestamp(text: &str) -> Result<OffsetDateTime, Rule> {
    orderflow_batch::rfc3339::parse(text).ok_or(Rule::Timestamp)
}

/// A calendar date, `YYYY-MM-DD`.
pub fn date(text: &str) -> Result<(), Rule> {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        b.get(range)?.iter().try_fold(0u32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let valid = || -> Option<()> {
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let month = time::Month::try_from(u8::try_from(digits(5..7)?).ok()?).ok()?;
        let day = u8::try_from(digits(8..10)?).ok()?;
        time::Date::from_calendar_date(i32::try_from(digits(0..4)?).ok()?, month, day).ok()?;
        Some(())
    };
    valid().ok_or(Rule::Date)
}

/// A contract version: ASCII-digit parts separated by dots, without leading
/// zeros (`1`, `1.0`, `1.9.2`; not `01.0`, `1.`, `1.x`), whose major is 1.
/// `VersionFormat` for a malformed one, `UnsupportedVersion` for another major.
pub fn version(text: &str) -> Result<(), Rule> {
    let well_formed = text.split('.').all(|part| {
        !part.is_empty()
            && part.bytes().all(|b| b.is_ascii_digit())
            && (part == "0" || !part.starts_with('0'))
    });
    if !well_formed {
        Err(Rule::VersionFormat)
    } else if text.split('.').next() != Some("1") {
        Err(Rule::UnsupportedVersion)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_dot_separated_digits_without_leading_zeros_and_major_one() {
        for ok in ["1", "1.0", "1.9.2", "1.10", "1.0.0.0"] {
            assert_eq!(version(ok), Ok(()), "{ok}");
        }
        for malformed in [
            "01.0", "001", "1.", ".1", "1.x", "", "1..0", "1.01", " 1.0", "1.0 ", "+1", "١.0",
        ] {
            assert_eq!(version(malformed), Err(Rule::VersionFormat), "{malformed:?}");
        }
        for other in ["2.0", "0.9", "10.0", "0"] {
            assert_eq!(version(other), Err(Rule::UnsupportedVersion), "{other}");
        }
    }

    #[test]
    fn correlation_ids_are_printable_ascii_of_1_to_128() {
        assert!(CORRELATION_ID.accepts("corr-1"));
        assert!(CORRELATION_ID.accepts(&"!~".repeat(64)));
        for bad in ["a\rb", "a\nb", "a\0b", "a\x07b", "a b", "caf\u{e9}", "\x7f"] {
            assert!(
                matches!(CORRELATION_ID.rule(bad), Some(Rule::Charset(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(CORRELATION_ID.rule(""), Some(Rule::Length { .. })));
        assert!(matches!(
            CORRELATION_ID.rule(&"c".repeat(129)),
            Some(Rule::Length { .. })
        ));
    }

    #[test]
    fn integers_are_plain_and_in_range() {
        assert_eq!(quantity("1000"), Ok(1000));
        assert_eq!(quantity("0"), Err(Rule::Range { min: 1, max: 1000 }));
        assert_eq!(quantity("-3"), Err(Rule::Range { min: 1, max: 1000 }));
        assert_eq!(
            quantity("99999999999999999999"),
            Err(Rule::Range { min: 1, max: 1000 })
        );
        for not_integer in ["2.0", "1e2", "\"2\"", "-", "", "true"] {
            assert_eq!(
                quantity(not_integer),
                Err(Rule::Type("an integer")),
                "{not_integer}"
            );
        }
    }

    #[test]
    fn dates_are_calendar_dates() {
        assert_eq!(date("2024-02-29"), Ok(()));
        for bad in [
            "2026-02-29",
            "2026-13-01",
            "2026-1-01",
            "2026-01-01T00:00:00Z",
            "tomorrow",
        ] {
            assert_eq!(date(bad), Err(Rule::Date), "{bad}");
        }
    }
}
