//! Decoding and validating message bodies, with errors that name the field and the rule.
//!
//! `OrderCreated` is read field by field from the raw JSON: each value is
//! captured as raw text first and then checked on its own, so one wrong type
//! gives `items[2].quantity: must be an integer`, not a parser message, every
//! broken rule is reported at once, and the rest of the body is never copied.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::contracts::{EventType, OrderCreated, OrderItem};
use crate::error::RecordError;
use crate::json_scan::Cursor;
use crate::money::{Money, MoneyError};

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
    /// Given under both its camelCase and snake_case spelling.
    GivenTwice,
    /// A rule described by the decoder (downstream events).
    Other(String),
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
            Rule::GivenTwice => "duplicate",
            Rule::Other(_) => "invalid",
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
            Rule::Timestamp => f.write_str("must be an RFC 3339 timestamp"),
            Rule::Date => f.write_str("must be a date like 2026-11-28"),
            Rule::VersionFormat => f.write_str("must be a version string like \"1.0\""),
            Rule::GivenTwice => f.write_str("is given twice (camelCase and snake_case spellings)"),
            Rule::Other(message) => f.write_str(message),
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
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Read access to a message's string attributes (SQS message attributes, HTTP headers).
pub trait MessageAttributes {
    /// The string value of the named attribute, if present.
    fn string_attribute(&self, name: &str) -> Option<&str>;
}

/// No attributes at all.
impl MessageAttributes for () {
    fn string_attribute(&self, _name: &str) -> Option<&str> {
        None
    }
}

/// Events decoded with serde and then checked for the identifier rules.
pub trait Validate {
    /// The event this type is.
    const EVENT: EventType;
    /// Records every rule this value breaks.
    fn validate(&self, errors: &mut ValidationErrors);
}

const ID_CHARS: &str = "letters, digits, '_' and '-'";
const SKU_CHARS: &str = "A-Z, 0-9 and '-'";
const REGION_CHARS: &str = "A-Z and '-'";

/// A string rule: a length range and an allowed ASCII character set.
struct Chars {
    min: usize,
    max: usize,
    allowed: fn(u8) -> bool,
    set: &'static str,
}

impl Chars {
    /// The rule `value` breaks, if any (the character set first).
    fn rule(&self, value: &str) -> Option<Rule> {
        // All allowed characters are ASCII, so bytes count characters once the set is checked.
        if !value.bytes().all(self.allowed) {
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

    fn check(&self, field: &str, value: &str, errors: &mut ValidationErrors) -> bool {
        match self.rule(value) {
            Some(rule) => {
                errors.push(field, rule);
                false
            }
            None => true,
        }
    }
}

const ID: Chars = Chars {
    min: 1,
    max: 64,
    allowed: |b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-',
    set: ID_CHARS,
};
const SKU: Chars = Chars {
    min: 1,
    max: 32,
    allowed: |b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-',
    set: SKU_CHARS,
};
const REGION: Chars = Chars {
    min: 2,
    max: 16,
    allowed: |b| b.is_ascii_uppercase() || b == b'-',
    set: REGION_CHARS,
};

/// `orderId`, `customerId`: 1 to 64 characters of `[A-Za-z0-9_-]`.
pub fn check_id(field: &str, value: &str, errors: &mut ValidationErrors) -> bool {
    ID.check(field, value, errors)
}

/// A SKU: 1 to 32 characters of `[A-Z0-9-]`.
pub fn check_sku(field: &str, value: &str, errors: &mut ValidationErrors) -> bool {
    SKU.check(field, value, errors)
}

/// A shipping region: 2 to 16 characters of `[A-Z-]`.
pub fn check_region(field: &str, value: &str, errors: &mut ValidationErrors) -> bool {
    REGION.check(field, value, errors)
}

/// The longest correlation ID accepted.
pub const MAX_CORRELATION_ID: usize = 128;

/// A correlation ID: 1 to 128 characters.
pub fn check_correlation_id(field: &str, value: &str, errors: &mut ValidationErrors) -> bool {
    let n = value.chars().count();
    if n == 0 || n > MAX_CORRELATION_ID {
        errors.push(
            field,
            Rule::Length {
                min: 1,
                max: MAX_CORRELATION_ID,
            },
        );
        false
    } else {
        true
    }
}

/// The correlation ID of a message whose body could not be read: the
/// `CorrelationId` attribute when usable, else a new UUID.
pub fn fallback_correlation_id(attributes: &(impl MessageAttributes + ?Sized)) -> String {
    attributes
        .string_attribute(crate::contracts::attribute::CORRELATION_ID)
        .filter(|v| !v.is_empty() && v.chars().count() <= MAX_CORRELATION_ID)
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

// ---------------------------------------------------------------------------
// Capturing an object's fields as raw JSON text.

/// The JSON object keys a slot accepts (the contract's name first, then aliases).
type FieldNames = &'static [&'static str];

/// An object's known fields captured as raw JSON; unknown fields skipped.
struct Captured<'de, const N: usize> {
    values: [Option<&'de RawValue>; N],
    given_twice: Option<usize>,
}

/// Reads an object, capturing the fields named in the table.
struct CaptureFields<const N: usize>(&'static [FieldNames; N]);

impl<'de, const N: usize> DeserializeSeed<'de> for CaptureFields<N> {
    type Value = Captured<'de, N>;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
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
            given_twice: None,
        };
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let slot = self.0.iter().position(|names| names.contains(&key.0.as_ref()));
            match slot {
                Some(i) => {
                    let value: Option<&'de RawValue> = map.next_value()?;
                    if captured.values[i].is_some() && value.is_some() {
                        captured.given_twice.get_or_insert(i);
                    }
                    if value.is_some() {
                        captured.values[i] = value;
                    }
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(captured)
    }
}

/// An object key, borrowed from the input unless it has escapes.
pub(crate) struct Key<'de>(pub(crate) Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
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

/// Captures the fields of `text`, which must be exactly one JSON object.
fn capture<'de, const N: usize>(
    text: &'de str,
    table: &'static [FieldNames; N],
) -> Result<Captured<'de, N>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let captured = CaptureFields(table).deserialize(&mut de)?;
    de.end()?;
    Ok(captured)
}

fn json_string(raw: &RawValue) -> Option<Cow<'_, str>> {
    let text = raw.get();
    if !text.starts_with('"') {
        return None;
    }
    if !text.contains('\\') {
        return Some(Cow::Borrowed(&text[1..text.len() - 1]));
    }
    serde_json::from_str::<String>(text).ok().map(Cow::Owned)
}

/// A required string field: records `Required` or `Type` and returns `None` when unusable.
fn string_field<'a>(
    field: &str,
    raw: Option<&'a RawValue>,
    errors: &mut ValidationErrors,
) -> Option<Cow<'a, str>> {
    let Some(raw) = raw else {
        errors.push(field, Rule::Required);
        return None;
    };
    let value = json_string(raw);
    if value.is_none() {
        errors.push(field, Rule::Type("a string"));
    }
    value
}

/// An optional string field: `Ok(None)` when absent, `Err(())` (recorded) when not a string.
fn optional_string_field<'a>(
    field: &str,
    raw: Option<&'a RawValue>,
    errors: &mut ValidationErrors,
) -> Result<Option<Cow<'a, str>>, ()> {
    match raw {
        None => Ok(None),
        Some(raw) => match json_string(raw) {
            Some(v) => Ok(Some(v)),
            None => {
                errors.push(field, Rule::Type("a string"));
                Err(())
            }
        },
    }
}

// ---------------------------------------------------------------------------
// OrderCreated

const ORDER_FIELDS: [FieldNames; 8] = [
    &["version"],
    &["orderId", "order_id"],
    &["customerId", "customer_id"],
    &["items"],
    &["totalAmount", "total_amount"],
    &["createdAt", "created_at"],
    &["shippingRegion", "shipping_region"],
    &["correlationId", "correlation_id"],
];
const ITEM_FIELDS: [FieldNames; 2] = [&["sku"], &["quantity"]];

/// The default shipping region when neither the body nor the `Region` attribute gives one.
pub const DEFAULT_REGION: &str = "US";

/// Checks the contract version: `Ok` for any 1.x, `UnsupportedVersion` for another major.
fn check_version(
    raw: Option<&RawValue>,
    errors: &mut ValidationErrors,
) -> Result<Cow<'static, str>, RecordError> {
    let Some(raw) = raw else {
        return Ok(crate::contracts::EVENT_VERSION.into());
    };
    let Some(version) = json_string(raw) else {
        errors.push("version", Rule::Type("a string"));
        return Ok(crate::contracts::EVENT_VERSION.into());
    };
    if !version_well_formed(&version) {
        errors.push("version", Rule::VersionFormat);
        return Ok(Cow::Owned(version.into_owned()));
    }
    if !version_supported(&version) {
        return Err(RecordError::UnsupportedVersion {
            version: version.into_owned(),
        });
    }
    Ok(if version == crate::contracts::EVENT_VERSION {
        crate::contracts::EVENT_VERSION.into()
    } else {
        Cow::Owned(version.into_owned())
    })
}

/// Whether a version reads as dot-separated digits (`1.0`, `1.2.3`).
fn version_well_formed(version: &str) -> bool {
    version
        .split('.')
        .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether a well-formed version's major is 1, the one this pipeline reads.
fn version_supported(version: &str) -> bool {
    version
        .split('.')
        .next()
        .unwrap_or_default()
        .trim_start_matches('0')
        == "1"
}

fn body_error(error: serde_json::Error, event: EventType) -> RecordError {
    use serde_json::error::Category;
    match error.classify() {
        Category::Data => {
            let mut errors = ValidationErrors::default();
            errors.push("(body)", Rule::Type("a JSON object"));
            RecordError::Invalid {
                event: event.name(),
                errors,
            }
        }
        Category::Io | Category::Syntax | Category::Eof => RecordError::InvalidJson(error.to_string()),
    }
}

/// Decodes and validates an `OrderCreated` body, resolving the shipping
/// region and correlation ID from the message attributes when the body has none.
///
/// Valid bodies take a fast path (one typed parse, borrowing the input); any
/// body that fails it is decoded again field by field for the precise errors.
pub fn decode_order_created(
    body: &str,
    attributes: &(impl MessageAttributes + ?Sized),
) -> Result<OrderCreated, RecordError> {
    match decode_valid_order(body, attributes) {
        Some(order) => Ok(order),
        None => decode_order_precisely(body, attributes),
    }
}

/// The order when `body` is valid; `None` when anything is off (the precise
/// path says what), and for valid bodies the fast reader leaves to it
/// (escaped strings, `null`s, a field given twice).
fn decode_valid_order(body: &str, attributes: &(impl MessageAttributes + ?Sized)) -> Option<OrderCreated> {
    let mut text: [Option<&str>; ORDER_FIELDS.len()] = [None; ORDER_FIELDS.len()];
    let mut given = [false; ORDER_FIELDS.len()];
    let mut items: Option<Vec<OrderItem>> = None;
    let mut cursor = Cursor::new(body);
    cursor.object(|c, key| {
        let Some(slot) = ORDER_FIELDS.iter().position(|names| names.contains(&key)) else {
            return c.skip_value();
        };
        if slot == ITEMS {
            if items.is_some() {
                return None;
            }
            items = Some(read_valid_items(c)?);
            return Some(());
        }
        if std::mem::replace(&mut given[slot], true) {
            return None; // given twice
        }
        text[slot] = match slot {
            TOTAL_AMOUNT => Some(c.number()?),
            // As in the precise path, `null` is absent: an error only where the field is required.
            _ => c.string_or_null()?,
        };
        Some(())
    })?;
    cursor.end()?;
    let [
        version,
        order_id,
        customer_id,
        _,
        total_amount,
        created_at,
        region,
        correlation,
    ] = text;

    let version = match version {
        None | Some(crate::contracts::EVENT_VERSION) => crate::contracts::EVENT_VERSION.into(),
        Some(v) if version_well_formed(v) && version_supported(v) => Cow::Owned(v.to_owned()),
        Some(_) => return None,
    };
    let (order_id, customer_id) = (order_id?, customer_id?);
    if ID.rule(order_id).is_some() || ID.rule(customer_id).is_some() {
        return None;
    }
    let items = items?;
    let total_amount = Money::parse_json_number(total_amount?).ok()?;
    let created_at = crate::contracts::rfc3339::parse(created_at?)?;
    let shipping_region = region
        .or_else(|| attributes.string_attribute(crate::contracts::attribute::REGION))
        .unwrap_or(DEFAULT_REGION);
    if REGION.rule(shipping_region).is_some() {
        return None;
    }
    let correlation_id = match correlation.filter(|c| !c.is_empty()).or_else(|| {
        attributes
            .string_attribute(crate::contracts::attribute::CORRELATION_ID)
            .filter(|c| !c.is_empty())
    }) {
        // Bytes bound characters from above: most IDs need no count.
        Some(c) if c.len() <= MAX_CORRELATION_ID || c.chars().count() <= MAX_CORRELATION_ID => c.to_owned(),
        Some(_) => return None,
        None => uuid::Uuid::new_v4().to_string(),
    };
    Some(OrderCreated {
        version,
        order_id: order_id.to_owned(),
        customer_id: customer_id.to_owned(),
        items,
        total_amount,
        created_at,
        shipping_region: shipping_region.to_owned(),
        correlation_id,
    })
}

/// Where `items` and `totalAmount` sit in [`ORDER_FIELDS`].
const ITEMS: usize = 3;
const TOTAL_AMOUNT: usize = 4;

/// A valid `items` array, or `None` (the precise path says what is wrong).
fn read_valid_items(cursor: &mut Cursor<'_>) -> Option<Vec<OrderItem>> {
    // Most orders have a few lines: one allocation, not a doubling series.
    let mut items: Vec<OrderItem> = Vec::with_capacity(4);
    cursor.array(|c| {
        let (mut sku, mut quantity) = (None, None);
        c.object(|c, key| match key {
            "sku" if sku.is_none() => {
                sku = Some(c.string()?);
                Some(())
            }
            "quantity" if quantity.is_none() => {
                quantity = Some(c.number()?);
                Some(())
            }
            "sku" | "quantity" => None, // given twice
            _ => c.skip_value(),
        })?;
        let sku = sku?;
        // A plain integer in range: the grammar already rules out leading zeros and signs.
        let quantity = quantity?;
        if quantity.len() > 4 || !quantity.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let quantity: u32 = quantity.parse().ok()?;
        if SKU.rule(sku).is_some()
            || !(1..=MAX_QUANTITY).contains(&i64::from(quantity))
            || items.len() == MAX_ITEMS
            || items.iter().any(|earlier| earlier.sku == sku)
        {
            return None;
        }
        items.push(OrderItem {
            sku: sku.to_owned(),
            quantity,
        });
        Some(())
    })?;
    (!items.is_empty()).then_some(items)
}

/// Decodes an `OrderCreated` field by field, reporting every broken rule.
fn decode_order_precisely(
    body: &str,
    attributes: &(impl MessageAttributes + ?Sized),
) -> Result<OrderCreated, RecordError> {
    let fields = capture(body, &ORDER_FIELDS).map_err(|e| body_error(e, EventType::OrderCreated))?;
    let [
        version,
        order_id,
        customer_id,
        items,
        total,
        created_at,
        region,
        correlation,
    ] = fields.values;
    let mut errors = ValidationErrors::default();
    if let Some(i) = fields.given_twice {
        errors.push(ORDER_FIELDS[i][0], Rule::GivenTwice);
    }
    let version = check_version(version, &mut errors)?;

    let order_id =
        string_field("orderId", order_id, &mut errors).filter(|v| check_id("orderId", v, &mut errors));
    let customer_id = string_field("customerId", customer_id, &mut errors)
        .filter(|v| check_id("customerId", v, &mut errors));
    let items = decode_items(items, &mut errors);
    let total_amount = decode_amount(total, &mut errors);
    let created_at = string_field("createdAt", created_at, &mut errors).and_then(|v| {
        let parsed = crate::contracts::rfc3339::parse(&v);
        if parsed.is_none() {
            errors.push("createdAt", Rule::Timestamp);
        }
        parsed
    });
    let shipping_region = resolve_region(region, attributes, &mut errors);
    let correlation_id = resolve_correlation_id(correlation, attributes, &mut errors);

    match (
        order_id,
        customer_id,
        items,
        total_amount,
        created_at,
        shipping_region,
        correlation_id,
    ) {
        (
            Some(order_id),
            Some(customer_id),
            Some(items),
            Some(total_amount),
            Some(created_at),
            Some(region),
            Some(cid),
        ) if errors.is_empty() => Ok(OrderCreated {
            version,
            order_id: order_id.into_owned(),
            customer_id: customer_id.into_owned(),
            items,
            total_amount,
            created_at,
            shipping_region: region.into_owned(),
            correlation_id: cid.into_owned(),
        }),
        _ => Err(RecordError::Invalid {
            event: EventType::OrderCreated.name(),
            errors,
        }),
    }
}

fn resolve_region<'a>(
    raw: Option<&'a RawValue>,
    attributes: &'a (impl MessageAttributes + ?Sized),
    errors: &mut ValidationErrors,
) -> Option<Cow<'a, str>> {
    let (field, value) = match optional_string_field("shippingRegion", raw, errors) {
        Err(()) => return None,
        Ok(Some(v)) => ("shippingRegion", v),
        Ok(None) => match attributes.string_attribute(crate::contracts::attribute::REGION) {
            Some(v) => ("messageAttributes.Region", Cow::Borrowed(v)),
            None => return Some(Cow::Borrowed(DEFAULT_REGION)),
        },
    };
    check_region(field, &value, errors).then_some(value)
}

fn resolve_correlation_id<'a>(
    raw: Option<&'a RawValue>,
    attributes: &'a (impl MessageAttributes + ?Sized),
    errors: &mut ValidationErrors,
) -> Option<Cow<'a, str>> {
    let (field, value) = match optional_string_field("correlationId", raw, errors) {
        Err(()) => return None,
        Ok(Some(v)) if !v.is_empty() => ("correlationId", v),
        Ok(_) => match attributes.string_attribute(crate::contracts::attribute::CORRELATION_ID) {
            Some(v) if !v.is_empty() => ("messageAttributes.CorrelationId", Cow::Borrowed(v)),
            _ => return Some(Cow::Owned(uuid::Uuid::new_v4().to_string())),
        },
    };
    check_correlation_id(field, &value, errors).then_some(value)
}

fn decode_amount(raw: Option<&RawValue>, errors: &mut ValidationErrors) -> Option<Money> {
    const FIELD: &str = "totalAmount";
    let Some(raw) = raw else {
        errors.push(FIELD, Rule::Required);
        return None;
    };
    match Money::parse_json_number(raw.get()) {
        Ok(m) => Some(m),
        Err(e) => {
            errors.push(
                FIELD,
                match e {
                    MoneyError::NotANumber => Rule::Type("a JSON number"),
                    MoneyError::TooManyDecimals => Rule::DecimalPlaces,
                    MoneyError::OutOfRange => Rule::Range {
                        min: 0,
                        max: Money::MAX.cents() / 100,
                    },
                },
            );
            None
        }
    }
}

const MAX_ITEMS: usize = 100;
const MAX_QUANTITY: i64 = 1000;

fn decode_items(raw: Option<&RawValue>, errors: &mut ValidationErrors) -> Option<Vec<OrderItem>> {
    let Some(raw) = raw else {
        errors.push("items", Rule::Required);
        return None;
    };
    let Ok(entries) = serde_json::from_str::<Vec<&RawValue>>(raw.get()) else {
        errors.push("items", Rule::Type("an array"));
        return None;
    };
    if entries.is_empty() || entries.len() > MAX_ITEMS {
        errors.push(
            "items",
            Rule::Count {
                min: 1,
                max: MAX_ITEMS,
            },
        );
        return None;
    }
    let before = errors.0.len();
    let mut items = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let Ok(fields) = capture(entry.get(), &ITEM_FIELDS) else {
            errors.push(format!("items[{i}]"), Rule::Type("an object"));
            continue;
        };
        let [sku, quantity] = fields.values;
        let sku_field = || format!("items[{i}].sku");
        let sku = match sku.map(json_string) {
            None => {
                errors.push(sku_field(), Rule::Required);
                None
            }
            Some(None) => {
                errors.push(sku_field(), Rule::Type("a string"));
                None
            }
            Some(Some(sku)) => check_sku(&sku_field(), &sku, errors).then_some(sku),
        };
        if let Some(sku) = &sku
            && let Some(first) = items.iter().position(|it: &OrderItem| it.sku == *sku)
        {
            errors.push(sku_field(), Rule::DuplicateSku { first });
        }
        let quantity = decode_quantity(i, quantity, errors);
        if let (Some(sku), Some(quantity)) = (sku, quantity) {
            items.push(OrderItem {
                sku: sku.into_owned(),
                quantity,
            });
        } else {
            // Keep indices aligned for duplicate detection.
            items.push(OrderItem {
                sku: String::new(),
                quantity: 0,
            });
        }
    }
    (errors.0.len() == before).then_some(items)
}

fn decode_quantity(i: usize, raw: Option<&RawValue>, errors: &mut ValidationErrors) -> Option<u32> {
    let field = || format!("items[{i}].quantity");
    let Some(raw) = raw else {
        errors.push(field(), Rule::Required);
        return None;
    };
    let text = raw.get();
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        errors.push(field(), Rule::Type("an integer"));
        return None;
    }
    match text.parse::<i64>() {
        Ok(q) if (1..=MAX_QUANTITY).contains(&q) => u32::try_from(q).ok(),
        _ => {
            errors.push(
                field(),
                Rule::Range {
                    min: 1,
                    max: MAX_QUANTITY,
                },
            );
            None
        }
    }
}

// ---------------------------------------------------------------------------
// Downstream events

const VERSION_FIELD: [FieldNames; 1] = [&["version"]];

/// Decodes a downstream event (written by this pipeline): version check first,
/// then serde with the failing field's path, then the identifier rules.
pub fn decode_event<T: DeserializeOwned + Validate>(body: &str) -> Result<T, RecordError> {
    let event = T::EVENT;
    let probe = capture(body, &VERSION_FIELD).map_err(|e| body_error(e, event))?;
    let mut errors = ValidationErrors::default();
    check_version(probe.values[0], &mut errors)?;
    if !errors.is_empty() {
        return Err(RecordError::Invalid {
            event: event.name(),
            errors,
        });
    }
    let mut de = serde_json::Deserializer::from_str(body);
    let value: T = match serde_path_to_error::deserialize(&mut de) {
        Ok(v) => v,
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let message = inner.to_string();
            // serde's message ends with " at line L column C"; the path says where already.
            let message = message
                .rsplit_once(" at line ")
                .map_or(message.as_str(), |(m, _)| m)
                .to_owned();
            errors.push(
                if path == "." { "(body)".to_owned() } else { path },
                Rule::Other(message),
            );
            return Err(RecordError::Invalid {
                event: event.name(),
                errors,
            });
        }
    };
    value.validate(&mut errors);
    if errors.is_empty() {
        Ok(value)
    } else {
        Err(RecordError::Invalid {
            event: event.name(),
            errors,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::HashMap;

    use super::*;

    pub(crate) fn valid_order() -> OrderCreated {
        decode_order_created(VALID, &()).expect("the sample order is valid")
    }

    const VALID: &str = r#"{"version":"1.0","orderId":"ord-1","customerId":"cust-1",
        "items":[{"sku":"SKU-0001","quantity":2},{"sku":"SKU-0002","quantity":1}],
        "totalAmount":19.99,"createdAt":"2026-11-05T10:00:00Z","shippingRegion":"EU",
        "correlationId":"corr-1","giftWrap":true}"#;

    struct Attrs(HashMap<&'static str, &'static str>);
    impl MessageAttributes for Attrs {
        fn string_attribute(&self, name: &str) -> Option<&str> {
            self.0.get(name).copied()
        }
    }

    /// Replaces `"key":value` in the valid body (the first match) with `replacement`.
    fn with(key_value: &str, replacement: &str) -> String {
        assert!(VALID.contains(key_value), "{key_value} not in the sample");
        VALID.replacen(key_value, replacement, 1)
    }

    fn errors_of(body: &str) -> Vec<(String, &'static str)> {
        match decode_order_created(body, &()) {
            Err(RecordError::Invalid { errors, .. }) => {
                errors.iter().map(|e| (e.field.clone(), e.rule.code())).collect()
            }
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    fn single(body: &str) -> (String, &'static str) {
        let errors = errors_of(body);
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors.into_iter().next().unwrap()
    }

    #[test]
    fn a_valid_order_decodes_with_every_field() {
        let order = valid_order();
        assert_eq!(order.order_id, "ord-1");
        assert_eq!(order.customer_id, "cust-1");
        assert_eq!(order.items.len(), 2);
        assert_eq!(order.items[0].quantity, 2);
        assert_eq!(order.total_amount, Money::from_cents(1999));
        assert_eq!(order.shipping_region, "EU");
        assert_eq!(order.correlation_id, "corr-1");
        assert_eq!(order.created_at.year(), 2026);
    }

    #[test]
    fn snake_case_spellings_are_accepted() {
        let body = r#"{"order_id":"ord-2","customer_id":"c_2","items":[{"sku":"A-1","quantity":1}],
            "total_amount":1.1,"created_at":"2026-11-05T10:00:00+02:00","shipping_region":"APAC"}"#;
        let order = decode_order_created(body, &()).unwrap();
        assert_eq!(order.order_id, "ord-2");
        assert_eq!(order.total_amount, Money::from_cents(110));
        assert_eq!(order.shipping_region, "APAC");
    }

    #[test]
    fn both_spellings_at_once_are_rejected() {
        let body = with(r#""orderId":"ord-1""#, r#""orderId":"ord-1","order_id":"ord-1""#);
        assert_eq!(single(&body), ("orderId".into(), "duplicate"));
    }

    #[test]
    fn ids_have_length_and_charset_rules() {
        assert_eq!(
            single(&with(r#""orderId":"ord-1""#, r#""orderId":"""#)),
            ("orderId".into(), "length")
        );
        let long = format!(r#""orderId":"{}""#, "a".repeat(65));
        assert_eq!(
            single(&with(r#""orderId":"ord-1""#, &long)),
            ("orderId".into(), "length")
        );
        let max = format!(r#""orderId":"{}""#, "a".repeat(64));
        assert!(decode_order_created(&with(r#""orderId":"ord-1""#, &max), &()).is_ok());
        assert_eq!(
            single(&with(r#""orderId":"ord-1""#, r#""orderId":"ord 1; DROP TABLE""#)),
            ("orderId".into(), "charset")
        );
        assert_eq!(
            single(&with(r#""customerId":"cust-1""#, r#""customerId":"cüst""#)),
            ("customerId".into(), "charset")
        );
        assert_eq!(
            single(&with(r#""orderId":"ord-1","#, "")),
            ("orderId".into(), "required")
        );
        assert_eq!(
            single(&with(r#""customerId":"cust-1""#, r#""customerId":null"#)),
            ("customerId".into(), "required")
        );
        assert_eq!(
            single(&with(r#""orderId":"ord-1""#, r#""orderId":17"#)),
            ("orderId".into(), "type")
        );
    }

    #[test]
    fn items_rules_name_the_item_and_field() {
        assert_eq!(
            single(&with(r#""quantity":2"#, r#""quantity":0"#)),
            ("items[0].quantity".into(), "range")
        );
        assert_eq!(
            single(&with(r#""quantity":1}"#, r#""quantity":1001}"#)),
            ("items[1].quantity".into(), "range")
        );
        assert!(decode_order_created(&with(r#""quantity":2"#, r#""quantity":1000"#), &()).is_ok());
        assert_eq!(
            single(&with(r#""quantity":2"#, r#""quantity":2.5"#)),
            ("items[0].quantity".into(), "type")
        );
        assert_eq!(
            single(&with(r#""quantity":2"#, r#""quantity":"2""#)),
            ("items[0].quantity".into(), "type")
        );
        assert_eq!(
            single(&with(r#""quantity":2"#, r#""quantity":-3"#)),
            ("items[0].quantity".into(), "range")
        );
        assert_eq!(
            single(&with(r#""sku":"SKU-0002""#, r#""sku":"sku-2""#)),
            ("items[1].sku".into(), "charset")
        );
        let long_sku = format!(r#""sku":"{}""#, "A".repeat(33));
        assert_eq!(
            single(&with(r#""sku":"SKU-0002""#, &long_sku)),
            ("items[1].sku".into(), "length")
        );
        assert_eq!(
            single(&with(r#""sku":"SKU-0002","#, "")),
            ("items[1].sku".into(), "required")
        );
        assert_eq!(
            single(&with(r#""sku":"SKU-0002""#, r#""sku":"SKU-0001""#)),
            ("items[1].sku".into(), "unique")
        );
        assert_eq!(
            single(&with(r#"{"sku":"SKU-0002","quantity":1}"#, "7")),
            ("items[1]".into(), "type")
        );
    }

    #[test]
    fn items_must_be_a_non_empty_array_of_at_most_100() {
        let items = r#""items":[{"sku":"SKU-0001","quantity":2},{"sku":"SKU-0002","quantity":1}]"#;
        assert_eq!(single(&with(items, r#""items":[]"#)), ("items".into(), "count"));
        assert_eq!(
            single(&with(items, r#""items":"SKU-0001""#)),
            ("items".into(), "type")
        );
        assert_eq!(
            single(&with(items, r#""lines":[]"#)),
            ("items".into(), "required")
        );
        let many: Vec<String> = (0..101)
            .map(|i| format!(r#"{{"sku":"S-{i}","quantity":1}}"#))
            .collect();
        let body = with(items, &format!(r#""items":[{}]"#, many.join(",")));
        assert_eq!(single(&body), ("items".into(), "count"));
        let hundred = format!(r#""items":[{}]"#, many[..100].join(","));
        assert!(decode_order_created(&with(items, &hundred), &()).is_ok());
    }

    #[test]
    fn total_amount_is_exact_money() {
        let t = r#""totalAmount":19.99"#;
        assert!(decode_order_created(&with(t, r#""totalAmount":1.1"#), &()).is_ok());
        assert!(decode_order_created(&with(t, r#""totalAmount":0"#), &()).is_ok());
        assert!(decode_order_created(&with(t, r#""totalAmount":1000000"#), &()).is_ok());
        assert_eq!(
            single(&with(t, r#""totalAmount":0.30000000000000004"#)),
            ("totalAmount".into(), "decimals")
        );
        assert_eq!(
            single(&with(t, r#""totalAmount":10.125"#)),
            ("totalAmount".into(), "decimals")
        );
        assert_eq!(
            single(&with(t, r#""totalAmount":-1.5"#)),
            ("totalAmount".into(), "range")
        );
        assert_eq!(
            single(&with(t, r#""totalAmount":1000000.01"#)),
            ("totalAmount".into(), "range")
        );
        assert_eq!(
            single(&with(t, r#""totalAmount":"19.99""#)),
            ("totalAmount".into(), "type")
        );
        assert_eq!(
            single(&with(t, r#""totalAmount":null"#)),
            ("totalAmount".into(), "required")
        );
    }

    #[test]
    fn created_at_is_rfc3339() {
        let c = r#""createdAt":"2026-11-05T10:00:00Z""#;
        assert_eq!(
            single(&with(c, r#""createdAt":"yesterday""#)),
            ("createdAt".into(), "timestamp")
        );
        assert_eq!(
            single(&with(c, r#""createdAt":"2026-11-05""#)),
            ("createdAt".into(), "timestamp")
        );
        assert_eq!(
            single(&with(c, r#""createdAt":1764230400"#)),
            ("createdAt".into(), "type")
        );
        assert!(
            decode_order_created(&with(c, r#""createdAt":"2026-11-05T10:00:00.123-05:00""#), &()).is_ok()
        );
    }

    #[test]
    fn shipping_region_comes_from_body_then_attribute_then_default() {
        let r = r#""shippingRegion":"EU","#;
        let no_region = with(r, "");
        assert_eq!(
            decode_order_created(&no_region, &()).unwrap().shipping_region,
            "US"
        );
        let attrs = Attrs(HashMap::from([("Region", "LATAM")]));
        assert_eq!(
            decode_order_created(&no_region, &attrs).unwrap().shipping_region,
            "LATAM"
        );
        assert_eq!(decode_order_created(VALID, &attrs).unwrap().shipping_region, "EU");
        let bad_attr = Attrs(HashMap::from([("Region", "x")]));
        match decode_order_created(&no_region, &bad_attr) {
            Err(RecordError::Invalid { errors, .. }) => {
                assert_eq!(errors.0[0].field, "messageAttributes.Region");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            single(&with(r, r#""shippingRegion":"E","#)),
            ("shippingRegion".into(), "length")
        );
        assert_eq!(
            single(&with(r, r#""shippingRegion":"eu","#)),
            ("shippingRegion".into(), "charset")
        );
        let long = format!(r#""shippingRegion":"{}","#, "A".repeat(17));
        assert_eq!(single(&with(r, &long)), ("shippingRegion".into(), "length"));
    }

    #[test]
    fn correlation_id_comes_from_body_then_attribute_then_a_new_uuid() {
        let c = r#""correlationId":"corr-1","#;
        let none = with(c, "");
        let attrs = Attrs(HashMap::from([("CorrelationId", "from-attr")]));
        assert_eq!(
            decode_order_created(&none, &attrs).unwrap().correlation_id,
            "from-attr"
        );
        assert_eq!(
            decode_order_created(VALID, &attrs).unwrap().correlation_id,
            "corr-1"
        );
        let generated = decode_order_created(&none, &()).unwrap().correlation_id;
        assert!(uuid::Uuid::parse_str(&generated).is_ok(), "{generated}");
        let long = format!(r#""correlationId":"{}","#, "c".repeat(129));
        assert_eq!(single(&with(c, &long)), ("correlationId".into(), "length"));
    }

    #[test]
    fn version_major_must_be_one() {
        let v = r#""version":"1.0""#;
        assert!(decode_order_created(&with(v, r#""version":"1.7""#), &()).is_ok());
        assert!(decode_order_created(&with(r#""version":"1.0","#, ""), &()).is_ok());
        assert!(matches!(
            decode_order_created(&with(v, r#""version":"2.0""#), &()),
            Err(RecordError::UnsupportedVersion { version }) if version == "2.0"
        ));
        assert_eq!(
            single(&with(v, r#""version":"one""#)),
            ("version".into(), "version")
        );
        assert_eq!(single(&with(v, r#""version":1"#)), ("version".into(), "type"));
    }

    #[test]
    fn every_broken_rule_is_reported_at_once() {
        let body = r#"{"orderId":"","customerId":"c","items":[{"sku":"A","quantity":0}],"totalAmount":1.001,"createdAt":"x"}"#;
        let fields: Vec<String> = errors_of(body).into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            ["orderId", "items[0].quantity", "totalAmount", "createdAt"]
        );
        let message = decode_order_created(body, &()).unwrap_err().to_string();
        assert!(
            message.contains("items[0].quantity: must be from 1 to 1000"),
            "{message}"
        );
    }

    #[test]
    fn non_json_and_non_object_bodies() {
        assert!(matches!(
            decode_order_created(r#"{"orderId": "ord-1", "items": ["#, &()),
            Err(RecordError::InvalidJson(_))
        ));
        assert!(matches!(
            decode_order_created("not json", &()),
            Err(RecordError::InvalidJson(_))
        ));
        assert!(matches!(
            decode_order_created(&format!("{VALID} trailing"), &()),
            Err(RecordError::InvalidJson(_))
        ));
        assert_eq!(single("[1,2]"), ("(body)".into(), "type"));
        assert_eq!(single("\"order\""), ("(body)".into(), "type"));
    }

    #[test]
    fn the_fast_path_accepts_what_the_precise_path_accepts_and_decodes_it_alike() {
        let bodies = [
            VALID.to_owned(),
            with(r#""quantity":2"#, r#""quantity":2.0"#),
            with(r#""quantity":2"#, r#""quantity":1001"#),
            with(r#""orderId":"ord-1""#, r#""orderId":null"#),
            with(r#""version":"1.0""#, r#""version":"01.2""#),
            with(r#""version":"1.0""#, r#""version":"2.0""#),
            with(r#""shippingRegion":"EU","#, r#""shippingRegion":null,"#),
            with(r#""orderId":"ord-1""#, r#""orderId":"ord-1","order_id":"ord-1""#),
            with(r#""sku":"SKU-0002""#, r#""sku":"SKU-0001""#),
            with(r#""totalAmount":19.99"#, r#""totalAmount":1e2"#),
            with(r#""correlationId":"corr-1","#, r#""correlationId":"","#),
            with(r#""customerId":"cust-1""#, r#""customerId":"cust\u002d1""#),
            with(r#""quantity":2"#, r#""quantity":"2""#),
            with(r#""quantity":2"#, r#""quantity":02"#),
            with(r#""quantity":2"#, r#""quantity":-2"#),
            with(r#""quantity":2"#, r#""quantity":2,"quantity":3"#),
            with(
                r#""sku":"SKU-0001""#,
                r#""sku":"SKU-0001","note":{"a":[1,{"b":null}]}"#,
            ),
            with(r#""giftWrap":true"#, r#""giftWrap":tru"#),
            with(r#""totalAmount":19.99"#, r#""totalAmount":"19.99""#),
            with(r#""totalAmount":19.99"#, r#""totalAmount":19.999"#),
            with(r#""items":["#, r#""items": [ "#),
            with(r#""shippingRegion":"EU","#, r#""shippingRegion":"","#),
            with(
                r#""createdAt":"2026-11-05T10:00:00Z""#,
                r#""createdAt":"2026-11-05 10:00""#,
            ),
            format!("{VALID} x"),
            format!(" \n{VALID}\t"),
            VALID.replace(':', " : ").replace(',', " ,\n"),
        ];
        // Valid bodies the fast path leaves to the precise one (escapes, a repeated item key).
        let precise_only = [&bodies[11], &bodies[15]];
        for body in &bodies {
            let fast = decode_valid_order(body, &());
            let precise = decode_order_precisely(body, &());
            let expected = precise.is_ok() && !precise_only.contains(&body);
            assert_eq!(fast.is_some(), expected, "{body}");
            if let (Some(fast), Ok(precise)) = (fast, precise) {
                assert_eq!(fast.order_id, precise.order_id);
                assert_eq!(fast.items, precise.items);
                assert_eq!(fast.total_amount, precise.total_amount);
                assert_eq!(fast.shipping_region, precise.shipping_region);
                assert_eq!(fast.version, precise.version);
                assert_eq!(fast.customer_id, precise.customer_id);
                assert_eq!(fast.created_at, precise.created_at);
                if !body.contains(r#""correlationId":"""#) {
                    assert_eq!(fast.correlation_id, precise.correlation_id); // else a new UUID each
                }
            }
        }
    }

    #[test]
    fn escaped_strings_are_decoded() {
        let body = with(r#""customerId":"cust-1""#, r#""customerId":"cust\u002d1""#);
        assert_eq!(decode_order_created(&body, &()).unwrap().customer_id, "cust-1");
    }

    #[test]
    fn downstream_events_report_the_failing_path() {
        use crate::contracts::InventoryReserved;
        let body = r#"{"version":"1.0","orderId":"o","customerId":"c","correlationId":"x",
            "items":[{"sku":"A","quantity":"many"}],"totalAmount":1,"shippingRegion":"US",
            "orderCreatedAt":"2026-11-05T10:00:00Z","reservedAt":"2026-11-05T10:00:00Z"}"#;
        match decode_event::<InventoryReserved>(body) {
            Err(RecordError::Invalid { errors, .. }) => assert_eq!(errors.0[0].field, "items[0].quantity"),
            other => panic!("{other:?}"),
        }
        let bad_id = body
            .replace(r#""quantity":"many""#, r#""quantity":1"#)
            .replace(r#""orderId":"o""#, r#""orderId":"o o""#);
        match decode_event::<InventoryReserved>(&bad_id) {
            Err(RecordError::Invalid { errors, .. }) => assert_eq!(errors.0[0].field, "orderId"),
            other => panic!("{other:?}"),
        }
        let v2 = body.replace(r#""version":"1.0""#, r#""version":"2.1""#);
        assert!(matches!(
            decode_event::<InventoryReserved>(&v2),
            Err(RecordError::UnsupportedVersion { .. })
        ));
    }
}
