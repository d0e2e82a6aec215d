//! Decoding and validating message bodies, with errors that name the field and the rule.
//!
//! Every body is read field by field from the raw JSON: each value is
//! captured as raw text first and then checked on its own, so one wrong type
//! gives `items[2].quantity: must be an integer`, not a parser message, every
//! broken rule is reported at once, and no error ever repeats a value (errors
//! go to logs and DLQ attributes; values may be customer data).
//!
//! - [`rules`]: each field rule of the contracts, once, for every decoder.
//! - [`order`]: `OrderCreated`, with a fast path for valid bodies and a
//!   precise one that names every broken rule; both call the same rules.
//! - [`events`]: the downstream events this pipeline writes.
//! - `fields`: capturing an object's fields and reading each by its rule.

use std::fmt;

use serde::{Serialize, Serializer};

pub mod events;
mod fields;
pub mod order;
pub mod rules;

#[cfg(test)]
mod parity_tests;

pub use events::{DecodeEvent, decode_event};
pub use order::decode_order_created;
pub use orderflow_batch::attributes::MessageAttributes;
pub use rules::DEFAULT_REGION;

/// The rule a field breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rule {
    /// The field is missing or `null`.
    Required,
    /// The value has the wrong JSON type; names the expected one.
    Type(&'static str),
    /// A string's length is outside `min..=max` characters.
    Length {
        /// Fewest characters.
        min: usize,
        /// Most characters.
        max: usize,
    },
    /// A string has characters outside the allowed set (described).
    Charset(&'static str),
    /// A number is outside `min..=max`.
    Range {
        /// Smallest value.
        min: i64,
        /// Largest value.
        max: i64,
    },
    /// An array's length is outside `min..=max`.
    Count {
        /// Fewest entries.
        min: usize,
        /// Most entries.
        max: usize,
    },
    /// A SKU already used by the item at this index.
    DuplicateSku {
        /// Index of the first item with this SKU.
        first: usize,
    },
    /// More than two decimal places.
    DecimalPlaces,
    /// Not an RFC 3339 timestamp.
    Timestamp,
    /// Not a `YYYY-MM-DD` date.
    Date,
    /// Not a version string like `1.0`.
    VersionFormat,
    /// A version whose major is not 1.
    UnsupportedVersion,
    /// The same key appears twice in one object.
    Repeated,
    /// Given under both its camelCase and snake_case spelling.
    GivenTwice,
    /// Not one of the listed values.
    OneOf(&'static str),
}

impl Rule {
    /// A stable, machine-readable name of the rule.
    pub fn code(&self) -> &'static str {
        match self {
            Rule::Required => "required",
            Rule::Type(_) => "type",
            Rule::Length { .. } => "length",
            Rule::Charset(_) => "charset",
            Rule::Range { .. } => "range",
            Rule::Count { .. } => "count",
            Rule::DuplicateSku { .. } => "unique",
            Rule::DecimalPlaces => "decimals",
            Rule::Timestamp => "timestamp",
            Rule::Date => "date",
            Rule::VersionFormat => "version",
            Rule::UnsupportedVersion => "unsupported",
            Rule::Repeated | Rule::GivenTwice => "duplicate",
            Rule::OneOf(_) => "enum",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Required => f.write_str("is required"),
            Rule::Type(t) => write!(f, "must be {t}"),
            Rule::Length { min, max } if min == max => write!(f, "must be {min} characters"),
            Rule::Length { min, max } => write!(f, "must be {min} to {max} characters"),
            Rule::Charset(set) => write!(f, "must contain only {set}"),
            Rule::Range { min, max } => write!(f, "must be from {min} to {max}"),
            Rule::Count { min, max } => write!(f, "must have {min} to {max} entries"),
            Rule::DuplicateSku { first } => write!(
                f,
                "repeats the SKU of items[{first}]; SKUs must be unique within an order"
            ),
            Rule::DecimalPlaces => f.write_str("must have at most 2 decimal places"),
            Rule::Timestamp => f.write_str(
                "must be an RFC 3339 timestamp like 2026-11-28T09:30:00Z (separator T, t or a space; offset Z, +hh:mm, -hh:mm or none for UTC)",
            ),
            Rule::Date => f.write_str("must be a date like 2026-11-28"),
            Rule::VersionFormat => f.write_str(
                "must be a version string like \"1.0\": digits separated by dots, without leading zeros",
            ),
            Rule::UnsupportedVersion => f.write_str("must have the major version 1, like \"1.0\""),
            Rule::Repeated => f.write_str("appears twice in the object"),
            Rule::GivenTwice => f.write_str("is given twice (camelCase and snake_case spellings)"),
            Rule::OneOf(values) => write!(f, "must be one of {values}"),
        }
    }
}

/// One broken rule: the field's path (`items[2].quantity`) and the rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The field's path in the body, or `messageAttributes.<Name>`.
    pub field: String,
    /// The broken rule.
    pub rule: Rule,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.rule)
    }
}

impl Serialize for FieldError {
    /// `{"field": "items[2].quantity", "rule": "range", "message": "must be from 1 to 1000"}`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("FieldError", 3)?;
        s.serialize_field("field", &self.field)?;
        s.serialize_field("rule", self.rule.code())?;
        s.serialize_field("message", &self.rule.to_string())?;
        s.end()
    }
}

/// Every rule a body breaks, in a fixed order (the contract's field order).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    /// Records a broken rule.
    pub fn push(&mut self, field: impl Into<String>, rule: Rule) {
        self.0.push(FieldError {
            field: field.into(),
            rule,
        });
    }

    /// Whether no rule is broken.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The broken rules.
    pub fn iter(&self) -> impl Iterator<Item = &FieldError> {
        self.0.iter()
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        orderflow_batch::error::write_rules(f, &self.0)
    }
}

impl From<ValidationErrors> for orderflow_batch::error::FieldErrors {
    /// Each broken rule as the code and message the batch processor reports.
    fn from(errors: ValidationErrors) -> Self {
        orderflow_batch::error::FieldErrors(
            errors
                .0
                .into_iter()
                .map(|e| orderflow_batch::error::FieldError {
                    field: e.field,
                    rule: e.rule.code(),
                    message: e.rule.to_string().into(),
                })
                .collect(),
        )
    }
}
