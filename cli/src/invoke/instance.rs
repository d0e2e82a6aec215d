//! One function instance with embedded adapters, and what an invocation of
//! it returned.

use std::sync::Arc;
use std::time::Duration;

use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_http::request::LambdaRequest;
use lambda_http::{Context, LambdaEvent};
use orderflow_batch::metrics::NoMetrics;
use orderflow_batch::no_idempotency::NoIdempotency;
use orderflow_batch::ports::IdempotencyStore;
use orderflow_batch::processor::{BatchConfig, BatchError, BatchProcessor, BatchReport, InvocationContext};
use orderflow_embedded::address::embedded_queue_url;
use orderflow_embedded::{
    InMemoryIdempotencyStore, InMemoryInventory, InMemoryNotifier, InMemoryOrderStore, InMemoryQueues,
};
use orderflow_orders::pipeline::{INVENTORY, NOTIFICATIONS, ORDERS};
use serde::Serialize;
use tracing::Instrument;

use super::{Event, Function, Trigger};

/// The stock every SKU has in `invoke`'s embedded inventory.
pub use orderflow_aws::step_ports::EMBEDDED_DEFAULT_STOCK;

/// An event handed to a function whose trigger does not send that kind.
#[derive(Debug, thiserror::Error)]
#[error("{function} takes {expected}")]
pub struct WrongEvent {
    /// The function.
    pub function: Function,
    /// What it takes.
    pub expected: &'static str,
}

/// What one invocation returned.
#[derive(Debug)]
pub enum Outcome {
    /// A batch consumer's batch (SQS or stream).
    Batch {
        /// Records in the event.
        records: usize,
        /// The report, its response the JSON Lambda gets, or the error that
        /// fails the invocation (boxed: a report is much larger than an HTTP answer).
        result: Result<Box<BatchReport<serde_json::Value>>, BatchError>,
    },
    /// `order-api`'s HTTP response.
    HttpApi {
        /// The response JSON Lambda returns to API Gateway.
        response: serde_json::Value,
        /// Its status code.
        status: u16,
        /// Orders in the instance's store after the request.
        orders_kept: usize,
    },
}

impl Outcome {
    /// Whether the invocation succeeded (an HTTP response is one, whatever its status).
    pub fn succeeded(&self) -> bool {
        match self {
            Outcome::Batch { result, .. } => result.is_ok(),
            Outcome::HttpApi { .. } => true,
        }
    }
}

/// A function's business step, built once for the instance.
enum Handler {
    Inventory(inventory::InventoryStep),
    Shipping(shipping::ShippingStep),
    Notification(notification::NotificationStep),
    OrderRelay(order_relay::RelayStep),
    OrderApi(order_api::Config),
}

/// One warm instance of a function: its step and its embedded adapters,
/// kept from one invocation to the next.
pub struct Instance {
    function: Function,
    processor: BatchProcessor,
    handler: Handler,
    orders: Arc<InMemoryOrderStore>,
}

impl Instance {
    /// A fresh instance of `function`: empty queues, stores and records,
    /// [`EMBEDDED_DEFAULT_STOCK`] of every SKU.
    pub fn new(function: Function) -> Self {
        let url = |name: &str| -> Arc<str> { embedded_queue_url(name).into() };
        let orders = Arc::new(InMemoryOrderStore::new());
        let handler = match function {
            Function::Inventory => Handler::Inventory(inventory::InventoryStep::new(
                Arc::new(
                    InMemoryInventory::new(EMBEDDED_DEFAULT_STOCK).with_orders(Arc::clone(&orders) as _),
                ),
                Arc::clone(&orders) as _,
                inventory::Routes {
                    reserved: url(INVENTORY),
                    rejected: url(NOTIFICATIONS),
                },
            )),
            Function::Shipping => Handler::Shipping(shipping::ShippingStep::new(
                url(NOTIFICATIONS),
                Arc::clone(&orders) as _,
            )),
            Function::Notification => Handler::Notification(notification::NotificationStep::new(
                Arc::new(InMemoryNotifier::new()),
                Arc::clone(&orders) as _,
            )),
            Function::OrderRelay => Handler::OrderRelay(order_relay::RelayStep::new(url(ORDERS))),
            Function::OrderApi => Handler::OrderApi(order_api::Config::new(Arc::clone(&orders) as _)),
        };
        // The relay keeps no idempotency records, as deployed.
        let idempotency: Arc<dyn IdempotencyStore> = match function {
            Function::OrderRelay => Arc::new(NoIdempotency),
            _ => Arc::new(InMemoryIdempotencyStore::new()),
        };
        let config = BatchConfig {
            service: function.name().to_owned(),
            ..BatchConfig::default()
        };
        let processor = BatchProcessor::new(
            config,
            Arc::new(InMemoryQueues::new()),
            idempotency,
            Arc::new(NoMetrics),
        );
        Instance {
            function,
            processor,
            handler,
            orders,
        }
    }

    /// Runs the function's handler on `event`, in an invocation's span as
    /// Lambda's would be (its lines carry `function_request_id` and `cold_start`).
    pub async fn invoke(&self, event: &Event) -> Result<Outcome, WrongEvent> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let span = orderflow_batch::telemetry::invocation_span(&request_id, None);
        self.invoke_in(event, &request_id).instrument(span).await
    }

    async fn invoke_in(&self, event: &Event, request_id: &str) -> Result<Outcome, WrongEvent> {
        // Lambda's longest timeout: nothing in a local run is cut off by the deadline.
        let context = InvocationContext::with_timeout(request_id, Duration::from_secs(900));
        let processor = &self.processor;
        let (records, result) = match (&self.handler, event) {
            (Handler::OrderApi(config), Event::HttpApi(request)) => {
                return Ok(self.invoke_order_api(config, request).await);
            }
            (Handler::Inventory(step), Event::Sqs(event)) => (
                event.records.len(),
                as_json(processor.process(event, &context, step).await),
            ),
            (Handler::Shipping(step), Event::Sqs(event)) => (
                event.records.len(),
                as_json(processor.process(event, &context, step).await),
            ),
            (Handler::Notification(step), Event::Sqs(event)) => (
                event.records.len(),
                as_json(processor.process(event, &context, step).await),
            ),
            (Handler::OrderRelay(step), Event::Stream(event)) => (
                event.records.len(),
                as_json(processor.process_stream(event, &context, step).await),
            ),
            _ => {
                return Err(WrongEvent {
                    function: self.function,
                    expected: match self.function.trigger() {
                        Trigger::Sqs => "an SQS event",
                        Trigger::HttpApi => "an API Gateway HTTP API request",
                        Trigger::Stream => "a DynamoDB Streams event",
                    },
                });
            }
        };
        Ok(Outcome::Batch {
            records,
            result: result.map(Box::new),
        })
    }

    /// Runs `order-api` on one request as its Lambda does ([`order_api::respond`]:
    /// checked, then through `lambda_http`'s adapter), so the response is
    /// Lambda's own and a change in `lambda_http` shows in the replay of `events/`.
    async fn invoke_order_api(
        &self,
        config: &order_api::Config,
        request: &ApiGatewayV2httpRequest,
    ) -> Outcome {
        let event = LambdaEvent::new(LambdaRequest::ApiGatewayV2(request.clone()), Context::default());
        let response = order_api::respond(event, config).await;
        let response = serde_json::to_value(response).unwrap_or_else(
            |e| serde_json::json!({ "errorType": "Serialization", "errorMessage": e.to_string() }),
        );
        let status = response["statusCode"]
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .unwrap_or_default();
        Outcome::HttpApi {
            response,
            status,
            orders_kept: self.orders.len(),
        }
    }
}

/// A report with its response as the JSON Lambda gets.
fn as_json<R: Serialize>(
    result: Result<BatchReport<R>, BatchError>,
) -> Result<BatchReport<serde_json::Value>, BatchError> {
    result.map(|report| BatchReport {
        response: serde_json::to_value(&report.response).unwrap_or_else(
            |e| serde_json::json!({ "errorType": "Serialization", "errorMessage": e.to_string() }),
        ),
        outcomes: report.outcomes,
        metrics: report.metrics,
        forwarded: report.forwarded,
    })
}

/// Runs `function`'s handler once on `event` with a fresh instance.
pub async fn invoke(function: Function, event: &Event) -> Result<Outcome, WrongEvent> {
    Instance::new(function).invoke(event).await
}
