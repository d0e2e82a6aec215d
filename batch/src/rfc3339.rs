//! RFC 3339 timestamps, read and written without a format-description interpreter
//! (every event carries one or two).
//!
//! The rule read here is the contract's, in one place for every decoder:
//! `YYYY-MM-DD`, then `T`, `t` or a space, then `hh:mm:ss`, an optional
//! fraction (`.` and one or more digits; past nanoseconds they are cut), then
//! `Z`, `z`, `+hh:mm` or `-hh:mm`, or nothing at all (a local time as Python's
//! `isoformat()` writes it, read as UTC). Dates are real calendar dates;
//! second 60 is accepted only as a leap second (23:59:60 in UTC), read as the
//! last nanosecond before the next minute, as `time` reads it.

use serde::{Deserializer, Serializer};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// The longest text [`write`] writes: `9999-12-31T23:59:59.999999999+23:59`.
const MAX_LEN: usize = 35;

/// Text written into a fixed buffer, so formatting a timestamp allocates nothing.
pub struct Text {
    bytes: [u8; MAX_LEN],
    len: usize,
}

impl Text {
    fn push(&mut self, b: u8) {
        self.bytes[self.len] = b;
        self.len += 1;
    }

    fn two(&mut self, n: u8) {
        self.push(b'0' + n / 10);
        self.push(b'0' + n % 10);
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits and punctuation are ever pushed.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

/// Writes `2026-11-28T09:30:00Z`, `2026-11-28T09:30:00.25+02:00`; `None`
/// for years outside 0..=9999, which RFC 3339 cannot express.
pub fn write(dt: OffsetDateTime) -> Option<Text> {
    let year = dt.year();
    if !(0..=9999).contains(&year) {
        return None;
    }
    let mut out = Text {
        bytes: [0; MAX_LEN],
        len: 0,
    };
    // One calendar computation for the date (`month()` and `day()` each redo it).
    let (_, month, day) = dt.to_calendar_date();
    let (hour, minute, second, nanos) = dt.to_hms_nano();
    let year = year as u16;
    out.two((year / 100) as u8);
    out.two((year % 100) as u8);
    out.push(b'-');
    out.two(u8::from(month));
    out.push(b'-');
    out.two(day);
    out.push(b'T');
    out.two(hour);
    out.push(b':');
    out.two(minute);
    out.push(b':');
    out.two(second);
    if nanos != 0 {
        out.push(b'.');
        let mut digits = [0u8; 9];
        let mut rest = nanos;
        for d in digits.iter_mut().rev() {
            *d = (rest % 10) as u8;
            rest /= 10;
        }
        let significant = digits.iter().rposition(|&d| d != 0).map_or(0, |last| last + 1);
        for d in &digits[..significant] {
            out.push(b'0' + d);
        }
    }
    let offset = dt.offset();
    if offset.is_utc() {
        out.push(b'Z');
    } else {
        let (h, m, _) = offset.as_hms();
        out.push(if offset.is_negative() { b'-' } else { b'+' });
        out.two(h.unsigned_abs());
        out.push(b':');
        out.two(m.unsigned_abs());
    }
    Some(out)
}

/// Reads a timestamp by the contract's rule (the module docs); `None` for
/// anything else.
pub fn parse(text: &str) -> Option<OffsetDateTime> {
    let b = text.as_bytes();
    // `n` ASCII digits at `at` as a number.
    let digits = |at: usize, n: usize| -> Option<u32> {
        b.get(at..at + n)?.iter().try_fold(0u32, |v, &d| {
            d.is_ascii_digit().then(|| v * 10 + u32::from(d - b'0'))
        })
    };
    let punctuation = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if b.len() < 19 || punctuation.iter().any(|&(i, c)| b[i] != c) || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let year = i32::try_from(digits(0, 4)?).ok()?;
    let month = Month::try_from(u8::try_from(digits(5, 2)?).ok()?).ok()?;
    let day = u8::try_from(digits(8, 2)?).ok()?;
    let (hour, minute, second) = (digits(11, 2)?, digits(14, 2)?, digits(17, 2)?);

    let mut rest = &b[19..];
    let mut nanos = 0u32;
    if let [b'.', fraction @ ..] = rest {
        let n = fraction.iter().take_while(|d| d.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        for (i, &d) in fraction[..n.min(9)].iter().enumerate() {
            nanos += u32::from(d - b'0') * 10u32.pow(8 - i as u32);
        }
        rest = &fraction[n..];
    }
    let offset_minutes: i32 = match rest {
        [] | [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let two = |a: u8, b: u8| -> Option<i32> {
                (a.is_ascii_digit() && b.is_ascii_digit())
                    .then(|| i32::from(a - b'0') * 10 + i32::from(b - b'0'))
            };
            let (h, m) = (two(*h1, *h2)?, two(*m1, *m2)?);
            if h > 23 || m > 59 {
                return None;
            }
            if *sign == b'-' { -(h * 60 + m) } else { h * 60 + m }
        }
        _ => return None,
    };

    let leap = second == 60;
    if leap {
        // Only the last second of a UTC day: 23:59 once the offset is taken off.
        let utc_minute =
            (i64::from(hour) * 60 + i64::from(minute) - i64::from(offset_minutes)).rem_euclid(24 * 60);
        if utc_minute != 23 * 60 + 59 {
            return None;
        }
    }
    let date = Date::from_calendar_date(year, month, day).ok()?;
    let time = if leap {
        Time::from_hms_nano(
            u8::try_from(hour).ok()?,
            u8::try_from(minute).ok()?,
            59,
            999_999_999,
        )
        .ok()?
    } else {
        Time::from_hms_nano(
            u8::try_from(hour).ok()?,
            u8::try_from(minute).ok()?,
            u8::try_from(second).ok()?,
            nanos,
        )
        .ok()?
    };
    let offset = UtcOffset::from_whole_seconds(offset_minutes * 60).ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_offset(offset))
}

/// serde: writes [`write`]'s text (or `time`'s for years it cannot express).
pub fn serialize<S: Serializer>(dt: &OffsetDateTime, serializer: S) -> Result<S::Ok, S::Error> {
    match write(*dt) {
        Some(text) => serializer.serialize_str(text.as_str()),
        None => time::serde::rfc3339::serialize(dt, serializer),
    }
}

/// serde: reads by [`parse`]'s rule.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<OffsetDateTime, D::Error> {
    // Borrowed from the input unless it has escapes.
    let text = <crate::json::Key<'de> as serde::Deserialize>::deserialize(deserializer)?;
    parse(&text.0).ok_or_else(|| serde::de::Error::custom("not an RFC 3339 timestamp"))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use time::format_description::well_known::Rfc3339;
    use time::macros::datetime;

    use super::*;

    #[test]
    fn the_contracts_forms_are_read() {
        for (text, expected) in [
            ("2026-11-28T09:30:00Z", datetime!(2026-11-28 09:30:00 UTC)),
            ("2026-11-28t09:30:00z", datetime!(2026-11-28 09:30:00 UTC)),
            ("2026-11-28 09:30:00Z", datetime!(2026-11-28 09:30:00 UTC)),
            ("2026-11-28T09:30:00.5Z", datetime!(2026-11-28 09:30:00.5 UTC)),
            (
                "2026-11-28T09:30:00.123456789Z",
                datetime!(2026-11-28 09:30:00.123456789 UTC),
            ),
            // Past nanoseconds, digits are cut.
            (
                "2026-11-28T09:30:00.1234567891Z",
                datetime!(2026-11-28 09:30:00.123456789 UTC),
            ),
            ("2026-11-28T09:30:00+02:00", datetime!(2026-11-28 09:30:00 +2)),
            ("2026-11-28T09:30:00-05:30", datetime!(2026-11-28 09:30:00 -5:30)),
            ("2026-11-28T09:30:00-00:00", datetime!(2026-11-28 09:30:00 UTC)),
            // Python's `datetime.utcnow().isoformat()`: no offset, read as UTC.
            (
                "2026-12-02T03:19:09.312121",
                datetime!(2026-12-02 03:19:09.312121 UTC),
            ),
            ("2026-12-02T03:19:09", datetime!(2026-12-02 03:19:09 UTC)),
            ("2024-02-29T23:59:59Z", datetime!(2024-02-29 23:59:59 UTC)),
            ("0000-01-01T00:00:00Z", datetime!(0000-01-01 00:00:00 UTC)),
            // A leap second, in UTC and at an offset.
            (
                "2016-12-31T23:59:60Z",
                datetime!(2016-12-31 23:59:59.999999999 UTC),
            ),
            (
                "2017-01-01T01:59:60+02:00",
                datetime!(2017-01-01 01:59:59.999999999 +2),
            ),
        ] {
            assert_eq!(parse(text), Some(expected), "{text}");
        }
    }

    #[test]
    fn everything_else_is_refused() {
        for text in [
            // Any other date/time separator.
            "2026-11-01X10:00:00Z",
            "2026-11-0110:00:00Z",
            "2026-11-01_10:00:00Z",
            "2026-11-01/10:00:00Z",
            "2026-11-01\t10:00:00Z",
            "2026-11-01\u{0}10:00:00Z",
            "2026-11-01710:00:00Z",
            // Calendar and clock ranges.
            "2026-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-00-01T00:00:00Z",
            "2026-12-00T00:00:00Z",
            "2026-12-01T24:00:00Z",
            "2026-12-01T23:60:00Z",
            // Second 60 anywhere but the last second of a UTC day.
            "2016-12-31T12:59:60Z",
            "2016-12-31T23:59:60+02:00",
            "2016-12-31T23:58:60Z",
            // Shapes.
            "2026-11-28T09:30:00.Z",
            "2026-11-28T09:30:00.",
            "2026-11-28T09:30Z",
            "2026-1-28T09:30:00Z",
            "+2026-11-28T09:30:00Z",
            "2026-11-28T09:30:00+0200",
            "2026-11-28T09:30:00+02",
            "2026-11-28T09:30:00+24:00",
            "2026-11-28T09:30:00+02:60",
            "2026-11-28T09:30:00ZZ",
            "2026-11-28T09:30:00 Z",
            "2026-11-28T09:30:00Z ",
            " 2026-11-28T09:30:00Z",
            "2026-11-28",
            "yesterday",
            "",
        ] {
            assert_eq!(parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn what_time_reads_as_rfc3339_is_read_alike() {
        let texts = (0..2000).map(|i: i64| {
            let offset = match i % 4 {
                0 => "Z".to_owned(),
                1 => format!("+{:02}:{:02}", i % 24, i * 7 % 60),
                2 => format!("-{:02}:{:02}", i * 5 % 24, i * 11 % 60),
                _ => ".25Z".to_owned(),
            };
            format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{offset}",
                1990 + i % 50,
                1 + i % 12,
                1 + i * 7 % 31,
                i % 24,
                i * 13 % 60,
                i * 17 % 60
            )
        });
        for text in texts {
            assert_eq!(
                parse(&text),
                OffsetDateTime::parse(&text, &Rfc3339).ok(),
                "{text}"
            );
        }
    }

    /// Cases the property runs in CI, from a fixed seed (`PROPTEST_RNG_SEED` explores others).
    fn config() -> proptest::test_runner::Config {
        crate::property_budget::fixed(512, 0x3339_2026_1206_0001)
    }

    proptest::proptest! {
        #![proptest_config(config())]

        /// Any instant of years 0 to 9999, at any nanosecond and any whole-minute
        /// offset, is written as `time` writes it, and reads back as itself.
        #[test]
        fn every_instant_is_written_as_time_writes_it(
            seconds in datetime!(0000-01-01 00:00:00 UTC).unix_timestamp()
                ..=datetime!(9999-12-31 23:59:59 UTC).unix_timestamp(),
            // Whole seconds, milliseconds and any nanosecond: every fraction length.
            nanos in prop_oneof![Just(0u32), (1u32..1000).prop_map(|n| n * 1_000_000), 0u32..1_000_000_000],
            offset_minutes in -(23 * 60 + 59)..=(23i32 * 60 + 59),
        ) {
            let offset = UtcOffset::from_whole_seconds(offset_minutes * 60).unwrap();
            let dt = OffsetDateTime::from_unix_timestamp(seconds).unwrap()
                .replace_nanosecond(nanos).unwrap()
                .to_offset(offset);
            prop_assume!((0..=9999).contains(&dt.year()));
            let written = write(dt).unwrap();
            prop_assert_eq!(written.as_str(), dt.format(&Rfc3339).unwrap());
            prop_assert_eq!(parse(written.as_str()), Some(dt));
        }
    }

    #[test]
    fn timestamps_are_written_as_time_writes_rfc3339() {
        for text in [
            "2026-11-28T09:30:00Z",
            "2026-11-28T09:30:00.25Z",
            "2026-11-28T09:30:00.123456789Z",
            "2026-11-28T09:30:00.1Z",
            "2026-11-28T09:30:00.000001+02:00",
            "1999-01-02T03:04:05-05:30",
        ] {
            let dt = OffsetDateTime::parse(text, &Rfc3339).unwrap();
            assert_eq!(write(dt).unwrap().as_str(), dt.format(&Rfc3339).unwrap());
        }
    }
}
