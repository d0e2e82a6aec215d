//! The `order-relay` Lambda function: its step on the orders table's stream,
//! served by the shared start.

/// mimalloc, like the consumers: decoding images is small allocations.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    orderflow_aws::entry::serve_stream_consumer(order_relay::STEP, order_relay::step).await
}
