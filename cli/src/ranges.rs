//! The range checks of the command line's numbers, one message per kind of
//! range, the same in every command.
//!
//! Fractions (`--invalid`, `--fail-rate`, ...) go through [`Fraction`], whole
//! numbers with bounds (`--concurrency`, `--visibility-timeout`) through
//! [`WholeNumber`]. Both take negative numbers as values (clap would take
//! `-0.1` for a flag), and their errors name the flag and the rule, never the
//! value. [`check_fraction`] and [`check_whole_number`] are the same checks
//! for callers of the library.

use std::ffi::OsStr;

use clap::builder::TypedValueParser;
use clap::error::ErrorKind;

/// A number outside its flag's range.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    /// Not a number from 0 to 1 (NaN and infinities included).
    #[error("--{flag} must be a fraction from 0 to 1")]
    Fraction {
        /// The flag, without its dashes.
        flag: String,
    },
    /// Not a whole number within the bounds.
    #[error("--{flag} must be {what} from {min} to {max}")]
    WholeNumber {
        /// The flag, without its dashes.
        flag: String,
        /// What the number counts, e.g. `a whole number of seconds`.
        what: &'static str,
        /// The least value allowed.
        min: u64,
        /// The greatest value allowed.
        max: u64,
    },
}

/// `value` if it is a fraction from 0 to 1.
pub fn check_fraction(flag: &str, value: f64) -> Result<f64, RangeError> {
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(RangeError::Fraction {
            flag: flag.to_owned(),
        })
    }
}

/// `value` if it is within `range`'s bounds.
pub fn check_whole_number(flag: &str, value: u64, range: &WholeNumber) -> Result<u64, RangeError> {
    if (range.min..=range.max).contains(&value) {
        Ok(value)
    } else {
        Err(range.error(flag))
    }
}

/// The flag's long name, for messages.
fn flag_name(arg: Option<&clap::Arg>) -> String {
    arg.and_then(|a| a.get_long().map(str::to_owned))
        .or_else(|| arg.map(|a| a.get_id().to_string()))
        .unwrap_or_else(|| "value".to_owned())
}

/// A usage error as clap writes its own: the message, the usage, where to find help.
fn usage_error(cmd: &clap::Command, error: &RangeError) -> clap::Error {
    clap::Error::raw(ErrorKind::ValueValidation, error.to_string()).format(&mut cmd.clone())
}

/// The value parser of fractions: a number from 0 to 1.
#[derive(Clone, Copy, Debug, Default)]
pub struct Fraction;

impl TypedValueParser for Fraction {
    type Value = f64;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<f64, clap::Error> {
        let flag = flag_name(arg);
        let parsed = value.to_str().and_then(|text| text.trim().parse::<f64>().ok());
        match parsed {
            Some(number) => check_fraction(&flag, number),
            None => Err(RangeError::Fraction { flag }),
        }
        .map_err(|e| usage_error(cmd, &e))
    }
}

/// Whole numbers from `min` to `max`: the bounds of a flag, and with
/// [`WholeNumber::parser`] its value parser
/// (`value_parser = WholeNumber::new(1, 1000).parser::<u16>()`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WholeNumber {
    /// The least value allowed.
    pub min: u64,
    /// The greatest value allowed.
    pub max: u64,
    /// What the number counts, for the message.
    pub what: &'static str,
}

impl WholeNumber {
    /// A count from `min` to `max`.
    pub const fn new(min: u64, max: u64) -> Self {
        WholeNumber {
            min,
            max,
            what: "a whole number",
        }
    }

    /// A number of seconds from `min` to `max`.
    pub const fn seconds(min: u64, max: u64) -> Self {
        WholeNumber {
            min,
            max,
            what: "a whole number of seconds",
        }
    }

    fn error(&self, flag: &str) -> RangeError {
        RangeError::WholeNumber {
            flag: flag.to_owned(),
            what: self.what,
            min: self.min,
            max: self.max,
        }
    }

    /// The value parser, giving values of the flag's type `T`.
    pub fn parser<T>(self) -> WholeNumberParser<T> {
        WholeNumberParser {
            range: self,
            into: std::marker::PhantomData,
        }
    }
}

/// [`WholeNumber`]'s value parser into `T`.
#[derive(Debug)]
pub struct WholeNumberParser<T> {
    range: WholeNumber,
    into: std::marker::PhantomData<fn() -> T>,
}

impl<T> Clone for WholeNumberParser<T> {
    fn clone(&self) -> Self {
        WholeNumberParser {
            range: self.range,
            into: std::marker::PhantomData,
        }
    }
}

impl<T> TypedValueParser for WholeNumberParser<T>
where
    T: TryFrom<u64> + Clone + Send + Sync + 'static,
{
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        let flag = flag_name(arg);
        value
            .to_str()
            .and_then(|text| text.trim().parse::<u64>().ok())
            .and_then(|number| check_whole_number(&flag, number, &self.range).ok())
            .and_then(|number| T::try_from(number).ok())
            .ok_or_else(|| usage_error(cmd, &self.range.error(&flag)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_are_numbers_from_0_to_1() {
        assert_eq!(check_fraction("invalid", 0.0), Ok(0.0));
        assert_eq!(check_fraction("invalid", 1.0), Ok(1.0));
        for bad in [f64::NAN, f64::INFINITY, -0.1, 1.01] {
            assert_eq!(
                check_fraction("fail-rate", bad).map_err(|e| e.to_string()),
                Err("--fail-rate must be a fraction from 0 to 1".to_owned())
            );
        }
    }

    #[test]
    fn whole_numbers_stay_within_their_bounds() {
        let range = WholeNumber::seconds(0, 43_200);
        assert_eq!(
            check_whole_number("visibility-timeout", 43_200, &range),
            Ok(43_200)
        );
        assert_eq!(
            check_whole_number("visibility-timeout", 43_201, &range).map_err(|e| e.to_string()),
            Err("--visibility-timeout must be a whole number of seconds from 0 to 43200".to_owned())
        );
    }

    #[test]
    fn the_parsers_name_the_flag_and_not_the_value() {
        let cmd = clap::Command::new("orderflow")
            .arg(clap::Arg::new("rate").long("rate").value_parser(Fraction))
            .arg(
                clap::Arg::new("concurrency")
                    .long("concurrency")
                    .value_parser(WholeNumber::new(1, 8).parser::<u8>()),
            );
        let arg = cmd.get_arguments().find(|a| a.get_id() == "rate");
        let error = Fraction.parse_ref(&cmd, arg, OsStr::new("-12345")).unwrap_err();
        let text = error.to_string();
        assert!(text.contains("--rate must be a fraction from 0 to 1"), "{text}");
        assert!(!text.contains("12345"), "{text}");
        let arg = cmd.get_arguments().find(|a| a.get_id() == "concurrency");
        let parser = WholeNumber::new(1, 8).parser::<u8>();
        assert_eq!(parser.parse_ref(&cmd, arg, OsStr::new("8")).ok(), Some(8));
        for bad in ["0", "9", "-1", "2.5", "many"] {
            let text = parser
                .parse_ref(&cmd, arg, OsStr::new(bad))
                .unwrap_err()
                .to_string();
            assert!(
                text.contains("--concurrency must be a whole number from 1 to 8"),
                "{bad}: {text}"
            );
        }
    }
}
