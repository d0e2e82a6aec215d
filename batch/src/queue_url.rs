//! Queue identities: from an event source ARN to the queue URL the SQS API wants.

/// Whether a queue (by ARN, URL or name) is FIFO.
pub fn is_fifo(queue: &str) -> bool {
    queue.ends_with(".fifo")
}

/// The parts of an SQS queue ARN (`arn:aws:sqs:<region>:<account>:<name>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueArn<'a> {
    /// The AWS partition, e.g. `aws`.
    pub partition: &'a str,
    /// The region, e.g. `us-east-1`.
    pub region: &'a str,
    /// The account ID.
    pub account: &'a str,
    /// The queue name.
    pub name: &'a str,
}

impl<'a> QueueArn<'a> {
    /// Parses an SQS ARN; `None` when it is not one.
    pub fn parse(arn: &'a str) -> Option<Self> {
        let mut parts = arn.splitn(6, ':');
        let (Some("arn"), Some(partition), Some("sqs"), Some(region), Some(account), Some(name)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        (!name.is_empty() && !account.is_empty()).then_some(QueueArn {
            partition,
            region,
            account,
            name,
        })
    }

    /// The queue URL: on `endpoint` when given (a local server or a VPC
    /// endpoint), else on the region's public SQS endpoint.
    pub fn url(&self, endpoint: Option<&str>) -> String {
        match endpoint {
            Some(endpoint) => format!(
                "{}/{}/{}",
                endpoint.trim_end_matches('/'),
                self.account,
                self.name
            ),
            None => {
                let domain = if self.partition == "aws-cn" {
                    "amazonaws.com.cn"
                } else {
                    "amazonaws.com"
                };
                format!(
                    "https://sqs.{}.{domain}/{}/{}",
                    self.region, self.account, self.name
                )
            }
        }
    }
}

/// The name of a queue from its URL or ARN (the last path or ARN segment).
pub fn queue_name(url_or_arn: &str) -> &str {
    url_or_arn.rsplit(['/', ':']).next().unwrap_or(url_or_arn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_to_url_on_aws_and_on_a_custom_endpoint() {
        let arn = QueueArn::parse("arn:aws:sqs:eu-west-1:123456789012:orders.fifo").unwrap();
        assert_eq!(
            arn.url(None),
            "https://sqs.eu-west-1.amazonaws.com/123456789012/orders.fifo"
        );
        assert_eq!(
            arn.url(Some("http://127.0.0.1:5000/")),
            "http://127.0.0.1:5000/123456789012/orders.fifo"
        );
        assert!(is_fifo(arn.name));
        assert!(QueueArn::parse("arn:aws:sns:us-east-1:1:topic").is_none());
        assert!(QueueArn::parse("orders").is_none());
    }

    #[test]
    fn names_from_urls_and_arns() {
        assert_eq!(
            queue_name("http://localhost:4566/000000000000/inventory"),
            "inventory"
        );
        assert_eq!(queue_name("arn:aws:sqs:us-east-1:1:orders"), "orders");
        assert_eq!(queue_name("notifications"), "notifications");
    }
}
