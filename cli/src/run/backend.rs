//! Where the run's queues live: the embedded broker, or SQS on an endpoint
//! (moto, LocalStack, AWS), with the template's attributes either way.

use std::sync::Arc;

use orderflow_aws::sqs::SqsQueues;
use orderflow_batch::error::{PortError, PortErrorKind};
use orderflow_batch::ports::{MessageQueue, QueueConsumer};
use orderflow_embedded::broker::{Broker, QueueSettings, Redrive};
use orderflow_orders::pipeline::{INVENTORY, NOTIFICATIONS, ORDERS, dlq_name};

use super::options::RunSpec;
use super::queues::Queues;
use super::settings::{self, MAX_RECEIVE_COUNT};

/// Where the run's queues live.
pub(super) enum Backend {
    /// The embedded broker, on the run's (paused) clock.
    Embedded(Broker),
    /// SQS on an endpoint, in real time.
    Endpoint(SqsQueues),
}

impl Backend {
    /// The embedded broker, or SQS on `spec`'s endpoint.
    pub(super) async fn connect(spec: &RunSpec) -> Self {
        match &spec.endpoint_url {
            None => Backend::Embedded(Broker::new()),
            Some(url) => {
                let config = orderflow_aws::load_sdk_config_for_endpoint(url).await;
                Backend::Endpoint(SqsQueues::new(aws_sdk_sqs::Client::new(&config)))
            }
        }
    }

    /// Whether the queues are the embedded broker's.
    pub(super) fn is_embedded(&self) -> bool {
        matches!(self, Backend::Embedded(_))
    }

    /// What the run's queue and table names start with: nothing on the
    /// embedded broker; on an endpoint, the seed and the time, so that runs
    /// never share queues.
    pub(super) fn name_prefix(&self, seed: u64) -> String {
        match self {
            Backend::Embedded(_) => String::new(),
            Backend::Endpoint(_) => format!(
                "orderflow-run-{}-{}-",
                seed,
                orderflow_batch::clock::unix_millis() % 1_000_000
            ),
        }
    }

    /// The queues, to send to.
    pub(super) fn queue(&self) -> Arc<dyn MessageQueue> {
        match self {
            Backend::Embedded(broker) => Arc::new(broker.clone()),
            Backend::Endpoint(sqs) => Arc::new(sqs.clone()),
        }
    }

    /// The queues, to receive from.
    pub(super) fn consumer(&self) -> Arc<dyn QueueConsumer> {
        match self {
            Backend::Embedded(broker) => Arc::new(broker.clone()),
            Backend::Endpoint(sqs) => Arc::new(sqs.clone()),
        }
    }

    /// Creates the six queues, their names starting with `prefix`.
    pub(super) async fn create_queues(&self, spec: &RunSpec, prefix: &str) -> Result<Queues, PortError> {
        let suffix = if spec.fifo { ".fifo" } else { "" };
        let mut queues = Queues::default();
        for name in [ORDERS, INVENTORY, NOTIFICATIONS] {
            let source_name = format!("{prefix}{name}{suffix}");
            let dlq = dlq_name(&source_name);
            let (url, dlq_url) = match self {
                Backend::Embedded(broker) => create_embedded_queue_pair(broker, source_name, dlq, spec),
                Backend::Endpoint(sqs) => create_sqs_queue_pair(sqs, &source_name, &dlq, spec).await?,
            };
            queues.insert(name, url, dlq_url);
        }
        Ok(queues)
    }

    /// Messages left in a queue (approximate on SQS).
    pub(super) async fn outstanding(&self, url: &str) -> Result<usize, PortError> {
        match self {
            Backend::Embedded(broker) => Ok(broker.depth(url)?.total()),
            Backend::Endpoint(sqs) => sqs_outstanding(sqs, url).await,
        }
    }

    /// FIFO sends the queues dropped as duplicates (known on the embedded broker only).
    pub(super) fn fifo_deduplicated(&self, queues: &Queues) -> u64 {
        let Backend::Embedded(broker) = self else {
            return 0;
        };
        queues
            .urls()
            .filter_map(|url| broker.counters(url).ok())
            .map(|c| c.deduplicated)
            .sum()
    }
}

/// A source queue and its DLQ on the embedded broker: their URLs.
fn create_embedded_queue_pair(
    broker: &Broker,
    source: String,
    dlq: String,
    spec: &RunSpec,
) -> (String, String) {
    let dlq_url = broker.create_queue(QueueSettings {
        retention: settings::DLQ_RETENTION,
        content_based_deduplication: spec.fifo,
        ..QueueSettings::new(dlq)
    });
    let url = broker.create_queue(QueueSettings {
        visibility_timeout: spec.visibility(),
        retention: settings::SOURCE_RETENTION,
        content_based_deduplication: spec.fifo,
        redrive: Some(Redrive {
            dead_letter_queue_url: dlq_url.clone(),
            max_receive_count: MAX_RECEIVE_COUNT,
        }),
        ..QueueSettings::new(source)
    });
    (url, dlq_url)
}

/// A source queue and its DLQ on SQS: their URLs.
async fn create_sqs_queue_pair(
    sqs: &SqsQueues,
    source: &str,
    dlq: &str,
    spec: &RunSpec,
) -> Result<(String, String), PortError> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let fifo_attributes = |attrs: Vec<(A, String)>| -> Vec<(A, String)> {
        let mut attrs = attrs;
        if spec.fifo {
            attrs.push((A::FifoQueue, "true".to_owned()));
            attrs.push((A::ContentBasedDeduplication, "true".to_owned()));
        }
        attrs
    };
    let create = |name: String, attrs: Vec<(A, String)>| async move {
        let mut request = sqs.client().create_queue().queue_name(name);
        for (k, v) in attrs {
            request = request.attributes(k, v);
        }
        request
            .send()
            .await
            .map_err(|e| orderflow_aws::error::classify("CreateQueue", e))?
            .queue_url
            .ok_or_else(|| PortError::new(PortErrorKind::Other, "CreateQueue", "no queue URL"))
    };
    let dlq_url = create(
        dlq.to_owned(),
        fifo_attributes(vec![(
            A::MessageRetentionPeriod,
            settings::DLQ_RETENTION.as_secs().to_string(),
        )]),
    )
    .await?;
    let dlq_arn = sqs.queue_arn(&dlq_url).await?;
    let redrive = format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"{MAX_RECEIVE_COUNT}"}}"#);
    let url = create(
        source.to_owned(),
        fifo_attributes(vec![
            (A::VisibilityTimeout, spec.visibility().as_secs().to_string()),
            (
                A::MessageRetentionPeriod,
                settings::SOURCE_RETENTION.as_secs().to_string(),
            ),
            (A::ReceiveMessageWaitTimeSeconds, "20".to_owned()),
            (A::RedrivePolicy, redrive),
        ]),
    )
    .await?;
    Ok((url, dlq_url))
}

/// Messages in an SQS queue: visible, in flight and delayed (approximate).
async fn sqs_outstanding(sqs: &SqsQueues, url: &str) -> Result<usize, PortError> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let out = sqs
        .client()
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(A::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .map_err(|e| orderflow_aws::error::classify("GetQueueAttributes", e))?;
    Ok(out
        .attributes()
        .map(|a| a.values().filter_map(|v| v.parse::<usize>().ok()).sum())
        .unwrap_or(0))
}
