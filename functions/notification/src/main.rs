//! The `notification` Lambda function: its step, served by the shared start.

/// mimalloc: small allocations are most of the per-record work.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    orderflow_aws::entry::serve_consumer(notification::STEP, notification::step).await
}
