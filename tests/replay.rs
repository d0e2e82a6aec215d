//! Replays every `events/<function>-*.json` through its function's handler
//! (as `orderflow invoke` runs it: SQS events for the consumers, API Gateway
//! HTTP API requests for `order-api`) and checks the response against
//! `events/<name>.expected.json`. Adding a pair of files adds a case.

use std::path::{Path, PathBuf};

use orderflow::invoke::{Function, invoke, lambda_response, read_event};

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
    for path in &events {
        let function = Function::for_event_file(path).expect("filtered above");
        let event = read_event(function, path).unwrap_or_else(|e| panic!("{e}"));
        let outcome = invoke(function, &event).await.unwrap_or_else(|e| panic!("{e}"));
        let actual = lambda_response(&outcome);
        let expected_file = expected_path(path);
        let expected: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&expected_file)
                .unwrap_or_else(|e| panic!("{} has no expected response: {e}", path.display())),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", expected_file.display()));
        if actual != expected {
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
