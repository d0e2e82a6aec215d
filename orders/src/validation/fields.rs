//! Capturing an object's fields as raw JSON text, and reading each field by
//! its rule, recording what it breaks under the field's path.

use std::borrow::Cow;
use std::fmt;

use serde::Deserializer;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::rules::{self, Chars};
use super::{Rule, ValidationErrors};
use crate::contracts::{EVENT_VERSION, EventType, OrderItem};
use orderflow_batch::error::RecordError;
use orderflow_batch::json::Key;

/// The JSON object keys a slot accepts (the contract's name first, then its snake_case alias).
pub(crate) type FieldNames = &'static [&'static str];

/// An object's known fields captured as raw JSON (`None` when absent or
/// `null`), and the rule each repeated field breaks; unknown fields skipped.
pub(crate) struct Captured<'de, const N: usize> {
    pub(crate) values: [Option<&'de RawValue>; N],
    pub(crate) repeats: [Option<Rule>; N],
}

impl<const N: usize> Captured<'_, N> {
    /// Records every repeated field, under `prefix` + its contract name.
    pub(crate) fn report_repeats(
        &self,
        table: &[FieldNames; N],
        prefix: &str,
        errors: &mut ValidationErrors,
    ) {
        for (names, repeat) in table.iter().zip(&self.repeats) {
            if let Some(rule) = repeat {
                errors.push(format!("{prefix}{}", names[0]), rule.clone());
            }
        }
    }
}

/// Reads an object, capturing the fields named in the table.
struct CaptureFields<const N: usize>(&'static [FieldNames; N]);

impl<'de, const N: usize> DeserializeSeed<'de> for CaptureFields<N> {
    type Value = Captured<'de, N>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, const N: usize> Visitor<'de> for CaptureFields<N> {
    type Value = Captured<'de, N>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut captured = Captured {
            values: [None; N],
            repeats: std::array::from_fn(|_| None),
        };
        // Which spelling each slot was first seen under.
        let mut seen: [Option<usize>; N] = [None; N];
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let found = self
                .0
                .iter()
                .enumerate()
                .find_map(|(slot, names)| Some((slot, names.iter().position(|n| *n == key.0)?)));
            let Some((slot, spelling)) = found else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            let value: Option<&'de RawValue> = map.next_value()?;
            match seen[slot] {
                Some(first) => {
                    captured.repeats[slot].get_or_insert(if first == spelling {
                        Rule::Repeated
                    } else {
                        Rule::GivenTwice
                    });
                }
                None => seen[slot] = Some(spelling),
            }
            if captured.values[slot].is_none() {
                captured.values[slot] = value;
            }
        }
        Ok(captured)
    }
}

/// Captures the fields of `text`, which must be exactly one JSON object.
pub(crate) fn capture<'de, const N: usize>(
    text: &'de str,
    table: &'static [FieldNames; N],
) -> Result<Captured<'de, N>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let captured = CaptureFields(table).deserialize(&mut de)?;
    de.end()?;
    Ok(captured)
}

/// Captures a body's fields: not JSON is [`RecordError::InvalidJson`], JSON
/// that is not an object is a broken rule on `(body)`.
pub(crate) fn capture_body<'de, const N: usize>(
    body: &'de str,
    table: &'static [FieldNames; N],
    event: EventType,
) -> Result<Captured<'de, N>, RecordError> {
    capture(body, table).map_err(|error| {
        use serde_json::error::Category;
        match error.classify() {
            Category::Data => {
                let mut errors = ValidationErrors::default();
                errors.push("(body)", Rule::Type("a JSON object"));
                RecordError::Invalid {
                    event: event.name(),
                    errors: errors.into(),
                }
            }
            // The parser's message names a line and column, never the text.
            Category::Io | Category::Syntax | Category::Eof => RecordError::InvalidJson(error.to_string()),
        }
    })
}

/// A JSON string's text, unescaped only when it has escapes; `None` for any other value.
pub(crate) fn json_string(raw: &RawValue) -> Option<Cow<'_, str>> {
    let text = raw.get();
    if !text.starts_with('"') {
        return None;
    }
    if !text.contains('\\') {
        return Some(Cow::Borrowed(&text[1..text.len() - 1]));
    }
    serde_json::from_str::<String>(text).ok().map(Cow::Owned)
}

/// A required value: records `Required` when absent or `null`.
pub(crate) fn required<'a>(
    field: &dyn fmt::Display,
    raw: Option<&'a RawValue>,
    errors: &mut ValidationErrors,
) -> Option<&'a RawValue> {
    if raw.is_none() {
        errors.push(field.to_string(), Rule::Required);
    }
    raw
}

/// A string value: records `Type` for any other.
pub(crate) fn string<'a>(
    field: &dyn fmt::Display,
    raw: &'a RawValue,
    errors: &mut ValidationErrors,
) -> Option<Cow<'a, str>> {
    let value = json_string(raw);
    if value.is_none() {
        errors.push(field.to_string(), Rule::Type("a string"));
    }
    value
}

/// A required string that keeps a character rule.
pub(crate) fn chars<'a>(
    field: &dyn fmt::Display,
    raw: Option<&'a RawValue>,
    rule: &Chars,
    errors: &mut ValidationErrors,
) -> Option<Cow<'a, str>> {
    let value = string(field, required(field, raw, errors)?, errors)?;
    checked(field, rule.check(&value), errors)?;
    Some(value)
}

/// A required string read by a rule on its text (a timestamp, a date).
pub(crate) fn text_with<T>(
    field: &dyn fmt::Display,
    raw: Option<&RawValue>,
    rule: impl FnOnce(&str) -> Result<T, Rule>,
    errors: &mut ValidationErrors,
) -> Option<T> {
    let value = string(field, required(field, raw, errors)?, errors)?;
    checked(field, rule(&value), errors)
}

/// A required value read by a rule on its raw JSON text (a number).
pub(crate) fn raw_with<T>(
    field: &dyn fmt::Display,
    raw: Option<&RawValue>,
    rule: impl FnOnce(&str) -> Result<T, Rule>,
    errors: &mut ValidationErrors,
) -> Option<T> {
    let raw = required(field, raw, errors)?;
    checked(field, rule(raw.get()), errors)
}

/// The value, or `None` with the broken rule recorded.
pub(crate) fn checked<T>(
    field: &dyn fmt::Display,
    result: Result<T, Rule>,
    errors: &mut ValidationErrors,
) -> Option<T> {
    result.map_err(|rule| errors.push(field.to_string(), rule)).ok()
}

/// A required array's entries, as many as `min..=max`.
pub(crate) fn array<'a>(
    field: &dyn fmt::Display,
    raw: Option<&'a RawValue>,
    (min, max): (usize, usize),
    errors: &mut ValidationErrors,
) -> Option<Vec<&'a RawValue>> {
    let raw = required(field, raw, errors)?;
    let entries = checked(
        field,
        serde_json::from_str::<Vec<&RawValue>>(raw.get()).map_err(|_| Rule::Type("an array")),
        errors,
    )?;
    checked(field, rules::count(entries.len(), min, max), errors)?;
    Some(entries)
}

/// An object entry of an array (`items[2]`), its fields captured; repeated
/// fields recorded as `items[2].sku`.
pub(crate) fn object<'a, const N: usize>(
    field: &dyn fmt::Display,
    raw: &'a RawValue,
    table: &'static [FieldNames; N],
    errors: &mut ValidationErrors,
) -> Option<Captured<'a, N>> {
    let captured = checked(
        field,
        capture(raw.get(), table).map_err(|_| Rule::Type("an object")),
        errors,
    )?;
    captured.report_repeats(table, &format!("{field}."), errors);
    Some(captured)
}

/// A path inside an array entry, `items[2].quantity`, written only when a rule is broken.
pub(crate) struct EntryField {
    pub(crate) array: &'static str,
    pub(crate) index: usize,
    pub(crate) field: &'static str,
}

impl fmt::Display for EntryField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.array, self.index)?;
        if !self.field.is_empty() {
            write!(f, ".{}", self.field)?;
        }
        Ok(())
    }
}

/// The fields of an order line.
const ITEM_FIELDS: [FieldNames; 2] = [&["sku"], &["quantity"]];

/// An order's `items`: 1 to 100 lines, each a SKU by its rule and a
/// quantity of 1 to 1000, SKUs unique.
pub(crate) fn items(raw: Option<&RawValue>, errors: &mut ValidationErrors) -> Option<Vec<OrderItem>> {
    const ITEMS: &str = "items";
    let entries = array(&ITEMS, raw, (1, rules::MAX_ITEMS), errors)?;
    let before = errors.0.len();
    let mut items: Vec<OrderItem> = Vec::with_capacity(entries.len());
    for (index, entry) in entries.into_iter().enumerate() {
        let at = |field| EntryField {
            array: ITEMS,
            index,
            field,
        };
        let Some(fields) = object(&at(""), entry, &ITEM_FIELDS, errors) else {
            // Keep indices aligned for duplicate detection.
            items.push(OrderItem {
                sku: String::new(),
                quantity: 0,
            });
            continue;
        };
        let [sku, quantity] = fields.values;
        let sku = chars(&at("sku"), sku, &rules::SKU, errors);
        if let Some(sku) = &sku
            && let Some(first) = items.iter().position(|it| it.sku == **sku)
        {
            errors.push(at("sku").to_string(), Rule::DuplicateSku { first });
        }
        let quantity = raw_with(&at("quantity"), quantity, rules::quantity, errors);
        items.push(OrderItem {
            sku: sku.map(Cow::into_owned).unwrap_or_default(),
            quantity: quantity.unwrap_or(0),
        });
    }
    (errors.0.len() == before).then_some(items)
}

/// The contract version: the one this pipeline writes when absent;
/// [`RecordError::UnsupportedVersion`] for a well-formed one of another major.
pub(crate) fn version(
    raw: Option<&RawValue>,
    errors: &mut ValidationErrors,
) -> Result<Cow<'static, str>, RecordError> {
    const FIELD: &str = "version";
    let Some(raw) = raw else {
        return Ok(EVENT_VERSION.into());
    };
    let Some(text) = string(&FIELD, raw, errors) else {
        return Ok(EVENT_VERSION.into());
    };
    match rules::version(&text) {
        Ok(()) if text == EVENT_VERSION => Ok(EVENT_VERSION.into()),
        Ok(()) => Ok(Cow::Owned(text.into_owned())),
        Err(Rule::UnsupportedVersion) => Err(RecordError::UnsupportedVersion),
        Err(rule) => {
            errors.push(FIELD, rule);
            Ok(EVENT_VERSION.into())
        }
    }
}
