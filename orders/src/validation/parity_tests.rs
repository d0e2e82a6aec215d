//! The fast and the precise `OrderCreated` decoders reach the same verdict
//! and the same value on every input: generated valid bodies, and mutations
//! of them (every field dropped, nulled, retyped, repeated, at its length
//! limits, with every ASCII byte and escapes injected, bytes changed anywhere).
//!
//! The case budget and the seed are fixed, so CI runs the same cases each
//! time; `PROPTEST_RNG_SEED=<n>` explores another seed. A failure is written
//! to `proptest-regressions/` beside this file, and `cargo test` replays it first.

use proptest::prelude::*;
use proptest::test_runner::RngSeed;

use super::order::{Declined, decode_order_precisely, decode_valid_order};
use super::{MessageAttributes, rules};
use crate::contracts::{OrderCreated, OrderItem};
use crate::money::Money;

/// Cases each property runs in CI.
const CASES: u32 = 4000;
/// The seed CI runs with.
const SEED: u64 = 0x0d3e_5f10_a7c4_2026;

fn config() -> ProptestConfig {
    let default = ProptestConfig::default();
    ProptestConfig {
        cases: CASES,
        rng_seed: match default.rng_seed {
            RngSeed::Random => RngSeed::Fixed(SEED),
            chosen => chosen,
        },
        ..default
    }
}

/// A body as its fields' keys and raw JSON values, in the order written.
#[derive(Clone, Debug)]
struct Body {
    fields: Vec<(String, String)>,
    /// Whitespace around punctuation.
    spaced: bool,
}

impl Body {
    fn text(&self) -> String {
        let (colon, comma) = if self.spaced { (" : ", " ,\n ") } else { (":", ",") };
        let members: Vec<String> = self
            .fields
            .iter()
            .map(|(k, v)| format!("{}{colon}{v}", json(k)))
            .collect();
        format!("{{{}}}", members.join(comma))
    }

    fn position(&self, names: &[&str]) -> Option<usize> {
        self.fields.iter().position(|(k, _)| names.contains(&k.as_str()))
    }
}

/// A JSON string literal of `text`.
fn json(text: &str) -> String {
    serde_json::to_string(text).expect("strings encode")
}

#[derive(Clone, Debug, Default)]
struct Attrs {
    region: Option<String>,
    correlation_id: Option<String>,
}

impl MessageAttributes for Attrs {
    fn string_attribute(&self, name: &str) -> Option<&str> {
        match name {
            "Region" => self.region.as_deref(),
            "CorrelationId" => self.correlation_id.as_deref(),
            _ => None,
        }
    }
}

/// A valid order: the body, the attributes, and the order it must decode to
/// (its correlation ID empty when none is given, so a new UUID is made).
#[derive(Clone, Debug)]
struct Case {
    body: Body,
    attrs: Attrs,
    expected: OrderCreated,
}

fn chars_of(
    set: &'static [u8],
    len: std::ops::RangeInclusive<usize>,
) -> impl Strategy<Value = String> + Clone {
    proptest::collection::vec(proptest::sample::select(set), len)
        .prop_map(|b| String::from_utf8(b).expect("ASCII"))
}

const ID_SET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";
const SKU_SET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-";
const REGION_SET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ-";

fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        chars_of(ID_SET, 1..=12),
        chars_of(ID_SET, 64..=64),
        chars_of(ID_SET, 1..=1)
    ]
}

fn correlation_id() -> impl Strategy<Value = String> {
    let printable: Vec<u8> = (b'!'..=b'~').collect();
    let printable: &'static [u8] = Box::leak(printable.into_boxed_slice());
    prop_oneof![
        chars_of(ID_SET, 1..=40),
        chars_of(printable, 1..=128),
        chars_of(printable, 128..=128)
    ]
}

/// An amount in cents and a JSON spelling of it.
fn amount() -> impl Strategy<Value = (i64, String)> {
    (0i64..=Money::MAX.cents(), 0u8..6).prop_map(|(cents, form)| {
        let (whole, frac) = (cents / 100, cents % 100);
        let text = match form {
            0 if frac == 0 => whole.to_string(),
            1 => format!("{whole}.{frac:02}"),
            2 => format!("{whole}.{frac:02}000"),
            3 => format!("{cents}e-2"),
            4 => format!("{}E-3", cents * 10),
            _ if frac % 10 == 0 => format!("{whole}.{}", frac / 10),
            _ => format!("{whole}.{frac:02}"),
        };
        (cents, text)
    })
}

/// A timestamp in one of the contract's forms, and its instant.
fn timestamp() -> impl Strategy<Value = (String, time::OffsetDateTime)> {
    (
        0i32..=9999,
        1u8..=12,
        1u8..=31,
        (0u8..24, 0u8..60, 0u8..60),
        (0usize..4, 0usize..11, any::<u32>()),
        (0usize..4, -23i8..=23, 0u8..60),
    )
        .prop_filter_map(
            "a real calendar date",
            |(year, month, day, (h, m, s), (sep, digits, fraction), (offset_form, oh, om))| {
                let date =
                    time::Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()?;
                let separator = ["T", "t", " ", "T"][sep];
                // Up to ten digits; past nine they are cut.
                let written = &format!("{fraction:010}")[..digits];
                let fraction_text = if digits == 0 {
                    String::new()
                } else {
                    format!(".{written}")
                };
                let nanos = format!("{written:0<9}")[..9].parse::<u32>().ok()?;
                let (offset_text, offset) = match offset_form {
                    0 => ("Z".to_owned(), time::UtcOffset::UTC),
                    1 => ("z".to_owned(), time::UtcOffset::UTC),
                    2 => (String::new(), time::UtcOffset::UTC),
                    _ => {
                        let sign = if oh < 0 { '-' } else { '+' };
                        let minutes = i32::from(oh.unsigned_abs()) * 60 + i32::from(om);
                        let seconds = if oh < 0 { -minutes * 60 } else { minutes * 60 };
                        (
                            format!("{sign}{:02}:{om:02}", oh.unsigned_abs()),
                            time::UtcOffset::from_whole_seconds(seconds).ok()?,
                        )
                    }
                };
                let text = format!(
                    "{year:04}-{month:02}-{day:02}{separator}{h:02}:{m:02}:{s:02}{fraction_text}{offset_text}"
                );
                let at = time::PrimitiveDateTime::new(date, time::Time::from_hms_nano(h, m, s, nanos).ok()?)
                    .assume_offset(offset);
                Some((text, at))
            },
        )
}

fn items() -> impl Strategy<Value = Vec<OrderItem>> {
    let line = (chars_of(SKU_SET, 1..=32), 1u32..=1000);
    prop_oneof![
        8 => proptest::collection::vec(line.clone(), 1..=5),
        1 => proptest::collection::vec(line, 100..=100),
    ]
    .prop_map(|lines| {
        let mut items: Vec<OrderItem> = Vec::new();
        for (sku, quantity) in lines {
            if !items.iter().any(|i| i.sku == sku) {
                items.push(OrderItem { sku, quantity });
            }
        }
        items
    })
}

fn items_json(items: &[OrderItem]) -> String {
    let lines: Vec<String> = items
        .iter()
        .map(|i| format!(r#"{{"sku":{},"quantity":{}}}"#, json(&i.sku), i.quantity))
        .collect();
    format!("[{}]", lines.join(","))
}

/// A valid order, written with either spelling of each field, in any order,
/// with unknown fields among them.
fn valid_case() -> impl Strategy<Value = Case> {
    (
        (id(), id(), items(), amount(), timestamp()),
        (
            proptest::option::of(chars_of(REGION_SET, 2..=16)),
            proptest::option::of(chars_of(REGION_SET, 2..=16)),
            proptest::option::of(correlation_id()),
            proptest::option::of(correlation_id()),
            proptest::option::of(prop_oneof![Just("1"), Just("1.0"), Just("1.9.2"), Just("1.10")]),
        ),
        (
            any::<u8>(),
            any::<bool>(),
            proptest::collection::vec(any::<u32>(), 9),
        ),
    )
        .prop_map(
            |(
                (order_id, customer_id, items, (cents, amount_text), (created_text, created_at)),
                (region, region_attr, correlation, correlation_attr, version),
                (spellings, spaced, shuffle),
            )| {
                let name = |i: u8, camel: &'static str, snake: &'static str| {
                    if spellings & (1 << i) == 0 { camel } else { snake }
                };
                let mut fields = vec![
                    (name(0, "orderId", "order_id").to_owned(), json(&order_id)),
                    (
                        name(1, "customerId", "customer_id").to_owned(),
                        json(&customer_id),
                    ),
                    ("items".to_owned(), items_json(&items)),
                    (name(2, "totalAmount", "total_amount").to_owned(), amount_text),
                    (name(3, "createdAt", "created_at").to_owned(), json(&created_text)),
                    (
                        "giftWrap".to_owned(),
                        r#"{"note":[1,{"x":null}],"on":true}"#.to_owned(),
                    ),
                ];
                if let Some(v) = version {
                    fields.push(("version".to_owned(), json(v)));
                }
                if let Some(r) = &region {
                    fields.push((name(4, "shippingRegion", "shipping_region").to_owned(), json(r)));
                }
                if let Some(c) = &correlation {
                    fields.push((name(5, "correlationId", "correlation_id").to_owned(), json(c)));
                }
                // A deterministic shuffle from the generated words.
                for (i, w) in shuffle.iter().enumerate() {
                    let n = fields.len();
                    fields.swap(i % n, *w as usize % n);
                }
                let expected = OrderCreated {
                    version: version.unwrap_or("1.0").to_owned().into(),
                    order_id,
                    customer_id,
                    items,
                    total_amount: Money::from_cents(cents),
                    created_at,
                    shipping_region: region
                        .clone()
                        .or_else(|| region_attr.clone())
                        .unwrap_or_else(|| rules::DEFAULT_REGION.to_owned()),
                    correlation_id: correlation
                        .clone()
                        .or_else(|| correlation_attr.clone())
                        .unwrap_or_default(),
                };
                Case {
                    body: Body { fields, spaced },
                    attrs: Attrs {
                        region: region_attr,
                        correlation_id: correlation_attr,
                    },
                    expected,
                }
            },
        )
}

/// One change to a valid case.
#[derive(Clone, Debug)]
enum Mutation {
    Drop(usize),
    Null(usize),
    Retype(usize, &'static str),
    Repeat(usize, bool),
    /// A string field's text at a length.
    Length(usize, usize, u8),
    /// An ASCII byte (raw, or as a `\u00XX` escape) inside a field's value.
    Inject(usize, usize, u8, bool),
    /// A byte of the whole text replaced, inserted or removed.
    Byte(usize, u8, u8),
    /// A value of one of the rules' edge cases.
    Edge(usize, &'static str),
    /// Attributes that break their rules.
    BadAttribute(bool, String),
}

const RETYPES: &[&str] = &["17", "\"x\"", "true", "[]", "{}", "1.5", "-0", "\"\"", "[\"a\"]"];
const EDGES: &[&str] = &[
    "\"01.0\"",
    "\"001\"",
    "\"1.\"",
    "\"2.0\"",
    "\"1.x\"",
    "\"2026-11-01X10:00:00Z\"",
    "\"2026-11-01_10:00:00Z\"",
    "\"2026-11-01\\t10:00:00Z\"",
    "\"2026-02-29T10:00:00Z\"",
    "\"2016-12-31T23:59:60Z\"",
    "\"2016-12-31T22:59:60Z\"",
    "\"2026-11-01T10:00:00+24:00\"",
    "\"2026-11-01T10:00:00.Z\"",
    "[]",
    "[{\"sku\":\"A\",\"quantity\":0}]",
    "[{\"sku\":\"A\",\"quantity\":1001}]",
    "[{\"sku\":\"A\",\"quantity\":2.0}]",
    "[{\"sku\":\"A\",\"quantity\":\"2\"}]",
    "[{\"sku\":\"A\",\"quantity\":1},{\"sku\":\"A\",\"quantity\":1}]",
    "[{\"sku\":\"a\",\"quantity\":1}]",
    "[{\"quantity\":1}]",
    "[{\"sku\":\"A\"}]",
    "[{\"sku\":\"A\",\"quantity\":1,\"quantity\":2}]",
    "[{\"sku\":\"A\",\"sku\":\"B\",\"quantity\":2}]",
    "[{\"sku\":null,\"quantity\":1}]",
    "[7]",
    "0.001",
    "1000000.01",
    "-0.5",
    "1e7",
    "0.30000000000000004",
    "1E2",
    "\"a\\u0000b\"",
    "\"a\\nb\"",
    "\"a\\\"b\"",
    "\"\\u0041\"",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<usize>();
    prop_oneof![
        at.prop_map(Mutation::Drop),
        at.prop_map(Mutation::Null),
        (at, proptest::sample::select(RETYPES)).prop_map(|(i, v)| Mutation::Retype(i, v)),
        (at, any::<bool>()).prop_map(|(i, other)| Mutation::Repeat(i, other)),
        (
            at,
            prop_oneof![
                Just(0usize),
                Just(1),
                Just(2),
                Just(16),
                Just(17),
                Just(32),
                Just(33),
                Just(64),
                Just(65),
                Just(128),
                Just(129)
            ],
            any::<u8>()
        )
            .prop_map(|(i, len, c)| Mutation::Length(i, len, c)),
        (at, at, 0u8..=127, any::<bool>())
            .prop_map(|(i, pos, b, escaped)| Mutation::Inject(i, pos, b, escaped)),
        (at, 0u8..=127, 0u8..3).prop_map(|(pos, b, how)| Mutation::Byte(pos, b, how)),
        (at, proptest::sample::select(EDGES)).prop_map(|(i, v)| Mutation::Edge(i, v)),
        (
            any::<bool>(),
            prop_oneof![
                Just(String::new()),
                Just("a\nb".to_owned()),
                Just("x".to_owned()),
                Just("a b".to_owned()),
                Just("é".to_owned()),
                Just("c".repeat(129))
            ]
        )
            .prop_map(|(region, v)| Mutation::BadAttribute(region, v)),
    ]
}

/// The other spelling of a field (or the same key when it has one spelling).
fn other_spelling(key: &str) -> String {
    const PAIRS: &[(&str, &str)] = &[
        ("orderId", "order_id"),
        ("customerId", "customer_id"),
        ("totalAmount", "total_amount"),
        ("createdAt", "created_at"),
        ("shippingRegion", "shipping_region"),
        ("correlationId", "correlation_id"),
    ];
    PAIRS
        .iter()
        .find_map(|&(camel, snake)| match key {
            k if k == camel => Some(snake.to_owned()),
            k if k == snake => Some(camel.to_owned()),
            _ => None,
        })
        .unwrap_or_else(|| key.to_owned())
}

/// The case's body text and attributes after the mutations (byte changes last).
fn apply(case: &Case, mutations: &[Mutation]) -> (String, Attrs) {
    let mut body = case.body.clone();
    let mut attrs = case.attrs.clone();
    for mutation in mutations {
        change(&mut body, &mut attrs, mutation);
    }
    let mut text = body.text();
    for mutation in mutations {
        if let Mutation::Byte(pos, b, how) = mutation {
            let at = pos % (text.len() + 1);
            match how {
                0 if at < text.len() => text.replace_range(at..at + 1, &char::from(*b).to_string()),
                1 => text.insert(at, char::from(*b)),
                _ if at < text.len() => {
                    text.remove(at);
                }
                _ => {}
            }
        }
    }
    (text, attrs)
}

fn change(body: &mut Body, attrs: &mut Attrs, mutation: &Mutation) {
    let n = body.fields.len();
    if n == 0 {
        return;
    }
    match mutation {
        Mutation::Drop(i) => {
            body.fields.remove(i % n);
        }
        Mutation::Null(i) => body.fields[i % n].1 = "null".to_owned(),
        Mutation::Retype(i, v) => body.fields[i % n].1 = (*v).to_owned(),
        Mutation::Repeat(i, other) => {
            let (k, v) = body.fields[i % n].clone();
            let k = if *other { other_spelling(&k) } else { k };
            body.fields.push((k, v));
        }
        Mutation::Length(i, len, c) => {
            let set = [ID_SET, SKU_SET, REGION_SET][usize::from(*c) % 3];
            let text: String = (0..*len)
                .map(|j| char::from(set[(j + usize::from(*c)) % set.len()]))
                .collect();
            let target = i % n;
            body.fields[target].1 = json(&text);
            if let Some(items) = body.position(&["items"])
                && c % 4 == 0
            {
                body.fields[items].1 = format!(r#"[{{"sku":{},"quantity":1}}]"#, json(&text));
            }
        }
        Mutation::Inject(i, pos, b, escaped) => {
            let value = &mut body.fields[i % n].1;
            let injected = if *escaped {
                format!("\\u{:04x}", b)
            } else {
                char::from(*b).to_string()
            };
            // Inside the value, never before its first byte (keeps the value's type).
            let at = 1 + pos % value.len().max(1);
            let at = at.min(value.len());
            value.insert_str(at, &injected);
        }
        Mutation::Edge(i, v) => body.fields[i % n].1 = (*v).to_owned(),
        Mutation::BadAttribute(true, v) => attrs.region = Some(v.clone()),
        Mutation::BadAttribute(false, v) => attrs.correlation_id = Some(v.clone()),
        Mutation::Byte(..) => {}
    }
}

/// Both decoders on one input: the same verdict, and the same order when valid.
fn assert_parity(text: &str, attrs: &Attrs) -> Result<Option<OrderCreated>, TestCaseError> {
    let fast = decode_valid_order(text, attrs);
    let precise = decode_order_precisely(text, attrs);
    match (fast, precise) {
        (Ok(mut fast), Ok(mut precise)) => {
            if fast.correlation_id != precise.correlation_id {
                // Both made a new one: neither body nor attributes gave it.
                prop_assert!(uuid::Uuid::parse_str(&fast.correlation_id).is_ok(), "{text}");
                prop_assert!(uuid::Uuid::parse_str(&precise.correlation_id).is_ok(), "{text}");
                fast.correlation_id.clear();
                precise.correlation_id.clear();
            }
            prop_assert_eq!(&fast, &precise, "{}", text);
            Ok(Some(precise))
        }
        (Ok(fast), Err(e)) => Err(TestCaseError::fail(format!(
            "fast path accepted what the precise path refuses ({e}): {text:?} -> {fast:?}"
        ))),
        (Err(Declined::Invalid), Ok(precise)) => Err(TestCaseError::fail(format!(
            "fast path refused what the precise path accepts: {text:?} -> {precise:?}"
        ))),
        (Err(Declined::Invalid), Err(_)) => Ok(None),
        (Err(Declined::Deferred), precise) => {
            prop_assert!(
                text.contains('\\') || text.matches(['[', '{']).count() > crate::json_scan::MAX_DEPTH,
                "deferred without an escape or deep nesting: {text:?}"
            );
            Ok(precise.ok())
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn valid_orders_decode_alike_on_both_paths_to_what_was_written(case in valid_case()) {
        let text = case.body.text();
        let decoded = assert_parity(&text, &case.attrs)?;
        let Some(mut decoded) = decoded else {
            return Err(TestCaseError::fail(format!("a valid order was refused: {text}")));
        };
        if case.expected.correlation_id.is_empty() {
            decoded.correlation_id.clear();
        }
        prop_assert_eq!(decoded, case.expected);
    }

    #[test]
    fn mutated_orders_get_the_same_verdict_and_value_on_both_paths(
        case in valid_case(),
        mutations in proptest::collection::vec(mutation(), 1..=3),
    ) {
        let (text, attrs) = apply(&case, &mutations);
        assert_parity(&text, &attrs)?;
    }
}
