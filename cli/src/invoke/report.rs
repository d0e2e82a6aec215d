//! What an invocation returned, as Lambda's JSON and as a line for people.

use orderflow_batch::processor::RecordOutcome;
use orderflow_batch::queue_url::queue_name;

use super::{Function, Outcome};

/// The JSON Lambda gets: the batch response or the error it reports, or the HTTP response.
pub fn lambda_response(outcome: &Outcome) -> serde_json::Value {
    let value = match outcome {
        Outcome::HttpApi { response, .. } => return response.clone(),
        Outcome::Batch {
            result: Ok(report), ..
        } => return report.response.clone(),
        Outcome::Batch {
            result: Err(error), ..
        } => serde_json::to_value(lambda_runtime::Diagnostic {
            error_type: error.error_type().to_owned(),
            error_message: error.to_string(),
        }),
    };
    value.unwrap_or_else(
        |e| serde_json::json!({ "errorType": "Serialization", "errorMessage": e.to_string() }),
    )
}

/// `forwarded 2 to inventory, 1 to notifications`, or `nothing forwarded`.
fn forwarded<'a>(counts: impl IntoIterator<Item = (&'a String, &'a usize)>) -> String {
    let forwarded: Vec<String> = counts
        .into_iter()
        .map(|(queue, n)| format!("{n} to {}", queue_name(queue)))
        .collect();
    if forwarded.is_empty() {
        "nothing forwarded".to_owned()
    } else {
        format!("forwarded {}", forwarded.join(", "))
    }
}

/// One line for people: records, failures, what was forwarded where; or the
/// HTTP status and how many orders the instance keeps.
pub fn summary(function: Function, outcome: &Outcome) -> String {
    match outcome {
        Outcome::HttpApi {
            status, orders_kept, ..
        } => format!(
            "{function}: {status}, {orders_kept} order{} in the store",
            if *orders_kept == 1 { "" } else { "s" }
        ),
        Outcome::Batch {
            records,
            result: Err(error),
        } => format!("{function}: {records} records, invocation failed: {error}"),
        Outcome::Batch {
            records,
            result: Ok(report),
        } => {
            let count = |f: fn(&RecordOutcome) -> bool| report.outcomes.iter().filter(|o| f(o)).count();
            let failed = count(|o| matches!(o, RecordOutcome::Failed { .. }));
            let duplicates = count(|o| matches!(o, RecordOutcome::Duplicate));
            let forwarded = forwarded(&report.forwarded);
            format!(
                "{function}: {records} records, {failed} failed, {duplicates} duplicates skipped, {forwarded}"
            )
        }
    }
}
