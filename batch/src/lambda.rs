//! Running a [`RecordStep`] as a Lambda function on `lambda_runtime`.
//!
//! Invocations are decoded into the lean [`SqsBatch`] (or, for a DynamoDB
//! stream, [`StreamBatch`]), which holds only what the processor reads, and
//! each runs in its [`invocation_span`], so every line it logs carries its
//! request ID, cold start and trace ID; after it, the telemetry's
//! invocation-end hook runs (an exporter's flush).

use std::sync::Arc;

use aws_lambda_events::sqs::SqsBatchResponse;
use lambda_runtime::{LambdaEvent, service_fn};
use tracing::Instrument;

use crate::processor::{BatchError, BatchProcessor, InvocationContext, RecordStep};
use crate::sqs::SqsBatch;
use crate::stream_source::{StreamBatch, StreamRecord};
use crate::telemetry::{invocation_ended, invocation_span};

/// Serves SQS invocations until the runtime stops: each event goes through
/// `processor` with `step`, and its `batchItemFailures` response goes back.
pub async fn serve<S>(processor: BatchProcessor, step: S) -> Result<(), lambda_runtime::Error>
where
    S: RecordStep + 'static,
{
    let processor = Arc::new(processor);
    let step = Arc::new(step);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsBatch>| {
        let processor = Arc::clone(&processor);
        let step = Arc::clone(&step);
        async move { handle(&processor, &*step, event).await }
    }))
    .await
}

async fn handle<S: RecordStep>(
    processor: &BatchProcessor,
    step: &S,
    event: LambdaEvent<SqsBatch>,
) -> Result<SqsBatchResponse, BatchError> {
    let context = InvocationContext::from_lambda(&event.context);
    let span = invocation_span(&event.context.request_id, event.context.xray_trace_id.as_deref());
    let response = processor
        .handle(&event.payload, &context, step)
        .instrument(span)
        .await;
    invocation_ended().await;
    response
}

/// Serves DynamoDB Streams invocations until the runtime stops: each event
/// goes through `processor` with `step`, and its `batchItemFailures`
/// response (by sequence number) goes back.
pub async fn serve_stream<S>(processor: BatchProcessor, step: S) -> Result<(), lambda_runtime::Error>
where
    S: RecordStep<dyn StreamRecord> + 'static,
{
    let processor = Arc::new(processor);
    let step = Arc::new(step);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<StreamBatch>| {
        let processor = Arc::clone(&processor);
        let step = Arc::clone(&step);
        async move {
            let context = InvocationContext::from_lambda(&event.context);
            let span = invocation_span(&event.context.request_id, event.context.xray_trace_id.as_deref());
            let response = processor
                .handle_stream(&event.payload, &context, &*step)
                .instrument(span)
                .await;
            invocation_ended().await;
            response
        }
    }))
    .await
}
