//! The `order-api` Lambda function: the HTTP API's routes on
//! `lambda_http`, started by the shared start.

use std::convert::Infallible;
use std::sync::Arc;

use lambda_http::request::LambdaRequest;
use lambda_http::{LambdaEvent, service_fn};
use tracing::Instrument;

/// mimalloc, like the consumers: parsing and answering a request is small allocations.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let config = Arc::new(orderflow_aws::entry::start("order-api", order_api::config).await?);
    // order_api::respond checks what lambda_http would panic on, then converts.
    lambda_http::lambda_runtime::run(service_fn(move |event: LambdaEvent<LambdaRequest>| {
        let config = Arc::clone(&config);
        let span = orderflow_batch::telemetry::invocation_span(
            &event.context.request_id,
            event.context.xray_trace_id.as_deref(),
        );
        async move {
            let response = order_api::respond(event, &config).instrument(span).await;
            orderflow_batch::telemetry::invocation_ended().await;
            Ok::<_, Infallible>(response)
        }
    }))
    .await
}
