//! `orderflow invoke <function> <event.json>`: one handler run, embedded adapters.
//!
//! No DLQ is configured, so a permanently invalid record shows up as a batch
//! item failure, exactly as it would in a function deployed without one.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::SqsEvent;
use orderflow_shared::batch::{
    BatchConfig, BatchError, BatchProcessor, BatchReport, InvocationContext, RecordOutcome,
};
use orderflow_shared::memory::{
    InMemoryIdempotencyStore, InMemoryInventory, InMemoryNotifier, InMemoryQueues,
};
use orderflow_shared::metrics::NoMetrics;
use orderflow_shared::pipeline::{INVENTORY, NOTIFICATIONS, embedded_queue_url};
use orderflow_shared::queue_url::queue_name;

/// The functions of the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Function {
    /// OrderCreated -> stock reservation.
    Inventory,
    /// InventoryReserved -> shipment.
    Shipping,
    /// ShipmentCreated / OrderRejected -> customer message.
    Notification,
}

impl Function {
    /// Every function.
    pub const ALL: [Function; 3] = [Function::Inventory, Function::Shipping, Function::Notification];

    /// The function's name (and binary name).
    pub fn name(self) -> &'static str {
        match self {
            Function::Inventory => "inventory",
            Function::Shipping => "shipping",
            Function::Notification => "notification",
        }
    }

    /// The function a sample event belongs to, from its file name's prefix (`inventory-...json`).
    pub fn for_event_file(path: &Path) -> Option<Function> {
        let stem = path.file_name()?.to_str()?;
        Function::ALL
            .into_iter()
            .find(|f| stem.starts_with(&format!("{}-", f.name())))
    }
}

impl fmt::Display for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An event file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum EventFileError {
    /// The file cannot be read.
    #[error("cannot read event file {path}: {source}")]
    Unreadable {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not an SQS event.
    #[error("{path} is not an SQS event: {source}")]
    NotAnSqsEvent {
        /// The file.
        path: String,
        /// The parser's message, with line and column.
        source: serde_json::Error,
    },
}

/// Reads an SQS event from a JSON file.
pub fn read_event(path: &Path) -> Result<SqsEvent, EventFileError> {
    let text = std::fs::read(path).map_err(|source| EventFileError::Unreadable {
        path: path.display().to_string(),
        source,
    })?;
    // Valid UTF-8 once for the whole file, instead of string by string while parsing.
    let text = String::from_utf8(text).map_err(|e| EventFileError::NotAnSqsEvent {
        path: path.display().to_string(),
        source: serde::de::Error::custom(format!("not UTF-8 ({e})")),
    })?;
    serde_json::from_str(&text).map_err(|source| EventFileError::NotAnSqsEvent {
        path: path.display().to_string(),
        source,
    })
}

/// The stock every SKU has in `invoke`'s embedded inventory.
pub use inventory::EMBEDDED_DEFAULT_STOCK;

/// Runs `function`'s handler once on `event` with fresh embedded adapters.
pub async fn invoke(function: Function, event: &SqsEvent) -> Result<BatchReport, BatchError> {
    let config = BatchConfig {
        service: function.name().to_owned(),
        ..BatchConfig::default()
    };
    let processor = BatchProcessor::new(
        config,
        Arc::new(InMemoryQueues::new()),
        Arc::new(InMemoryIdempotencyStore::new()),
        Arc::new(NoMetrics),
    );
    // Lambda's longest timeout: nothing in a local run is cut off by the deadline.
    let context = InvocationContext::with_timeout("local-invoke", Duration::from_secs(900));
    let url = |name: &str| -> Arc<str> { embedded_queue_url(name).into() };
    match function {
        Function::Inventory => {
            let step = inventory::InventoryStep::new(
                Arc::new(InMemoryInventory::new(EMBEDDED_DEFAULT_STOCK)),
                inventory::Routes {
                    reserved: url(INVENTORY),
                    rejected: url(NOTIFICATIONS),
                },
            );
            processor.process(event, &context, &step).await
        }
        Function::Shipping => {
            let step = shipping::ShippingStep::new(url(NOTIFICATIONS));
            processor.process(event, &context, &step).await
        }
        Function::Notification => {
            let step = notification::NotificationStep::new(Arc::new(InMemoryNotifier::new()));
            processor.process(event, &context, &step).await
        }
    }
}

/// The JSON Lambda gets: the batch response, or the error it reports.
pub fn lambda_response(result: &Result<BatchReport, BatchError>) -> serde_json::Value {
    let value = match result {
        Ok(report) => serde_json::to_value(&report.response),
        Err(error) => serde_json::to_value(lambda_runtime::Diagnostic {
            error_type: error.error_type().to_owned(),
            error_message: error.to_string(),
        }),
    };
    value.unwrap_or_else(
        |e| serde_json::json!({ "errorType": "Serialization", "errorMessage": e.to_string() }),
    )
}

/// One line for people: records, failures, what was forwarded where.
pub fn summary(function: Function, records: usize, result: &Result<BatchReport, BatchError>) -> String {
    match result {
        Err(error) => format!("{function}: {records} records, invocation failed: {error}"),
        Ok(report) => {
            let count = |f: fn(&RecordOutcome) -> bool| report.outcomes.iter().filter(|o| f(o)).count();
            let failed = count(|o| matches!(o, RecordOutcome::Failed { .. }));
            let duplicates = count(|o| matches!(o, RecordOutcome::Duplicate));
            let forwarded: Vec<String> = report
                .forwarded
                .iter()
                .map(|(queue, n)| format!("{n} to {}", queue_name(queue)))
                .collect();
            let forwarded = if forwarded.is_empty() {
                "nothing forwarded".to_owned()
            } else {
                format!("forwarded {}", forwarded.join(", "))
            };
            format!(
                "{function}: {records} records, {failed} failed, {duplicates} duplicates skipped, {forwarded}"
            )
        }
    }
}
