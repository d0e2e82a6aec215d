//! The trace follows an order across the queues: each message a record
//! causes (and its dead-letter copy) carries the record's `AWSTraceHeader`,
//! through the embedded broker and through a real SQS endpoint that returns
//! the attribute on receive (LocalStack; moto 5.2 drops it on receive, so it
//! cannot show propagation).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use orderflow_aws::sqs::SqsQueues;
use orderflow_batch::error::RecordError;
use orderflow_batch::fingerprint::Fingerprint;
use orderflow_batch::metrics::NoMetrics;
use orderflow_batch::ports::{MessageQueue, OutgoingMessage, QueueConsumer};
use orderflow_batch::processor::{
    BatchConfig, BatchProcessor, InvocationContext, Outgoing, RecordContext, RecordStep,
};
use orderflow_batch::sqs::SqsRecord;
use orderflow_embedded::InMemoryIdempotencyStore;
use orderflow_embedded::broker::{Broker, QueueSettings};
use orderflow_tests::{localstack, sdk_config, unique};

const TRACE: &str = "Root=1-6574a1b2-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1";

/// Forwards a body to `next`, or refuses one that says "refuse".
struct Forward {
    next: String,
}

impl RecordStep for Forward {
    type Input = String;

    fn name(&self) -> &'static str {
        "forward"
    }

    fn decode(&self, message: &dyn SqsRecord) -> Result<String, RecordError> {
        let body = orderflow_batch::sqs::body(message)?;
        if body == "refuse" {
            return Err(RecordError::InvalidJson("refused".to_owned()));
        }
        Ok(body.to_owned())
    }

    fn key<'a>(&self, body: &'a String) -> Cow<'a, str> {
        Cow::Borrowed(body)
    }

    fn correlation_id<'a>(&self, _: &'a String) -> &'a str {
        "c"
    }

    fn fingerprint(&self, body: &String) -> Fingerprint {
        Fingerprint::of(|f| {
            f.str(body);
        })
    }

    async fn run(&self, body: String, _: &RecordContext<'_>) -> Result<Vec<Outgoing>, RecordError> {
        Ok(vec![Outgoing {
            queue_url: self.next.clone().into(),
            message: OutgoingMessage::new(format!("{body}, forwarded")),
        }])
    }
}

/// Sends "order-1" (traced) and "refuse" (traced) to `first`, runs the
/// forwarding step on what `first` delivers, and returns what `second` and
/// `dlq` then deliver.
async fn forward_once(
    consumer: Arc<dyn QueueConsumer>,
    queue: Arc<dyn MessageQueue>,
    (first, second, dlq): (&str, &str, &str),
) -> (Vec<SqsMessage>, Vec<SqsMessage>) {
    let traced = |body: &str| {
        let mut m = OutgoingMessage::new(body);
        m.trace_header = Some(TRACE.to_owned());
        m
    };
    assert!(
        queue
            .send_batch(first, vec![traced("order-1"), traced("refuse")])
            .await
            .is_empty()
    );
    let received = consumer
        .receive(first, 10, Duration::from_secs(2), None)
        .await
        .expect("a receive");
    assert_eq!(received.len(), 2);
    for record in &received {
        assert_eq!(
            record.trace_header(),
            Some(TRACE),
            "the endpoint returns the trace header"
        );
    }
    let processor = BatchProcessor::new(
        BatchConfig {
            dead_letter_queue_url: Some(dlq.to_owned()),
            ..BatchConfig::default()
        },
        Arc::clone(&queue),
        Arc::new(InMemoryIdempotencyStore::new()),
        Arc::new(NoMetrics),
    );
    let mut event = SqsEvent::default();
    event.records = received;
    let context = InvocationContext::with_timeout("req", Duration::from_secs(60));
    let step = Forward {
        next: second.to_owned(),
    };
    let report = processor.process(&event, &context, &step).await.expect("a batch");
    assert!(report.response.batch_item_failures.is_empty());
    let read = |url: &str| {
        let consumer = Arc::clone(&consumer);
        let url = url.to_owned();
        async move {
            consumer
                .receive(&url, 10, Duration::from_secs(2), None)
                .await
                .expect("a receive")
        }
    };
    (read(second).await, read(dlq).await)
}

fn assert_the_trace_followed((forwarded, dead): (Vec<SqsMessage>, Vec<SqsMessage>)) {
    assert_eq!(forwarded.len(), 1);
    assert_eq!(forwarded[0].body.as_deref(), Some("order-1, forwarded"));
    assert_eq!(forwarded[0].trace_header(), Some(TRACE));
    assert_eq!(dead.len(), 1);
    assert_eq!(
        dead[0].trace_header(),
        Some(TRACE),
        "the dead letter keeps the trace"
    );
}

#[tokio::test(start_paused = true)]
async fn through_the_embedded_broker() {
    let broker = Broker::new();
    let urls: Vec<String> = ["first", "second", "first-dlq"]
        .into_iter()
        .map(|name| broker.create_queue(QueueSettings::new(name)))
        .collect();
    let result = forward_once(
        Arc::new(broker.clone()),
        Arc::new(broker.clone()),
        (&urls[0], &urls[1], &urls[2]),
    )
    .await;
    assert_the_trace_followed(result);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_localstacks_sqs() {
    let client = aws_sdk_sqs::Client::new(&sdk_config(localstack()).await);
    let mut urls = Vec::new();
    for name in ["first", "second", "first-dlq"] {
        let url = client
            .create_queue()
            .queue_name(unique(&format!("trace-{name}")))
            .send()
            .await
            .expect("a queue")
            .queue_url
            .expect("its URL");
        urls.push(url);
    }
    let sqs = SqsQueues::new(client);
    let result = forward_once(
        Arc::new(sqs.clone()),
        Arc::new(sqs),
        (&urls[0], &urls[1], &urls[2]),
    )
    .await;
    assert_the_trace_followed(result);
}
