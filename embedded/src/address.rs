//! Where embedded queues live: the embedded adapters address queues by URL
//! like SQS does, at [`EMBEDDED_ENDPOINT`], so an event source ARN maps to
//! the same URL ([`orderflow_batch::queue_url::QueueArn::url`]) in memory as
//! on a real endpoint.

/// The endpoint of embedded queue URLs.
pub const EMBEDDED_ENDPOINT: &str = "embedded://sqs";
/// The account of embedded queue URLs and ARNs.
pub const EMBEDDED_ACCOUNT: &str = "000000000000";
/// The region of embedded queue ARNs.
pub const EMBEDDED_REGION: &str = "us-east-1";

/// The URL of an embedded queue.
pub fn embedded_queue_url(name: &str) -> String {
    format!("{EMBEDDED_ENDPOINT}/{EMBEDDED_ACCOUNT}/{name}")
}

#[cfg(test)]
mod tests {
    use orderflow_batch::queue_url::QueueArn;

    use super::*;

    /// The ARN of an embedded queue, as an event source mapping names it.
    fn embedded_queue_arn(name: &str) -> String {
        format!("arn:aws:sqs:{EMBEDDED_REGION}:{EMBEDDED_ACCOUNT}:{name}")
    }

    #[test]
    fn embedded_arns_map_to_embedded_urls() {
        let arn = embedded_queue_arn("orders");
        let parsed = QueueArn::parse(&arn).unwrap();
        assert_eq!(parsed.url(Some(EMBEDDED_ENDPOINT)), embedded_queue_url("orders"));
    }
}
