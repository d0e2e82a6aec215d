//! Replays every `events/<function>-*.json` through its function's handler
//! (as `orderflow invoke` runs it: SQS events for the consumers, API Gateway
//! HTTP API requests for `order-api`, stream events for `order-relay`) and
//! checks the response against `events/<name>.expected.json`. Adding a pair
//! of files adds a case.
//!
//! Files named `<case>.<n>-<step>.json` are one case in steps: they run in
//! name order on one function instance, sharing its state (a POST, then its
//! retry, then a GET). In an expected response, the string `"<timestamp>"`
//! inside a JSON body stands for any RFC 3339 time (when the order was
//! accepted is the time of the run).

use std::path::{Path, PathBuf};

use orderflow::invoke::{Function, Instance, lambda_response, read_event};
use serde_json::Value;

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../events")
}

fn sample_events() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(events_dir())
        .expect("events/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            name.ends_with(".json") && !name.ends_with(".expected.json")
        })
        .collect();
    files.sort();
    files
}

fn expected_path(event: &Path) -> PathBuf {
    event.with_extension("expected.json")
}

#[tokio::test]
async fn every_sample_event_replays_to_its_expected_response() {
    let events: Vec<PathBuf> = sample_events()
        .into_iter()
        .filter(|p| Function::for_event_file(p).is_some())
        .collect();
    assert!(
        events.len() >= 12,
        "at least 12 sample SQS events, found {}",
        events.len()
    );
    let mut mismatches = Vec::new();
    // The instance of the case in steps being replayed: (case, instance).
    let mut current: Option<(String, Instance)> = None;
    for path in &events {
        let function = Function::for_event_file(path).expect("filtered above");
        let event = read_event(function, path).unwrap_or_else(|e| panic!("{e}"));
        let case = case_of(path);
        if current.as_ref().is_none_or(|(name, _)| *name != case) {
            current = Some((case.clone(), Instance::new(function)));
        }
        let (_, instance) = current.as_ref().expect("set above");
        let outcome = instance.invoke(&event).await.unwrap_or_else(|e| panic!("{e}"));
        let actual = lambda_response(&outcome);
        let expected_file = expected_path(path);
        let expected: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&expected_file)
                .unwrap_or_else(|e| panic!("{} has no expected response: {e}", path.display())),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", expected_file.display()));
        if !matches(&expected, &actual) {
            mismatches.push(format!(
                "{}\n  expected {expected}\n  actual   {actual}",
                path.display()
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "responses differ:\n{}",
        mismatches.join("\n")
    );
}

/// The case a file belongs to: its name up to the first `.` (`order-api-conflict`
/// for `order-api-conflict.2-retry.json`).
fn case_of(path: &Path) -> String {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    name.split('.').next().unwrap_or_default().to_owned()
}

/// Whether `actual` is `expected`, where `"<timestamp>"` matches any RFC 3339
/// time and a string holding a JSON object (an HTTP body) is compared as JSON.
fn matches(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::String(e), Value::String(a)) if e == "<timestamp>" => {
            orderflow_batch::rfc3339::parse(a).is_some()
        }
        (Value::String(e), Value::String(a)) if e.starts_with('{') => {
            match (serde_json::from_str::<Value>(e), serde_json::from_str::<Value>(a)) {
                (Ok(e), Ok(a)) => matches(&e, &a),
                _ => e == a,
            }
        }
        (Value::Object(e), Value::Object(a)) => {
            e.len() == a.len() && e.iter().all(|(k, v)| a.get(k).is_some_and(|a| matches(v, a)))
        }
        (Value::Array(e), Value::Array(a)) => {
            e.len() == a.len() && e.iter().zip(a).all(|(e, a)| matches(e, a))
        }
        _ => expected == actual,
    }
}

#[test]
fn a_timestamp_placeholder_matches_only_a_time_and_bodies_compare_as_json() {
    let body = |at: &str| Value::String(format!(r#"{{"status":"ACCEPTED","at":"{at}"}}"#));
    let expected = serde_json::json!({"statusCode": 200, "body": body("<timestamp>")});
    let at = |t: &str| serde_json::json!({"statusCode": 200, "body": body(t)});
    assert!(matches(&expected, &at("2026-12-07T01:46:22.730220559Z")));
    assert!(!matches(&expected, &at("yesterday")));
    assert!(!matches(
        &expected,
        &serde_json::json!({"statusCode": 201, "body": body("2026-12-07T01:46:22Z")})
    ));
    assert!(!matches(
        &serde_json::json!({"a": 1}),
        &serde_json::json!({"a": 1, "b": 2})
    ));
}

#[test]
fn every_event_file_belongs_to_a_function_and_has_an_expected_response() {
    for path in sample_events() {
        assert!(
            Function::for_event_file(&path).is_some(),
            "{} does not start with a function's name",
            path.display()
        );
        assert!(
            expected_path(&path).exists(),
            "{} has no .expected.json",
            path.display()
        );
    }
    for entry in std::fs::read_dir(events_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".expected.json") {
            assert!(
                events_dir().join(format!("{stem}.json")).exists(),
                "{name} has no event"
            );
        }
    }
}
