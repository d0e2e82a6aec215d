//! The `order-api` Lambda function: reads its settings, wires adapters, serves
//! the HTTP API's `POST /orders` on `lambda_http`.

use std::convert::Infallible;
use std::sync::Arc;

use anyhow::Context;
use lambda_http::request::LambdaRequest;
use lambda_http::{LambdaEvent, service_fn};
use order_api::{Config, respond, var};
use orderflow_aws::wiring::Adapters;
use orderflow_batch::config::Env;
use orderflow_orders::pipeline::ORDERS;

/// mimalloc, like the consumers: parsing and answering a request is small allocations.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    orderflow_batch::telemetry::init("info");
    let env = Env::from_process();
    let adapters = Adapters::sender_from_env(&env)
        .await
        .context("order-api cannot start")?;
    let config = Arc::new(Config::new(
        adapters
            .queue_url(&env, var::ORDERS_QUEUE_URL, ORDERS)
            .context("order-api cannot start")?,
    ));
    let queue = adapters.queue;
    // order_api::respond checks what lambda_http would panic on, then converts.
    lambda_http::lambda_runtime::run(service_fn(move |event: LambdaEvent<LambdaRequest>| {
        let queue = Arc::clone(&queue);
        let config = Arc::clone(&config);
        async move { Ok::<_, Infallible>(respond(event, &*queue, &config).await) }
    }))
    .await
    .map_err(|e| anyhow::anyhow!(e))
}
