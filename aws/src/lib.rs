//! AWS SDK adapters for the orderflow ports, and the wiring that picks them.
//!
//! - [`sqs::SqsQueues`]: sends and visibility changes, in batches.
//! - [`dynamodb::DynamoIdempotencyStore`], [`dynamodb::DynamoInventory`]:
//!   conditional writes and transactions.
//! - [`orders_table::DynamoOrderStore`]: the order of record, one conditional
//!   write per acceptance or transition; [`item_value`]: its items between
//!   the SDK's values and the order layout's.
//! - [`cloudwatch::CloudWatchMetrics`]: one `PutMetricData` per invocation.
//! - [`sns::SnsNotifier`]: customer messages to a topic.
//! - [`wiring`]: choosing AWS or embedded adapters from the environment, once,
//!   at cold start; [`step_ports::EnvPorts`]: a step's ports from them.
//! - [`entry`]: the start every function's `main` calls.
//!
//! Every client honours `AWS_ENDPOINT_URL` (and `AWS_ENDPOINT_URL_<SERVICE>`),
//! so the same code runs against local servers that speak the AWS protocols.
#![forbid(unsafe_code)]

pub mod calls;
pub mod cloudwatch;
pub mod dynamodb;
pub mod entry;
pub mod error;
pub mod item_value;
pub mod orders_table;
pub mod sns;
pub mod sqs;
pub mod step_ports;
pub mod table_stream;
pub mod transition_write;
pub mod wiring;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

/// The SDK configuration from the environment (region, credentials, endpoints),
/// with a rustls HTTPS client. Load it once per process and reuse its clients.
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .load()
        .await
}

/// The HTTP client every SDK client here uses: hyper with rustls on ring
/// (no C toolchain beyond `cc` needed to cross-compile for arm64).
pub fn https_client() -> aws_sdk_sqs::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// The SDK configuration for a local or custom endpoint (`--endpoint-url`):
/// every service on `endpoint_url`; credentials and region from the
/// environment, else dummy ones (local servers accept any).
pub async fn load_sdk_config_for_endpoint(endpoint_url: &str) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .endpoint_url(endpoint_url);
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() && std::env::var_os("AWS_PROFILE").is_none() {
        loader = loader.credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "local",
            "local",
            None,
            None,
            "orderflow-embedded",
        ));
    }
    if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none() {
        loader = loader.region(aws_config::Region::new("us-east-1"));
    }
    loader.load().await
}
