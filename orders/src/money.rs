//! Money as an exact count of cents, parsed from the JSON number's own text.
//!
//! A total like `19.99` has no exact binary floating-point value, so checking
//! "at most two decimal places" on an `f64` either rejects valid totals or
//! accepts `0.30000000000000004`. [`Money::parse_json_number`] works on the
//! decimal digits as written instead.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An amount in cents. Always within the order contract's range once parsed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money {
    cents: i64,
}

/// Why a number is not a valid amount.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MoneyError {
    /// The text is not a JSON number.
    NotANumber,
    /// More than two significant decimal places.
    TooManyDecimals,
    /// Below zero or above the maximum.
    OutOfRange,
}

impl Money {
    /// The largest total an order may have: 1,000,000.00.
    pub const MAX: Money = Money { cents: 100_000_000 };

    /// An amount from a whole number of cents.
    pub const fn from_cents(cents: i64) -> Money {
        Money { cents }
    }

    /// The amount in cents.
    pub const fn cents(self) -> i64 {
        self.cents
    }

    /// Parses a JSON number token (`19.99`, `1e3`, `-0`) exactly, accepting
    /// 0 to [`Money::MAX`] with at most two decimal places. Trailing zeros do
    /// not count as decimal places (`1.10` and `1.100` are `1.1`).
    pub fn parse_json_number(text: &str) -> Result<Money, MoneyError> {
        let bytes = text.as_bytes();
        let (negative, rest) = match bytes.first() {
            Some(b'-') => (true, &bytes[1..]),
            _ => (false, bytes),
        };
        let int_len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if int_len == 0 {
            return Err(MoneyError::NotANumber);
        }
        let (int_digits, rest) = rest.split_at(int_len);
        let (frac_digits, rest) = match rest.first() {
            Some(b'.') => {
                let n = rest[1..].iter().take_while(|b| b.is_ascii_digit()).count();
                if n == 0 {
                    return Err(MoneyError::NotANumber);
                }
                (&rest[1..1 + n], &rest[1 + n..])
            }
            _ => (&rest[..0], rest),
        };
        let exponent: i64 = match rest.first() {
            Some(b'e' | b'E') => parse_exponent(&rest[1..])?,
            None => 0,
            Some(_) => return Err(MoneyError::NotANumber),
        };

        // value = digits * 10^(exponent - frac_len); drop leading and trailing zeros.
        // Amounts as written fit a small buffer; only absurdly long spellings allocate.
        let mut buffer = [0u8; 32];
        let joined;
        let digits: &[u8] = if int_digits.len() + frac_digits.len() <= buffer.len() {
            let (int_part, rest) = buffer.split_at_mut(int_digits.len());
            int_part.copy_from_slice(int_digits);
            rest[..frac_digits.len()].copy_from_slice(frac_digits);
            &buffer[..int_digits.len() + frac_digits.len()]
        } else {
            joined = [int_digits, frac_digits].concat();
            &joined
        };
        let mut scale = frac_digits.len() as i64 - exponent; // decimal places
        let start = digits.iter().position(|&d| d != b'0');
        let Some(start) = start else {
            return Ok(Money { cents: 0 }); // zero, whatever its spelling
        };
        let mut end = digits.len();
        while end > start + 1 && digits[end - 1] == b'0' {
            end -= 1;
            scale -= 1;
        }
        let significant = &digits[start..end];
        if scale > 2 {
            return Err(MoneyError::TooManyDecimals);
        }
        if negative {
            return Err(MoneyError::OutOfRange);
        }
        // cents = significant * 10^(2 - scale); bounded by MAX, so stop early on overflow.
        let zeros = 2 - scale;
        if significant.len() as i64 + zeros > 10 {
            return Err(MoneyError::OutOfRange);
        }
        let mut cents: i64 = 0;
        for d in significant {
            cents = cents * 10 + i64::from(d - b'0');
        }
        for _ in 0..zeros {
            cents *= 10;
        }
        if cents > Money::MAX.cents {
            return Err(MoneyError::OutOfRange);
        }
        Ok(Money { cents })
    }
}

fn parse_exponent(bytes: &[u8]) -> Result<i64, MoneyError> {
    let (negative, digits) = match bytes.first() {
        Some(b'-') => (true, &bytes[1..]),
        Some(b'+') => (false, &bytes[1..]),
        _ => (false, bytes),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(MoneyError::NotANumber);
    }
    // Saturate: an exponent beyond any sane size is out of range or has too many decimals either way.
    let mut value: i64 = 0;
    for d in digits {
        value = (value * 10 + i64::from(d - b'0')).min(1_000_000);
    }
    Ok(if negative { -value } else { value })
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.cents / 100, self.cents % 100)
    }
}

impl Serialize for Money {
    /// A JSON number. `cents / 100` as `f64` prints as its shortest round-trip
    /// form, which for a whole number of cents never has more than two decimals.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.cents as f64 / 100.0)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<serde_json::value::RawValue>::deserialize(deserializer)?;
        Money::parse_json_number(raw.get()).map_err(|e| {
            serde::de::Error::custom(match e {
                MoneyError::NotANumber => "an amount must be a JSON number",
                MoneyError::TooManyDecimals => "an amount has at most 2 decimal places",
                MoneyError::OutOfRange => "an amount must be from 0 to 1000000",
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<i64, MoneyError> {
        Money::parse_json_number(s).map(Money::cents)
    }

    #[test]
    fn exact_decimals_are_accepted() {
        assert_eq!(parse("19.99"), Ok(1999));
        assert_eq!(parse("1.1"), Ok(110));
        assert_eq!(parse("0"), Ok(0));
        assert_eq!(parse("-0"), Ok(0));
        assert_eq!(parse("0.00"), Ok(0));
        assert_eq!(parse("1.10"), Ok(110));
        // Longer than the digit buffer: the same rules.
        assert_eq!(parse(&format!("1.{}", "0".repeat(40))), Ok(100));
        assert_eq!(parse(&format!("{}19.99", "0".repeat(40))), Ok(1999));
        assert_eq!(
            parse(&format!("0.{}1", "0".repeat(40))),
            Err(MoneyError::TooManyDecimals)
        );
        assert_eq!(parse("1.100000"), Ok(110));
        assert_eq!(parse("1e3"), Ok(100_000));
        assert_eq!(parse("1999e-2"), Ok(1999));
        assert_eq!(parse("0.5E+1"), Ok(500));
    }

    #[test]
    fn float_artifacts_and_extra_decimals_are_rejected() {
        assert_eq!(parse("0.30000000000000004"), Err(MoneyError::TooManyDecimals));
        assert_eq!(parse("10.125"), Err(MoneyError::TooManyDecimals));
        assert_eq!(parse("1e-3"), Err(MoneyError::TooManyDecimals));
        assert_eq!(parse("1234.5E-2"), Err(MoneyError::TooManyDecimals));
    }

    #[test]
    fn range_is_zero_to_a_million() {
        assert_eq!(parse("1000000"), Ok(100_000_000));
        assert_eq!(parse("1000000.00"), Ok(100_000_000));
        assert_eq!(parse("1000000.01"), Err(MoneyError::OutOfRange));
        assert_eq!(parse("-1.5"), Err(MoneyError::OutOfRange));
        assert_eq!(parse("1e400"), Err(MoneyError::OutOfRange));
        assert_eq!(parse("99999999999999999999999"), Err(MoneyError::OutOfRange));
    }

    #[test]
    fn non_numbers_are_rejected() {
        assert_eq!(parse("\"19.99\""), Err(MoneyError::NotANumber));
        assert_eq!(parse("null"), Err(MoneyError::NotANumber));
        assert_eq!(parse("1."), Err(MoneyError::NotANumber));
        assert_eq!(parse("1e"), Err(MoneyError::NotANumber));
    }

    #[test]
    fn serializes_as_a_number_that_parses_back() {
        for cents in [0, 1, 10, 110, 1999, 100_000_000, 12_345_678] {
            let json = serde_json::to_string(&Money::from_cents(cents)).unwrap();
            assert_eq!(parse(&json), Ok(cents), "{json}");
        }
        assert_eq!(Money::from_cents(1999).to_string(), "19.99");
    }
}
